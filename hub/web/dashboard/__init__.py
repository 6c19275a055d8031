"""The operator dashboard (issue 18): server-rendered pages under /dashboard/ for the billing
face's users, signed in with a session cookie (session.py), live through server-sent events
(live.py), and the billing pages (pages.py). Templates: hub/web/templates/dashboard/; assets:
hub/web/static/dashboard.{css,js}; words: the [dashboard] table of hub/web/locale/*.toml.
"""

from __future__ import annotations

from aiohttp import web

from hub.web.dashboard import live, pages


def add_dashboard_routes(app: web.Application) -> None:
    app.add_routes(pages.routes)
    app.add_routes(live.routes)
