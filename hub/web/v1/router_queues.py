"""/v1/internal/queue (seed 004 section 7): the router's simple queues (``target``,
``max-limit``, ``limit-at``, ``burst-*``, each ``upload/download``)."""

from __future__ import annotations

from aiohttp import web

from hub.services.router_resources import SIMPLE_QUEUE
from hub.web import responses as out
from hub.web.schemas import SimpleQueueBody
from hub.web.v1.router_crud import crud_routes

routes = web.RouteTableDef()
crud_routes(routes, "/v1/internal/queue", SIMPLE_QUEUE, SimpleQueueBody, out.V1SimpleQueue, "queue")
