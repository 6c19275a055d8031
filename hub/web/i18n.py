"""The words of the hub's pages, in every language they speak, from one catalogue.

``hub/web/locale/<lang>.toml`` holds a table per area (``[common]``, ``[dashboard]``,
``[captive]``) of ``key = "text with {placeholders}"``. English is complete by rule (a test
checks every other language has exactly its keys); a missing translation would fall back to
English rather than show a key. Pages get ``t("dashboard.sign_in")`` in their templates.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from functools import cache
from pathlib import Path

from aiohttp import web

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "sw")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "sw": "Kiswahili"}
LANGUAGE_COOKIE = "lang"

Translate = Callable[..., str]


def _flatten(table: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalogue(language: str) -> dict[str, str]:
    """Every string of one language, by dotted key (``dashboard.sign_in``)."""
    with (LOCALE_DIR / f"{language}.toml").open("rb") as source:
        return _flatten(tomllib.load(source))


def translator(language: str) -> Translate:
    """``t(key, **values)`` for a language; unknown keys raise KeyError (a typo fails tests)."""
    own, english = catalogue(language), catalogue(DEFAULT_LANGUAGE)

    def t(key: str, **values: object) -> str:
        text = own.get(key) or english[key]
        return text.format(**values) if values else text

    return t


def page_language(request: web.Request, tenant_language: str | None = None) -> str:
    """The language a page speaks: ``?lang=``, else the visitor's cookie, else the tenant's,
    else the browser's Accept-Language, else English."""
    for choice in (request.query.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if choice in LANGUAGES:
            return choice
    if tenant_language in LANGUAGES:
        return tenant_language
    for part in request.headers.get("Accept-Language", "").split(",")[:8]:
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE
