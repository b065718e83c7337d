"""One lab server's HTTP listener: its health check, the functional endpoints of its role, and
the agent the lab driver calls.

An agent operation answers a stream of JSON lines as it works: `{"line": ...}` for each log line,
then `{"result": {"ok", "message", "data"}}`. A caller that goes away does not stop the operation,
as closing an SSH session would not stop an installer already running.
"""

import asyncio
import json
import secrets

from aiohttp import web

from upgrades.lab.model import ADMIN, PUBLISHED, STREAM
from upgrades.lab.operations import OPERATIONS, perform
from upgrades.lab.runtime import LabDeployment

LAB = web.AppKey("lab", LabDeployment)
HOSTNAME = web.AppKey("hostname", str)
JSON_LINES = "application/x-ndjson"
routes = web.RouteTableDef()


def server_app(lab: LabDeployment, hostname: str) -> web.Application:
    app = web.Application()
    app[LAB], app[HOSTNAME] = lab, hostname
    app.add_routes(routes)
    return app


def _lab(request: web.Request):
    lab = request.app[LAB]
    return lab, lab.server(request.app[HOSTNAME])


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    lab, server = _lab(request)
    slow = server.faults.get("slow_health")
    if slow:
        await asyncio.sleep(float(slow))
    healthy, reason = lab.state.health_of(server)
    return web.json_response(
        {"healthy": healthy, "reason": reason, "version": server.versions.get("cloudpaging", "")},
        status=200 if healthy else 503,
    )


def _serving(request: web.Request, role: str) -> None:
    """Functional endpoints answer only while the server would pass its health check."""
    lab, server = _lab(request)
    if server.role != role:
        raise web.HTTPNotFound(text=f"{server.hostname} is not a {role} server")
    healthy, reason = lab.state.health_of(server)
    if not healthy:
        raise web.HTTPServiceUnavailable(text=f"{server.hostname}: {reason}")


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    _serving(request, ADMIN)
    _, server = _lab(request)
    return web.Response(text=f"<h1>Cloudpaging Server</h1><p>Served by {server.hostname}</p>", content_type="text/html")


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    _serving(request, ADMIN)
    form = await request.post()
    if not form.get("username") or not form.get("password"):
        raise web.HTTPUnauthorized(text="Wrong user name or password")
    return web.json_response({"session": secrets.token_urlsafe(16), "user": form["username"]})


@routes.get("/navigation")
async def navigation(request: web.Request) -> web.Response:
    _serving(request, ADMIN)
    if not request.headers.get("X-Session"):
        raise web.HTTPUnauthorized(text="Log in first")
    return web.json_response({"sections": ["Applications", "Packages", "Licences", "Servers", "Reports"]})


@routes.get("/admin/version")
async def admin_version(request: web.Request) -> web.Response:
    _serving(request, ADMIN)
    _, server = _lab(request)
    return web.json_response({"version": server.versions["cloudpaging"], "server": server.hostname})


@routes.get("/stream/apps")
async def stream_apps(request: web.Request) -> web.Response:
    _serving(request, STREAM)
    _, server = _lab(request)
    return web.json_response({"applications": server.applications})


@routes.get("/stream/launch/{application}")
async def launch(request: web.Request) -> web.Response:
    _serving(request, STREAM)
    _, server = _lab(request)
    name = request.match_info["application"]
    found = next((app for app in server.applications if app["name"] == name), None)
    if found is None:
        raise web.HTTPNotFound(text=f"No application {name!r} is published")
    if found["status"] != PUBLISHED:
        raise web.HTTPConflict(text=f"{name} cannot launch: {found['status']}")
    return web.json_response({"launched": name, "server": server.hostname})


@routes.get("/agent/status")
async def status(request: web.Request) -> web.Response:
    lab, server = _lab(request)
    healthy, reason = lab.state.health_of(server)
    return web.json_response({
        "hostname": server.hostname, "role": server.role, "versions": server.versions,
        "configured": server.configured, "running": server.running, "healthy": healthy, "reason": reason,
        "schema": lab.state.schema, "busy": lab.busy.get(server.hostname, ""),
    })


@routes.get("/agent/repository")
async def repository(request: web.Request) -> web.Response:
    _, server = _lab(request)
    return web.json_response({"ok": server.repository_ok, "applications": server.applications})


@routes.get("/agent/log")
async def deployment_log(request: web.Request) -> web.StreamResponse:
    """The server's deployment log; `?follow=1` keeps the answer open for new lines."""
    lab, server = _lab(request)
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    queue: asyncio.Queue = asyncio.Queue()
    follow = request.query.get("follow") == "1"
    if follow:
        lab.followers.setdefault(server.hostname, set()).add(queue)
    try:
        for line in list(server.log):
            await response.write(f"{line}\n".encode())
        while follow:
            await response.write(f"{await queue.get()}\n".encode())
    except ConnectionResetError:
        pass
    finally:
        lab.followers.get(server.hostname, set()).discard(queue)
    return response


@routes.post("/agent/{operation}")
async def operate(request: web.Request) -> web.StreamResponse:
    operation = request.match_info["operation"]
    if operation not in OPERATIONS:
        raise web.HTTPNotFound(text=f"No agent operation {operation!r}")
    try:
        params = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text="The body must be JSON") from None
    lab, server = _lab(request)
    response = web.StreamResponse(headers={"Content-Type": JSON_LINES})
    await response.prepare(request)
    gone = False

    async def write(message: dict) -> None:
        nonlocal gone
        if gone:
            return
        try:
            await response.write((json.dumps(message) + "\n").encode())
        except (ConnectionResetError, RuntimeError):
            gone = True  # the caller left; the operation goes on, as it would on a real server

    async def emit(line: str) -> None:
        await write({"line": line})

    # Shielded: an operation under way finishes even if the caller's connection drops.
    outcome = await asyncio.shield(perform(lab, server, operation, params if isinstance(params, dict) else {}, emit))
    await write({"result": outcome.as_dict()})
    if not gone:
        await response.write_eof()
    return response
