"""Every route answers with and without its trailing slash: the seeds' clients use both.

``add_slash_aliases`` runs at startup, after every module has added its routes and before the
router freezes, and registers for each resource an alias that matches the other spelling and
resolves to the very same route (same handler, same metrics label). Nothing redirects, so a
POST body is never lost; a spelling some module registered itself is left to that module.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from aiohttp.web_urldispatcher import (
    AbstractResource,
    AbstractRoute,
    DynamicResource,
    PlainResource,
    _Resolve,
)
from yarl import URL


def other_spelling(path: str) -> str:
    return path[:-1] if path.endswith("/") else path + "/"


class SlashAlias(AbstractResource):
    """Matches ``target``'s path spelled with (or without) the trailing slash it lacks (has)."""

    def __init__(self, target: PlainResource | DynamicResource) -> None:
        super().__init__()
        self._target = target
        self._canonical = other_spelling(target.canonical)
        self._with_slash = self._canonical.endswith("/")

    @property
    def target(self) -> AbstractResource:
        return self._target

    @property
    def canonical(self) -> str:
        return self._canonical

    def url_for(self, **kwargs: str) -> URL:
        url = self._target.url_for(**kwargs)
        return url.with_path(other_spelling(url.raw_path), encoded=True)

    def add_prefix(self, prefix: str) -> None:
        raise RuntimeError("slash aliases are added after every route, never prefixed")

    def get_info(self) -> dict[str, object]:
        return {"alias_of": self._target.canonical}

    def raw_match(self, path: str) -> bool:
        return False

    async def resolve(self, request: web.Request) -> _Resolve:
        path = request.rel_url.raw_path
        if path.endswith("/") != self._with_slash or path == "/":
            return None, set()
        twin = request.clone(rel_url=request.rel_url.with_path(other_spelling(path), encoded=True))
        return await self._target.resolve(twin)

    def __len__(self) -> int:
        return len(self._target)

    def __iter__(self) -> Iterator[AbstractRoute]:
        return iter(self._target)


async def add_slash_aliases(app: web.Application) -> None:
    """on_startup: an alias for every plain and dynamic resource lacking its other spelling."""
    router = app.router
    resources = [r for r in router.resources() if isinstance(r, PlainResource | DynamicResource)]
    taken = {r.canonical for r in router.resources()}
    for resource in resources:
        if resource.canonical != "/" and other_spelling(resource.canonical) not in taken:
            router.register_resource(SlashAlias(resource))
