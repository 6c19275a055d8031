"""RouterOS menus the agent uses, in one table, with the properties it reads from each."""

from __future__ import annotations

HOTSPOT_ACTIVE = "/ip/hotspot/active"
HOTSPOT_USER = "/ip/hotspot/user"
HOTSPOT_PROFILE = "/ip/hotspot/user/profile"
# The user profile that carries a plan's speed when the plan names no profile of its own.
RATE_PROFILE = "ispfleet-{rate}"
HOTSPOT_BINDING = "/ip/hotspot/ip-binding"
PPP_ACTIVE = "/ppp/active"
PPP_SECRET = "/ppp/secret"
SYSTEM_RESOURCE = "/system/resource"
SYSTEM_IDENTITY = "/system/identity"
INTERFACE = "/interface"
INTERFACE_MONITOR = "/interface/monitor-traffic"
PING = "/ping"
LOG = "/log"

# Session kind -> the menu it lives in.
SESSION_MENUS = {"hotspot": HOTSPOT_ACTIVE, "ppp": PPP_ACTIVE}

# Only what a wire.Session needs, so a 2,000-session print stays small.
SESSION_PROPLIST = {
    "hotspot": (".id,server,user,address,mac-address,login-by,uptime,idle-time,bytes-in,bytes-out"),
    "ppp": ".id,name,service,caller-id,address,uptime",
}
RESOURCE_PROPLIST = "uptime,version,board-name,cpu-load,free-memory,total-memory,architecture-name"
INTERFACE_PROPLIST = ".id,name,type,running,disabled,dynamic,rx-byte,tx-byte"
USER_PROPLIST = ".id,name,profile,mac-address,disabled"
# What the hub is told of each configured hotspot user (the users listen and print).
USER_MIRROR_PROPLIST = ".id,name,profile,mac-address,disabled,comment,limit-uptime"
BINDING_PROPLIST = ".id,mac-address,address,type,disabled,comment"
SECRET_PROPLIST = ".id,name,service,disabled"

# Comment put on the ip-bindings the agent creates, so they can be told apart.
BINDING_COMMENT = "ispfleet:{username}"

# Trap text of a refused login (RouterOS >= 6.43, and the pre-6.43 wording).
LOGIN_REFUSED_MARKERS = ("invalid user name or password", "cannot log in")
