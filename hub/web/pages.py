"""What every server-rendered page of the hub shares: templates, static assets, language.

Templates live in hub/web/templates (jinja2, autoescaped), assets in hub/web/static, served
by the hub itself under /static/ with a content hash in the URL (``asset("dashboard.js")``),
so pages work on closed networks with no CDN and a new release is never served stale.
A page renders with ``render(request, "dashboard/sites.html", context, language=...)``; the
template gets ``t`` (hub/web/i18n.py), ``lang``, ``languages`` and ``asset``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hub.web.i18n import LANGUAGE_NAMES, LANGUAGES, page_language, translator

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_ROUTE = "static"
# Pages are HTML for browsers: no framing by other sites, no sniffing, same-origin scripts only.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def setup_pages(app: web.Application) -> None:
    """The template environment and the /static/ route (called once by create_app)."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,  # a missing variable is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app.router.add_static("/static/", STATIC_DIR, name=STATIC_ROUTE, append_version=True)


def asset_url(request: web.Request, name: str) -> str:
    """The versioned URL of a file in hub/web/static (``?v=<hash>`` changes with its bytes)."""
    resource = request.app.router[STATIC_ROUTE]
    return str(resource.url_for(filename=name, append_version=True))  # type: ignore[call-arg]


def _page_context(request: web.Request, lang: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "t": translator(lang),
        "lang": lang,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "asset": lambda name: asset_url(request, name),
        **context,
    }


def render_fragment(
    request: web.Request, template: str, context: dict[str, Any], *, language: str
) -> str:
    """Part of a page as text (a live region's new content, pushed over server-sent events),
    with the same ``t``/``lang``/``asset`` as ``render``."""
    env = aiohttp_jinja2.get_env(request.app)
    return env.get_template(template).render(_page_context(request, language, context))


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    language: str | None = None,
    status: int = 200,
) -> web.Response:
    """A page in the visitor's language (``page_language`` when not given), with the page
    security headers."""
    page = _page_context(request, language or page_language(request), context)
    response = aiohttp_jinja2.render_template(template, request, page, status=status)
    response.headers.update(PAGE_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")
    return response
