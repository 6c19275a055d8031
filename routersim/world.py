"""The simulated world behind one router: devices that log in, move traffic, idle and leave.

Every device is a :class:`Client` (a few slots, no task of its own); a logged-in device holds
one :class:`Session`. :meth:`World.step` advances a seeded clock for all of them at once, so a
fleet needs a single ticker. The same seed and the same calls give the same world.

What a real router does, the world does too:

- a disabled or unknown hotspot user, or a MAC with a ``blocked`` ip-binding, cannot log in;
- a MAC with an enabled ``bypassed`` ip-binding (or an enabled user whose ``mac-address`` is
  that MAC) is logged in by ``mac`` on the next step whenever it wants to be online, so removing
  its active session alone does not keep it out; removing or disabling the binding drops it;
- removing a ``/ppp/active`` session drops it; a disabled ``/ppp/secret`` cannot dial in;
- disabling a hotspot user or a PPP secret leaves a running session alone (as RouterOS does).

Clients made by :meth:`World.populate` come and go at random. Clients made through the control
API (:meth:`hotspot_login`, :meth:`mac_login`, :meth:`ppp_login`) are *pinned*: they never leave
or move traffic on their own (use ``add_traffic`` and ``logout``), and only MAC logins come back
by themselves, so tests stay deterministic.

Listeners hear every arrival and departure. Counters and uptimes change on every step without
a notification, to keep a 200 x 100 fleet cheap (RouterOS is not known to send listen updates
for counter changes of hotspot active entries either: UNCONFIRMED).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from routersim.errors import ControlError, LoginRefused, Trap
from routersim.state import RouterState, Row
from routersim.values import (
    format_duration,
    ip_to_int,
    normalize_mac,
    parse_duration,
    parse_ranges,
)

HOTSPOT_SERVER = "hotspot1"
HOTSPOT_POOL = "hs-pool"
PPP_POOL = "ppp-pool"
LAN, PPP_LAN, WAN = "ether2", "ether3", "ether1"

ACTIVE = "/ip/hotspot/active"
HOST = "/ip/hotspot/host"
USER = "/ip/hotspot/user"
PROFILE = "/ip/hotspot/user/profile"
BINDING = "/ip/hotspot/ip-binding"
SECRET = "/ppp/secret"
PPP_PROFILE = "/ppp/profile"
PPP_ACTIVE = "/ppp/active"
INTERFACE = "/interface"
POOL = "/ip/pool"

LOGIN_METHODS = frozenset(
    {"mac", "http-chap", "http-pap", "https", "cookie", "mac-cookie", "trial", "radius"}
)
PPP_SERVICES = frozenset({"pppoe", "pptp", "l2tp", "ovpn", "sstp", "async"})

# Mean times of the random schedule, in seconds of world time.
MEAN_ONLINE = 45 * 60
MEAN_OFFLINE = 60 * 60
MEAN_RELOGIN = 2 * 60
ACTIVE_SHARE = 0.7  # chance that an online client moves traffic in a step
LOG_SIZE = 100

_OUIS = ("A4:C3:F0", "3C:28:6D", "F0:D5:BF", "DC:A6:32", "8C:85:90", "B0:E5:ED", "60:AB:67")
_BOARDS = (
    ("hAP ac^2", "ARMv7", "arm", "4", "716", 134217728),
    ("RB4011iGS+", "ARMv7", "arm", "4", "1400", 1073741824),
    ("RB5009UG+S+", "ARM64", "arm64", "4", "1400", 1073741824),
    ("CCR2004-1G-12S+2XS", "ARM64", "arm64", "4", "1700", 4294967296),
)
_PLANS = {  # hotspot user profiles that populate() creates
    "1hour": {"rate-limit": "2M/4M", "session-timeout": "1h"},
    "1day": {"rate-limit": "2M/4M"},
    "1week": {"rate-limit": "3M/6M"},
    "expired": {"rate-limit": "64k/64k"},
}


def _ip(value: int) -> str:
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


class Client:
    """A device on the router's LAN: a hotspot user's phone, a MAC-bypassed box, a PPPoE CPE."""

    __slots__ = (
        "host_id",
        "host_since",
        "ip",
        "kind",
        "mac",
        "pinned",
        "rate",
        "session",
        "username",
        "wants",
    )

    def __init__(self, mac: str, username: str | None, kind: str, ip: int, pinned: bool) -> None:
        self.mac = mac
        self.username = username
        self.kind = kind  # "http" | "mac" | "ppp"
        self.ip = ip
        self.pinned = pinned
        self.wants = False  # wants to be online
        self.host_id: str | None = None
        self.host_since = 0.0
        self.session: Session | None = None
        self.rate = 20_000  # bytes per second while active


class Session:
    """One hotspot active entry or PPP active connection."""

    __slots__ = (
        "address",
        "bytes_in",
        "bytes_out",
        "client",
        "id",
        "idle_timeout",
        "iface_id",
        "keepalive",
        "last_active",
        "login_by",
        "packets_in",
        "packets_out",
        "session_id",
        "started",
        "timeout_at",
        "user",
    )

    def __init__(self, sid: str, client: Client, user: str, address: int, now: float) -> None:
        self.id = sid
        self.client = client
        self.user = user
        self.address = address
        self.started = now
        self.last_active = now
        self.bytes_in = self.bytes_out = self.packets_in = self.packets_out = 0
        self.login_by = ""  # hotspot: "mac", "http-chap"...; ppp: the service
        self.timeout_at: float | None = None
        self.idle_timeout: float | None = None
        self.keepalive = "2m"
        self.session_id = ""
        self.iface_id = ""


class World:
    """Configuration, devices and sessions of one simulated router."""

    def __init__(
        self,
        state: RouterState,
        identity: str,
        seed: int,
        version: str,
        phone_prefix: str = "+2557",
    ) -> None:
        self.state = state
        # Simulated hotspot users are phone numbers: +2557XXXXXXXX (Tanzania) unless told, e.g.
        # +2547 for Kenya, where M-Pesa's Daraja API takes the payments.
        self.phone_prefix = phone_prefix
        self.rng = random.Random(seed)
        self.noise = random.Random(f"noise-{seed}")  # for values that must not shift the world
        self.clock = 0.0
        self.version = version
        self.started_at = datetime.now().replace(microsecond=0)
        self.clients: dict[str, Client] = {}
        self.hotspot: dict[str, Session] = {}
        self.ppp: dict[str, Session] = {}
        self.ppp_ifaces: dict[str, Session] = {}  # dynamic <pppoe-NAME> interface id -> session
        self.hosts: dict[str, Client] = {}
        self.logs: dict[str, tuple[float, str, str]] = {}
        self._counters = {"host": 0, "ppp": 0, "log": 0, "mac": 0}
        self._ip_owner: dict[int, Client] = {}
        self._pool_cursor: dict[str, int] = {}
        self._ranges: dict[str, list[tuple[int, int]]] = {}
        self._phones: set[str] = set()
        self._bindings: dict[str, str] | None = None
        self._user_macs: dict[str, str] | None = None
        self._plans_added = False
        self.if_stats: dict[str, list[int]] = {}
        self.if_rates: dict[str, tuple[int, int, int, int]] = {}
        self._step_bytes: dict[str, list[int]] = {}
        board = self.rng.choice(_BOARDS)
        self.board, self.cpu, self.arch, self.cpu_count, self.cpu_mhz, self.memory = board
        self.boot_uptime = self.rng.randrange(3600, 30 * 86400)
        self._build(identity)

    # -- configuration of a fresh hotspot router ---------------------------------------------

    def _build(self, identity: str) -> None:
        state = self.state
        for path in (
            "/system/identity",
            INTERFACE,
            "/ip/hotspot",
            PROFILE,
            USER,
            BINDING,
            PPP_PROFILE,
            SECRET,
            POOL,
            "/ip/address",
            "/queue/simple",
        ):
            state.add_table(path)
        state.table("/system/identity").insert({"name": identity}, "*0")
        interfaces = state.table(INTERFACE)
        interfaces.computed = self._interface_counters
        up = self.started_at - timedelta(seconds=self.boot_uptime)
        for n in range(1, 6):
            mac = ":".join(f"{b:02X}" for b in (0x48, 0x8F, 0x5A, *self.rng.sample(range(256), 3)))
            values = {"name": f"ether{n}", "default-name": f"ether{n}", "mac-address": mac}
            if n <= 3:
                values["last-link-up-time"] = up.strftime("%Y-%m-%d %H:%M:%S")
            else:
                values["running"] = "false"
            if n == 1:
                values["comment"] = "WAN"
            item_id = interfaces.insert(values)
            self.if_stats[item_id] = [0, 0, 0, 0]
        pools = state.table(POOL)
        pools.computed = self._pool_usage
        pools.insert({"name": HOTSPOT_POOL, "ranges": "10.5.50.2-10.5.50.254"})
        pools.insert({"name": PPP_POOL, "ranges": "10.10.0.2-10.10.0.254"})
        addresses = state.table("/ip/address")
        wan = f"192.168.{self.rng.randrange(256)}.{self.rng.randrange(2, 254)}"
        for address, network, iface in (
            (f"{wan}/24", wan.rsplit(".", 1)[0] + ".0", WAN),
            ("10.5.50.1/24", "10.5.50.0", LAN),
        ):
            addresses.insert(
                {
                    "address": address,
                    "network": network,
                    "interface": iface,
                    "actual-interface": iface,
                }
            )
        state.table("/ip/hotspot").insert(
            {"name": HOTSPOT_SERVER, "interface": LAN, "address-pool": HOTSPOT_POOL}
        )
        profiles = state.table(PROFILE)
        profiles.insert({"name": "default", "default": "true"}, "*0")
        profiles.protected.add("*0")
        ppp_profiles = state.table(PPP_PROFILE)
        ppp_profiles.insert({"name": "default", "default": "true"}, "*0")
        ppp_profiles.insert(
            {"name": "default-encryption", "use-encryption": "yes", "default": "true"},
            "*FFFFFFFE",
        )
        ppp_profiles.protected.update({"*0", "*FFFFFFFE"})
        state.add_view(ACTIVE, _ActiveView(self))
        state.add_view(HOST, _HostView(self))
        state.add_view(PPP_ACTIVE, _PppView(self))
        state.add_view(INTERFACE, _PppInterfaceView(self))
        state.add_view("/ip/pool/used", _PoolUsedView(self))
        state.add_view("/log", _LogView(self))
        state.add_view("/system/resource", _ResourceView(self))
        state.watch(BINDING, self._bindings_changed, internal=True)
        state.watch(USER, self._users_changed, internal=True)
        state.watch(POOL, lambda *_: self._ranges.clear(), internal=True)

    # -- control API -------------------------------------------------------------------------

    def hotspot_login(
        self,
        username: str,
        mac_address: str | None = None,
        ip_address: str | None = None,
        login_by: str = "http-chap",
    ) -> str:
        if login_by not in LOGIN_METHODS:
            raise ControlError(f"unknown login method {login_by!r}")
        client = self._manual_client(mac_address, ip_address, "http", HOTSPOT_POOL)
        client.username = username
        return self._login_hotspot(client, username, login_by).id

    def join(self, mac_address: str, ip_address: str | None = None) -> str:
        """A device joins the hotspot's network (a /ip/hotspot/host entry, not logged in) and
        stays; its address (given or from the hotspot pool) is returned. A bypassed binding
        of its MAC lets it on at the next step, as a router does."""
        client = self._manual_client(mac_address, ip_address, "http", HOTSPOT_POOL)
        return _ip(client.ip)

    def mac_at(self, ip_address: str) -> str | None:
        """The MAC of the device at an address of the hotspot (how the router knows who asks)."""
        try:
            owner = self._ip_owner.get(ip_to_int(ip_address))
        except ValueError:
            return None
        return owner.mac if owner is not None and owner.kind != "ppp" else None

    def mac_login(self, mac_address: str, username: str | None = None) -> str:
        client = self._manual_client(mac_address, None, "mac", HOTSPOT_POOL)
        if username:
            client.username = username
        verdict, user = self._mac_allowance(client.mac)
        if verdict not in ("bypassed", "user"):
            raise LoginRefused(f"{client.mac} has no bypassed ip-binding and no user of its own")
        if client.session is not None and client.session.login_by == "mac":
            return client.session.id
        return self._login_hotspot(client, self._mac_user(client, user), "mac").id

    def ppp_login(
        self,
        name: str,
        caller_id: str | None = None,
        service: str = "pppoe",
        password: str | None = None,
    ) -> str:
        if service not in PPP_SERVICES:
            raise ControlError(f"unknown PPP service {service!r}")
        client = self._manual_client(caller_id, None, "ppp", PPP_POOL)
        client.username = name
        return self._login_ppp(client, name, service, password).id

    def add_traffic(self, session_id: str, bytes_in: int, bytes_out: int) -> None:
        if min(bytes_in, bytes_out) < 0:
            raise ControlError("traffic must not be negative")
        self._traffic(self._session(session_id), bytes_in, bytes_out)

    def logout(self, session_id: str) -> None:
        session = self._session(session_id)
        session.client.wants = False
        self._end(session, "user request")
        self._disappear(session.client)

    def populate(self, clients: int) -> None:
        if clients < 0:
            raise ControlError("clients must not be negative")
        rng, state = self.rng, self.state
        if not self._plans_added:
            self._plans_added = True
            for name, values in _PLANS.items():
                state.add(PROFILE, {"name": name, **values})
            state.add(
                PPP_PROFILE,
                {
                    "name": "pppoe-5M",
                    "local-address": "10.10.0.1",
                    "remote-address": PPP_POOL,
                    "rate-limit": "5M/5M",
                },
            )
        plans = [p for p in _PLANS if p != "expired"]
        for _ in range(clients):
            kind = rng.choices(("http", "mac", "ppp"), weights=(55, 30, 15))[0]
            username, mac = self._new_phone(), self._new_mac()
            password = f"{rng.randrange(10**6):06d}"
            try:
                address = self._allocate(PPP_POOL if kind == "ppp" else HOTSPOT_POOL)
                if kind == "ppp":
                    secret = {"name": username, "password": password, "service": "pppoe"}
                    state.add(SECRET, secret | {"profile": "pppoe-5M"})
                else:
                    user = {"name": username, "password": password, "profile": rng.choice(plans)}
                    state.add(USER, user)
                if kind == "mac":
                    binding = {"mac-address": mac, "type": "bypassed", "comment": username}
                    state.add(BINDING, binding)
            except (LoginRefused, Trap) as exc:
                raise ControlError(f"cannot add a simulated client: {exc}") from exc
            client = Client(mac, username, kind, address, pinned=False)
            self._ip_owner[address] = client
            client.rate = rng.choice((4_000, 20_000, 60_000, 250_000))
            self.clients[mac] = client
            if rng.random() < 0.5:
                client.wants = True
                self._appear(client)
                self._retry(client, 1.0)

    def step(self, seconds: float) -> None:
        if not seconds > 0:
            raise ControlError("a world step must move time forward")
        self.clock += seconds
        leave = 1 - math.exp(-seconds / MEAN_ONLINE)
        arrive = 1 - math.exp(-seconds / MEAN_OFFLINE)
        relogin = 1 - math.exp(-seconds / MEAN_RELOGIN)
        rng = self.rng
        for client in list(self.clients.values()):
            session = client.session
            if session is not None:
                if self._expired(session) or client.pinned:
                    continue
                if rng.random() < leave:
                    client.wants = False
                    self._end(session, "keepalive timeout")
                    self._disappear(client)
                elif rng.random() < ACTIVE_SHARE:
                    down = int(client.rate * seconds * (0.2 + 1.6 * rng.random()))
                    self._traffic(session, down // 8 + 60, down)
            elif client.wants:
                if not client.pinned and rng.random() < leave:
                    client.wants = False
                    self._disappear(client)
                else:
                    self._appear(client)
                    self._retry(client, relogin)
            elif not client.pinned and rng.random() < arrive:
                client.wants = True
                self._appear(client)
                self._retry(client, 1.0)
        for item_id in self.if_stats:
            moved = self._step_bytes.get(item_id, (0, 0, 0, 0))
            self.if_rates[item_id] = (
                int(moved[0] * 8 / seconds),
                int(moved[1] * 8 / seconds),
                int(moved[2] / seconds),
                int(moved[3] / seconds),
            )
        self._step_bytes.clear()

    # -- logins and departures -------------------------------------------------------------

    def _manual_client(
        self, mac_address: str | None, ip_address: str | None, kind: str, pool: str
    ) -> Client:
        """The pinned client behind a control-API login (checked first, then created)."""
        try:
            mac = normalize_mac(mac_address) if mac_address is not None else None
            wanted = ip_to_int(ip_address) if ip_address is not None else None
        except ValueError as exc:
            raise ControlError(str(exc)) from exc
        if mac is None:
            self._counters["mac"] += 1
            n = self._counters["mac"]
            mac = f"02:00:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"
        client = self.clients.get(mac)
        owner = self._ip_owner.get(wanted) if wanted is not None else None
        if owner is not None and owner is not client:
            raise LoginRefused(f"address {ip_address} is in use by {owner.mac}")
        if client is None:
            client = self.clients[mac] = Client(mac, None, kind, 0, pinned=True)
        client.pinned, client.wants = True, True
        if wanted is not None and wanted != client.ip:
            self._release(client)
            client.ip = wanted
        elif not client.ip:
            client.ip = self._allocate(pool)
        self._ip_owner[client.ip] = client
        if kind != "ppp":
            self._appear(client)
        return client

    def _retry(self, client: Client, chance: float) -> None:
        """A client that wants to be online but is not tries again, as its kind would."""
        try:
            if client.kind == "ppp":
                if not client.pinned:
                    self._login_ppp(client, client.username or client.mac, "pppoe")
                return
            verdict, user = self._mac_allowance(client.mac)
            if verdict in ("bypassed", "user"):
                self._login_hotspot(client, self._mac_user(client, user), "mac")
            elif verdict != "blocked" and client.kind == "http" and not client.pinned:
                if self.rng.random() < chance:
                    self._login_hotspot(client, client.username or client.mac, "http-chap")
        except LoginRefused:
            pass

    def _mac_user(self, client: Client, user: str | None) -> str:
        return user or client.username or client.mac

    def _login_hotspot(self, client: Client, username: str, login_by: str) -> Session:
        verdict, _ = self._mac_allowance(client.mac)
        users = self.state.table(USER)
        user_id = self._find_user(username)
        where = f"{username} ({_ip(client.ip)})"
        try:
            if verdict == "blocked":
                raise LoginRefused(f"{client.mac} is blocked by an ip-binding")
            if login_by != "mac":
                if user_id is None:
                    raise LoginRefused(f"no such user {username!r}")
                if users.value(user_id, "disabled") == "true":
                    raise LoginRefused(f"user {username!r} is disabled")
                bound = users.value(user_id, "mac-address")
                if bound and bound != client.mac:
                    raise LoginRefused(f"user {username!r} is bound to {bound}")
            left = self._uptime_left(user_id) if user_id else None
            if left is not None and left <= 0:
                raise LoginRefused(f"user {username!r} has reached uptime limit")
        except LoginRefused as refused:
            self.log("hotspot,info,debug", f"{where}: login failed: {refused}")
            raise
        if client.session is not None:
            self._end(client.session, "user request")
        session = Session(f"*{client.ip:X}", client, username, client.ip, self.clock)
        session.login_by = login_by
        profile = self._profile(user_id)
        timeouts = [t for t in (left, _seconds(profile.get("session-timeout"))) if t]
        if timeouts:
            session.timeout_at = self.clock + min(timeouts)
        session.idle_timeout = _seconds(profile.get("idle-timeout"))
        session.keepalive = profile.get("keepalive-timeout", "2m")
        client.session = session
        self.hotspot[session.id] = session
        self.log("hotspot,account,info,debug", f"{where}: logged in")
        self.state.notify(ACTIVE, session.id)
        if client.host_id:
            self.state.notify(HOST, client.host_id)
        return session

    def _login_ppp(
        self, client: Client, name: str, service: str, password: str | None = None
    ) -> Session:
        """A PPP login; ``password`` (when given) must be the secret's, as a dial-in checks."""
        secrets = self.state.table(SECRET)
        ids = secrets.named(name)
        try:
            if not ids:
                raise LoginRefused(f"no such PPP secret {name!r}")
            secret = ids[0]
            if secrets.value(secret, "disabled") == "true":
                raise LoginRefused(f"PPP secret {name!r} is disabled")
            if secrets.value(secret, "service") not in ("any", service):
                raise LoginRefused(f"PPP secret {name!r} does not allow {service}")
            if password is not None and secrets.value(secret, "password") != password:
                raise LoginRefused(f"wrong password for PPP secret {name!r}")
            caller = secrets.value(secret, "caller-id")
            if caller and caller.upper() != client.mac:
                raise LoginRefused(f"PPP secret {name!r} is bound to caller-id {caller}")
        except LoginRefused as refused:
            self.log("pppoe,ppp,error", f"<{service}-{name}>: authentication failed: {refused}")
            raise
        if client.session is not None:
            self._end(client.session, "user request")
        self._counters["ppp"] += 1
        n = self._counters["ppp"]
        session = Session(f"*{0x80000000 + n:X}", client, name, client.ip, self.clock)
        session.login_by = service
        session.session_id = f"0x81{0x300000 + n:06X}"
        session.iface_id = f"*{0xF00000 + n:X}"
        profile_name = secrets.value(secret, "profile") or "default"
        profiles = self.state.table(PPP_PROFILE)
        for pid in profiles.named(profile_name)[:1]:
            session.timeout_at = _plus(self.clock, profiles.value(pid, "session-timeout"))
            session.idle_timeout = _seconds(profiles.value(pid, "idle-timeout"))
        client.session = session
        self.ppp[session.id] = session
        self.ppp_ifaces[session.iface_id] = session
        self.log("pppoe,ppp,info", f"<{service}-{name}>: connected")
        self.log("pppoe,ppp,info,account", f"{name} logged in, {_ip(client.ip)}")
        self.state.notify(PPP_ACTIVE, session.id)
        self.state.notify(INTERFACE, session.iface_id)
        return session

    def _end(self, session: Session, reason: str) -> None:
        """Close a session; the client stays (and may come back if it still wants to)."""
        client = session.client
        client.session = None
        uptime = self.clock - session.started
        if session.id in self.hotspot:
            del self.hotspot[session.id]
            user_id = self._find_user(session.user)
            if user_id is not None:
                users = self.state.table(USER)
                total = parse_duration(users.value(user_id, "uptime") or "0s") + uptime
                users.update(
                    user_id,
                    {
                        "uptime": format_duration(total),
                        "bytes-in": _add(users.value(user_id, "bytes-in"), session.bytes_in),
                        "bytes-out": _add(users.value(user_id, "bytes-out"), session.bytes_out),
                        "packets-in": _add(users.value(user_id, "packets-in"), session.packets_in),
                        "packets-out": _add(
                            users.value(user_id, "packets-out"), session.packets_out
                        ),
                    },
                )
            where = f"{session.user} ({_ip(session.address)})"
            self.log("hotspot,account,info,debug", f"{where}: logged out: {reason}")
            self.state.notify(ACTIVE, session.id, dead=True)
            if client.host_id:
                self.state.notify(HOST, client.host_id)
        elif session.id in self.ppp:
            del self.ppp[session.id]
            del self.ppp_ifaces[session.iface_id]
            secrets = self.state.table(SECRET)
            for secret in secrets.named(session.user)[:1]:
                secrets.update(
                    secret,
                    {
                        "last-logged-out": self._wall(self.clock),
                        "last-caller-id": client.mac,
                        "last-disconnect-reason": reason,
                    },
                )
            name = f"<{session.login_by}-{session.user}>"
            self.log("pppoe,ppp,info", f"{name}: disconnected")
            self.log("pppoe,ppp,info,account", f"{session.user} logged out, {int(uptime)}")
            self.state.notify(PPP_ACTIVE, session.id, dead=True)
            self.state.notify(INTERFACE, session.iface_id, dead=True)

    def _expired(self, session: Session) -> bool:
        if session.timeout_at is not None and self.clock >= session.timeout_at:
            self._end(session, "session timeout")
            return True
        idle = session.idle_timeout
        if idle and self.clock - session.last_active >= idle:
            self._end(session, "idle timeout")
            return True
        return False

    def _appear(self, client: Client) -> None:
        if client.kind == "ppp" or client.host_id:
            return
        self._counters["host"] += 1
        client.host_id = f"*{self._counters['host']:X}"
        client.host_since = self.clock
        self.hosts[client.host_id] = client
        self.state.notify(HOST, client.host_id)

    def _disappear(self, client: Client) -> None:
        if client.session is not None:
            self._end(client.session, "lost-service")
        if client.host_id:
            host_id, client.host_id = client.host_id, None
            del self.hosts[host_id]
            self.state.notify(HOST, host_id, dead=True)

    def _traffic(self, session: Session, bytes_in: int, bytes_out: int) -> None:
        packets_in, packets_out = bytes_in // 1200 + 1, bytes_out // 1200 + 1
        session.bytes_in += bytes_in
        session.bytes_out += bytes_out
        session.packets_in += packets_in
        session.packets_out += packets_out
        session.last_active = self.clock
        lan = self._iface_id(PPP_LAN if session.id in self.ppp else LAN)
        wan = self._iface_id(WAN)
        for item_id, moved in (
            (lan, (bytes_in, bytes_out, packets_in, packets_out)),
            (wan, (bytes_out, bytes_in, packets_out, packets_in)),
        ):
            if item_id is None:
                continue
            stats = self.if_stats.setdefault(item_id, [0, 0, 0, 0])
            recent = self._step_bytes.setdefault(item_id, [0, 0, 0, 0])
            for i, amount in enumerate(moved):
                stats[i] += amount
                recent[i] += amount

    # -- lookups ---------------------------------------------------------------------------

    def _session(self, session_id: str) -> Session:
        session = self.hotspot.get(session_id) or self.ppp.get(session_id)
        if session is None:
            raise ControlError(f"no active session {session_id!r}")
        return session

    def _find_user(self, name: str) -> str | None:
        users = self.state.table(USER)
        for user_id in users.named(name):
            if users.value(user_id, "server") in ("all", HOTSPOT_SERVER):
                return user_id
        return None

    def _profile(self, user_id: str | None) -> dict[str, str]:
        name = self.state.table(USER).value(user_id, "profile") if user_id else "default"
        profiles = self.state.table(PROFILE)
        for pid in profiles.named(name or "default")[:1]:
            return profiles.render(pid) or {}
        return {}

    def _uptime_left(self, user_id: str) -> float | None:
        users = self.state.table(USER)
        limit = users.value(user_id, "limit-uptime")
        if not limit:
            return None
        return parse_duration(limit) - parse_duration(users.value(user_id, "uptime") or "0s")

    def _mac_allowance(self, mac: str) -> tuple[str, str | None]:
        """("blocked" | "bypassed" | "user" | "", user name) for a MAC, from cached indexes."""
        if self._bindings is None:
            bindings = self.state.table(BINDING)
            index: dict[str, str] = {}
            for item_id, row in bindings.rows.items():
                binding_mac = row.get("mac-address")
                if binding_mac and bindings.value(item_id, "disabled") != "true":
                    index.setdefault(binding_mac, bindings.value(item_id, "type") or "regular")
            self._bindings = index
        if self._user_macs is None:
            users = self.state.table(USER)
            self._user_macs = {}
            for item_id, row in users.rows.items():
                if "mac-address" in row and users.value(item_id, "disabled") != "true":
                    self._user_macs.setdefault(row["mac-address"], row.get("name", ""))
        kind = self._bindings.get(mac, "")
        if kind in ("blocked", "bypassed"):
            return kind, None
        if mac in self._user_macs:
            return "user", self._user_macs[mac]
        return "", None

    def _bindings_changed(self, _path: str, _item_id: str, _dead: bool) -> None:
        """Bindings decide at once: blocked MACs and MAC logins without a bypass are dropped."""
        self._bindings = None
        for session in list(self.hotspot.values()):
            verdict, _ = self._mac_allowance(session.client.mac)
            if verdict == "blocked" or (session.login_by == "mac" and not verdict):
                self._end(session, "admin")

    def _users_changed(self, _path: str, _item_id: str, _dead: bool) -> None:
        self._user_macs = None

    def _iface_id(self, name: str) -> str | None:
        ids = self.state.table(INTERFACE).named(name)
        return ids[0] if ids else None

    # -- addresses ---------------------------------------------------------------------------

    def _pool_spans(self, pool: str) -> list[tuple[int, int]]:
        if pool not in self._ranges:
            table = self.state.table(POOL)
            ids = table.named(pool)
            self._ranges[pool] = parse_ranges(table.value(ids[0], "ranges") or "") if ids else []
        return self._ranges[pool]

    def _allocate(self, pool: str) -> int:
        spans = self._pool_spans(pool)
        cursor = self._pool_cursor.get(pool, 0)
        size = sum(last - first + 1 for first, last in spans)
        for step in range(size):
            offset = (cursor + step) % size
            for first, last in spans:
                if offset <= last - first:
                    candidate = first + offset
                    break
                offset -= last - first + 1
            if candidate not in self._ip_owner:
                self._pool_cursor[pool] = (cursor + step + 1) % size
                return candidate
        raise LoginRefused(f"pool {pool!r} has no free address")

    def _release(self, client: Client) -> None:
        if client.ip and self._ip_owner.get(client.ip) is client:
            del self._ip_owner[client.ip]

    def _pool_usage(self, _item_id: str, row: Row) -> Mapping[str, str]:
        try:
            spans = parse_ranges(row.get("ranges", ""))
        except ValueError:
            return {}
        total = sum(last - first + 1 for first, last in spans)
        used = sum(
            1
            for ip, client in self._ip_owner.items()
            if self._in_use(client) and any(first <= ip <= last for first, last in spans)
        )
        return {"total": str(total), "used": str(used), "available": str(total - used)}

    def _in_use(self, client: Client) -> bool:
        return client.session is not None or client.host_id is not None

    def _interface_counters(self, item_id: str, _row: Row) -> Mapping[str, str]:
        stats = self.if_stats.get(item_id)
        if not stats:
            return {}
        return {
            "rx-byte": str(stats[0]),
            "tx-byte": str(stats[1]),
            "rx-packet": str(stats[2]),
            "tx-packet": str(stats[3]),
        }

    # -- misc ------------------------------------------------------------------------------

    def log(self, topics: str, message: str) -> None:
        self._counters["log"] += 1
        item_id = f"*{self._counters['log']:X}"
        self.logs[item_id] = (self.clock, topics, message)
        if len(self.logs) > LOG_SIZE:
            del self.logs[next(iter(self.logs))]
        self.state.notify("/log", item_id)

    def _wall(self, clock: float) -> str:
        return (self.started_at + timedelta(seconds=clock)).strftime("%Y-%m-%d %H:%M:%S")

    def ping_rtt(self, address: str) -> float | None:
        """Round-trip time to ``address`` in seconds, or None when it does not answer."""
        target = ip_to_int(address)
        own = {_ip_of(row.get("address", "")) for row in self.state.rows("/ip/address")}
        if target in own or target >> 24 == 127:
            return self.noise.uniform(0.00003, 0.0002)
        client = self._ip_owner.get(target)
        if client is not None and self._in_use(client):
            return self.noise.uniform(0.001, 0.04)
        if _private(target):
            return None
        return None if self.noise.random() < 0.02 else self.noise.uniform(0.01, 0.08)

    def interface_rates(self, item_id: str) -> tuple[int, int, int, int]:
        rates = self.if_rates.get(item_id)
        if rates is None:
            return (0, 0, 0, 0)
        jitter = self.noise.uniform(0.9, 1.1)
        return tuple(int(r * jitter) for r in rates)  # type: ignore[return-value]

    def resource(self) -> Row:
        sessions = len(self.hotspot) + len(self.ppp)
        used = self.memory // 5 + sessions * 48 * 1024
        return {
            "uptime": format_duration(self.boot_uptime + self.clock),
            "version": self.version,
            "build-time": "2024-12-04 12:17:31",
            "factory-software": "7.1.5",
            "free-memory": str(max(self.memory - used, self.memory // 10)),
            "total-memory": str(self.memory),
            "cpu": self.cpu,
            "cpu-count": self.cpu_count,
            "cpu-frequency": self.cpu_mhz,
            "cpu-load": str(min(100, 1 + sessions // 4 + self.noise.randrange(5))),
            "free-hdd-space": "92930048",
            "total-hdd-space": "134217728",
            "write-sect-since-reboot": str(5000 + int(self.clock) // 10),
            "write-sect-total": "1893201",
            "bad-blocks": "0",
            "architecture-name": self.arch,
            "board-name": self.board,
            "platform": "MikroTik",
        }

    def _new_phone(self) -> str:
        while True:
            digits = 13 - len(self.phone_prefix)  # E.164: 12 digits after the "+"
            phone = f"{self.phone_prefix}{self.rng.randrange(10**digits):0{digits}d}"
            if phone not in self._phones and not self.state.table(USER).named(phone):
                self._phones.add(phone)
                return phone

    def _new_mac(self) -> str:
        while True:
            tail = ":".join(f"{self.rng.randrange(256):02X}" for _ in range(3))
            mac = f"{self.rng.choice(_OUIS)}:{tail}"
            if mac not in self.clients:
                return mac


def _seconds(value: str | None) -> float | None:
    if not value or value == "none":
        return None
    return parse_duration(value) or None


def _plus(clock: float, value: str | None) -> float | None:
    seconds = _seconds(value)
    return clock + seconds if seconds else None


def _add(value: str | None, amount: int) -> str:
    return str(int(value or 0) + amount)


def _ip_of(prefix: str) -> int:
    try:
        return ip_to_int(prefix.split("/")[0])
    except ValueError:
        return -1


def _private(value: int) -> bool:
    return value >> 24 == 10 or value >> 20 == 0xAC1 or value >> 16 == 0xC0A8


# -- views: dynamic menus rendered from the world ---------------------------------------------


class _ActiveView:
    def __init__(self, world: World) -> None:
        self.world = world

    def ids(self) -> Iterable[str]:
        return self.world.hotspot.keys()

    def render(self, item_id: str) -> Row | None:
        session = self.world.hotspot.get(item_id)
        if session is None:
            return None
        clock = self.world.clock
        row = {
            ".id": session.id,
            "server": HOTSPOT_SERVER,
            "user": session.user,
            "address": _ip(session.address),
            "mac-address": session.client.mac,
            "login-by": session.login_by,
            "uptime": format_duration(clock - session.started),
        }
        if session.timeout_at is not None:
            row["session-time-left"] = format_duration(session.timeout_at - clock)
        row["idle-time"] = format_duration(clock - session.last_active)
        if session.idle_timeout:
            row["idle-timeout"] = format_duration(session.idle_timeout)
        if session.keepalive != "none":
            row["keepalive-timeout"] = session.keepalive
        row.update(
            {
                "bytes-in": str(session.bytes_in),
                "bytes-out": str(session.bytes_out),
                "packets-in": str(session.packets_in),
                "packets-out": str(session.packets_out),
                "radius": "false",
                "blocked": "false",
            }
        )
        return row

    def remove(self, item_id: str) -> None:
        self.world._end(self.world.hotspot[item_id], "admin")


class _HostView:
    def __init__(self, world: World) -> None:
        self.world = world

    def ids(self) -> Iterable[str]:
        return self.world.hosts.keys()

    def render(self, item_id: str) -> Row | None:
        client = self.world.hosts.get(item_id)
        if client is None:
            return None
        session, clock = client.session, self.world.clock
        verdict, _ = self.world._mac_allowance(client.mac)
        last_active = session.last_active if session else client.host_since
        return {
            ".id": item_id,
            "mac-address": client.mac,
            "address": _ip(client.ip),
            "to-address": _ip(client.ip),
            "server": HOTSPOT_SERVER,
            "uptime": format_duration(clock - client.host_since),
            "idle-time": format_duration(clock - last_active),
            "keepalive-timeout": "2m",
            "host-dead-time": "0s",
            "bytes-in": str(session.bytes_in if session else 0),
            "bytes-out": str(session.bytes_out if session else 0),
            "packets-in": str(session.packets_in if session else 0),
            "packets-out": str(session.packets_out if session else 0),
            "found-by": "DHCP",
            "static": "false",
            "DHCP": "true",
            "dynamic": "true",
            "authorized": "true" if session else "false",
            "bypassed": "true" if verdict == "bypassed" else "false",
            "blocked": "true" if verdict == "blocked" else "false",
        }

    def remove(self, item_id: str) -> None:
        client = self.world.hosts[item_id]
        wants = client.wants
        self.world._disappear(client)
        client.wants = wants  # the device is still there: it is found again on the next step


class _PppView:
    def __init__(self, world: World) -> None:
        self.world = world

    def ids(self) -> Iterable[str]:
        return self.world.ppp.keys()

    def render(self, item_id: str) -> Row | None:
        session = self.world.ppp.get(item_id)
        if session is None:
            return None
        return {
            ".id": session.id,
            "name": session.user,
            "service": session.login_by,
            "caller-id": session.client.mac,
            "encoding": "",
            "address": _ip(session.address),
            "uptime": format_duration(self.world.clock - session.started),
            "session-id": session.session_id,
            "limit-bytes-in": "0",
            "limit-bytes-out": "0",
            "radius": "false",
        }

    def remove(self, item_id: str) -> None:
        self.world._end(self.world.ppp[item_id], "admin")


class _PppInterfaceView:
    """The dynamic ``<pppoe-NAME>`` interface of every PPP session: where its bytes show."""

    def __init__(self, world: World) -> None:
        self.world = world

    def ids(self) -> Iterable[str]:
        return self.world.ppp_ifaces.keys()

    def render(self, item_id: str) -> Row | None:
        session = self.world.ppp_ifaces.get(item_id)
        if session is None:
            return None
        return {
            ".id": item_id,
            "name": f"<{session.login_by}-{session.user}>",
            "type": f"{session.login_by}-in",
            "mtu": "1480",
            "actual-mtu": "1480",
            "last-link-up-time": self.world._wall(session.started),
            "link-downs": "0",
            "rx-byte": str(session.bytes_in),
            "tx-byte": str(session.bytes_out),
            "rx-packet": str(session.packets_in),
            "tx-packet": str(session.packets_out),
            **dict.fromkeys(("rx-drop", "tx-drop", "tx-queue-drop", "rx-error", "tx-error"), "0"),
            **dict.fromkeys(("fp-rx-byte", "fp-tx-byte", "fp-rx-packet", "fp-tx-packet"), "0"),
            "running": "true",
            "slave": "false",
            "dynamic": "true",
            "disabled": "false",
        }

    def remove(self, item_id: str) -> None:
        raise Trap("no such command")


class _PoolUsedView:
    """/ip/pool/used: addresses held by devices that are present; RouterOS shows no ids."""

    def __init__(self, world: World) -> None:
        self.world = world

    def ids(self) -> Iterable[str]:
        return [_ip(ip) for ip, c in sorted(self.world._ip_owner.items()) if self.world._in_use(c)]

    def render(self, item_id: str) -> Row | None:
        world = self.world
        client = world._ip_owner.get(ip_to_int(item_id))
        if client is None or not world._in_use(client):
            return None
        pool = PPP_POOL if client.kind == "ppp" else HOTSPOT_POOL
        for name in world.state.names(POOL):
            if any(a <= client.ip <= b for a, b in world._pool_spans(name)):
                pool = name
                break
        owner = "ppp" if client.kind == "ppp" else "hotspot"
        info = client.username if client.kind == "ppp" else client.mac
        return {"pool": pool, "address": item_id, "owner": owner, "info": info or ""}

    def remove(self, item_id: str) -> None:
        raise Trap("no such command")


class _LogView:
    def __init__(self, world: World) -> None:
        self.world = world

    def ids(self) -> Iterable[str]:
        return self.world.logs.keys()

    def render(self, item_id: str) -> Row | None:
        entry = self.world.logs.get(item_id)
        if entry is None:
            return None
        clock, topics, message = entry
        return {
            ".id": item_id,
            "time": self.world._wall(clock),
            "topics": topics,
            "message": message,
            "buffer": "memory",
        }

    def remove(self, item_id: str) -> None:
        raise Trap("no such command")


class _ResourceView:
    def __init__(self, world: World) -> None:
        self.world = world

    def ids(self) -> Iterable[str]:
        return ("*0",)

    def render(self, item_id: str) -> Row | None:
        return self.world.resource() if item_id == "*0" else None

    def remove(self, item_id: str) -> None:
        raise Trap("no such command")
