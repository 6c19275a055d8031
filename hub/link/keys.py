"""Typed application keys of the agent link (re-exported by hub.link)."""

from __future__ import annotations

from aiohttp import web

from hub.link.dispatcher import CommandDispatcher
from hub.link.enrollment import CredentialWatch
from hub.link.registry import LinkRegistry

DISPATCHER: web.AppKey[CommandDispatcher] = web.AppKey("link_dispatcher", CommandDispatcher)
LINK_REGISTRY: web.AppKey[LinkRegistry] = web.AppKey("link_registry", LinkRegistry)
INSTANCE: web.AppKey[str] = web.AppKey("link_instance", str)
CREDENTIAL_WATCH: web.AppKey[CredentialWatch] = web.AppKey("link_credentials", CredentialWatch)
