"""/v1/internal/pool (seed 004 section 7): the router's IP pools (``ranges``, ``next-pool``)."""

from __future__ import annotations

from aiohttp import web

from hub.services.router_resources import IP_POOL
from hub.web import responses as out
from hub.web.schemas import IpPoolBody
from hub.web.v1.router_crud import crud_routes

routes = web.RouteTableDef()
crud_routes(routes, "/v1/internal/pool", IP_POOL, IpPoolBody, out.V1IpPool, "ip_pool")
