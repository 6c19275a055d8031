"""The hotspot's own HTTP login of a simulated router: what ``$(link-login-only)`` points at.

A MikroTik hotspot answers ``POST /login`` (``username``, ``password``, ``dst``, ``popup``) on
its hotspot address: the user logs in (here ``World.hotspot_login``, ``login-by=http-pap``,
with the password checked as the router does), then the browser goes to ``dst`` (what the
router's alogin.html does). A refusal shows login.html again with ``$(error)``; the login.html
of deploy/hotspot sends the browser to the hub's portal with it, and so does this one when it
has ``portal_url``.

The router tells clients apart by their source address on its LAN. Every test client comes
from 127.0.0.1 here, so each one's login URL carries its address in the path instead:
``login_url(ip)`` -> ``http://127.0.0.1:<port>/<ip>/login``. The client must be on the hotspot
first (``World.join``: its MAC and address in /ip/hotspot/host).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from routersim.errors import ControlError, LoginRefused
from routersim.world import USER, World

# RouterOS' own words for a refused hotspot login (shown by login.html as $(error)).
INVALID_LOGIN = "invalid username or password"
MAX_FIELD = 256


class HotspotWeb:
    """An aiohttp server answering the hotspot login of one simulated router's world."""

    def __init__(self, world: World, portal_url: str | None = None) -> None:
        self.world = world
        self.portal_url = portal_url  # login.html's redirect to the hub (refusals land there)
        self.logins: list[tuple[str, str]] = []  # (username, mac) of each accepted login
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{ip}/login", self._login)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound[1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HotspotWeb:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def login_url(self, ip: str) -> str:
        """``$(link-login-only)`` as the client at ``ip`` sees it."""
        return f"{self.url}/{ip}/login"

    async def _login(self, request: web.Request) -> web.StreamResponse:
        try:
            ip = str(ipaddress.ip_address(request.match_info["ip"]))
        except ValueError:
            return web.Response(status=404, text="no such client")
        mac = self.world.mac_at(ip)
        if mac is None:
            return web.Response(status=403, text=f"{ip} is not on the hotspot")
        form = await request.post()
        username = str(form.get("username", ""))[:MAX_FIELD]
        password = str(form.get("password", ""))[:MAX_FIELD]
        dst = str(form.get("dst", ""))[:2048]
        try:
            if not self._password_ok(username, password):
                raise LoginRefused(INVALID_LOGIN)
            self.world.hotspot_login(username, mac, ip, login_by="http-pap")
        except (LoginRefused, ControlError) as refused:
            return self._refused(ip, mac, str(refused) or INVALID_LOGIN, dst)
        self.logins.append((username, mac))
        if urlsplit(dst).scheme in ("http", "https"):
            raise web.HTTPFound(dst)
        return web.Response(text="You are logged in", content_type="text/plain")

    def _password_ok(self, username: str, password: str) -> bool:
        users = self.world.state.table(USER)
        return any(
            users.value(user_id, "password") == password for user_id in users.named(username)
        )

    def _refused(self, ip: str, mac: str, error: str, dst: str) -> web.StreamResponse:
        if self.portal_url is None:
            return web.Response(status=200, text=error, content_type="text/plain")
        query = {
            "mac": mac,
            "ip": ip,
            "link-login-only": self.login_url(ip),
            "link-orig": dst,
            "error": error,
        }
        separator = "&" if "?" in self.portal_url else "?"
        raise web.HTTPFound(f"{self.portal_url}{separator}{urlencode(query)}")
