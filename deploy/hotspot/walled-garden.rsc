# ispfleet captive portal: clients reach the hub's portal before they log in.
# Edit the hub's host name (the host of its public URL), then on the router:
#   /import file-name=hotspot-ispfleet/walled-garden.rsc
# Both entries are needed: the walled garden lets plain HTTP through the hotspot's proxy, the
# IP walled garden lets the HTTPS connection through untouched (the portal should be HTTPS).
:local hub "hub.example.net"
/ip hotspot walled-garden
add dst-host=$hub action=allow comment="ispfleet captive portal"
/ip hotspot walled-garden ip
add dst-host=$hub action=accept comment="ispfleet captive portal"
