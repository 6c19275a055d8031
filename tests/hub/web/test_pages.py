"""What every page shares: the catalogue is complete in every language, assets are served by
the hub with a versioned URL, and a real Chromium renders a page of the hub."""

from __future__ import annotations

import re
import string

import pytest

from hub.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalogue, page_language, translator
from tests.browser import page  # noqa: F401 (fixture)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != DEFAULT_LANGUAGE])
def test_every_language_has_every_key_with_the_same_placeholders(language):
    english, other = catalogue(DEFAULT_LANGUAGE), catalogue(language)
    assert sorted(other) == sorted(english), "keys differ from en.toml"
    for key, text in english.items():
        assert placeholders(other[key]) == placeholders(text), key


def test_an_unknown_key_fails_loudly():
    with pytest.raises(KeyError):
        translator("sw")("common.no_such_key")


async def test_language_comes_from_query_cookie_tenant_then_browser(aiohttp_client):
    from aiohttp import web

    async def show(request: web.Request) -> web.Response:
        return web.Response(text=page_language(request, request.query.get("tenant")))

    app = web.Application()
    app.router.add_get("/", show)
    client = await aiohttp_client(app)

    async def lang(query: str = "", **headers: str) -> str:
        return await (await client.get(f"/?{query}", headers=headers)).text()

    assert await lang() == "en"
    assert await lang(**{"Accept-Language": "sw-KE,sw;q=0.9,en;q=0.5"}) == "sw"
    assert await lang("tenant=sw") == "sw"
    assert await lang("tenant=sw", Cookie="lang=en") == "en"
    assert await lang("tenant=en&lang=sw", Cookie="lang=en") == "sw"
    assert await lang("lang=xx") == "en"


async def test_static_assets_are_served_with_a_version(client):
    from hub.web.pages import STATIC_DIR

    name = sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file())[0]
    answer = await client.get(f"/static/{name}")
    assert answer.status == 200
    assert (await answer.read()) == (STATIC_DIR / name).read_bytes()
    missing = await client.get("/static/../hub.toml")
    assert missing.status in (403, 404)


async def test_chromium_renders_a_hub_page(page, client):  # noqa: F811
    base = str(client.make_url("")).rstrip("/")
    await page.goto(f"{base}/healthz")
    assert re.search(r'"status":\s*"ok"', await page.content())
