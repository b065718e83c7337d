"""A deployment's load balancer, and the lab's own API beside it.

- Paths under `/stream/` go to the stream pool, every other path to the admin pool, round robin
  over the members in the pool.
- With health checks, a member is in its pool while it passes them: every `check_interval`
  seconds `GET /health` must answer 200 within `check_timeout`; `fall` failures in a row take it
  out, `rise` successes in a row bring it back (the first check decides at once). Without health
  checks every member stays in the pool, so requests fail while a server is down (S6's
  "intermittent").
- `/_lb/status` is the load balancer's view of its members; `/_lab/...` injects faults, changes
  the operation time, reads the journal of operations received and the record of the pools
  (each member taken in or out, and when), and resets every server to a fresh install (the demo
  re-armed).
"""

import asyncio
import itertools

import aiohttp
from aiohttp import web

from upgrades.lab.control import FAULTS
from upgrades.lab.model import ADMIN, COMPONENTS, PUBLISHED, STREAM, new_state, now_iso
from upgrades.lab.runtime import LabDeployment, Member

LAB = web.AppKey("lab", LabDeployment)
SESSION = web.AppKey("session", aiohttp.ClientSession)
TURNS = web.AppKey("turns", dict)
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=10)
# Hop-by-hop headers are the balancer's own business, never forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}
routes = web.RouteTableDef()


def balancer_app(lab: LabDeployment) -> web.Application:
    app = web.Application()
    app[LAB] = lab
    app[TURNS] = {ADMIN: itertools.count(), STREAM: itertools.count()}
    app.cleanup_ctx.append(_client_session)
    app.add_routes(routes)
    # Last: whatever the lab does not answer itself goes to a member.
    app.router.add_route("*", "/{path:.*}", forward)
    return app


async def _client_session(app: web.Application):
    # No pooled keep-alive: a stopped member's listener stays up, and a fresh connection per
    # request is what a simple L7 balancer in front of four servers does anyway.
    app[SESSION] = aiohttp.ClientSession(timeout=FORWARD_TIMEOUT, connector=aiohttp.TCPConnector(force_close=True))
    yield
    await app[SESSION].close()


async def forward(request: web.Request) -> web.StreamResponse:
    """With health checks, a member that fails the request (no answer, or a 5xx as a stopping
    server gives) is passed over for the next healthy one, as nginx's `proxy_next_upstream` does:
    a server stopped between two checks costs no request. Without health checks the balancer
    knows of no other member to try: the request fails with the member."""
    lab = request.app[LAB]
    role = STREAM if request.path.startswith("/stream/") else ADMIN
    pool = lab.pool(role)
    if lab.spec.health_checks:
        pool = [member for member in pool if member.healthy]
    if not pool:
        return web.Response(status=503, text=f"No healthy server in the {role} pool")
    first = next(request.app[TURNS][role])
    turns = [pool[(first + offset) % len(pool)] for offset in range(len(pool) if lab.spec.health_checks else 1)]
    body = await request.read()
    for member in turns:
        answer = await _pass_on(request, member, body)
        if answer.status < 500 or member is turns[-1]:
            return answer
    return answer


async def _pass_on(request: web.Request, member: Member, body: bytes) -> web.Response:
    headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP}
    try:
        async with request.app[SESSION].request(
            request.method, f"http://{request.app[LAB].spec.host}:{member.port}{request.path_qs}",
            headers=headers, data=body, allow_redirects=False,
        ) as answer:
            content = await answer.read()
            kept = {name: value for name, value in answer.headers.items() if name.lower() not in HOP_BY_HOP}
            kept["X-Lab-Member"] = member.hostname
            return web.Response(status=answer.status, body=content, headers=kept)
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        return web.Response(status=502, text=f"{member.hostname} did not answer: {error.__class__.__name__}")


@routes.get("/_lb/status")
async def lb_status(request: web.Request) -> web.Response:
    lab = request.app[LAB]
    return web.json_response({
        "deployment": lab.spec.key,
        "health_checks": lab.spec.health_checks,
        "check_interval": lab.spec.check_interval, "rise": lab.spec.rise, "fall": lab.spec.fall,
        "schema": lab.state.schema, "schema_upgrading": lab.state.schema_upgrading,
        "op_seconds": lab.state.op_seconds,
        "members": [
            {
                "hostname": member.hostname, "role": member.role, "port": member.port,
                "in_pool": bool(member.healthy) or not lab.spec.health_checks,
                "healthy": member.healthy, "reason": member.reason, "checked_at": member.checked_at,
                "successes": member.successes, "failures": member.failures,
                "versions": lab.server(member.hostname).versions,
                "running": lab.server(member.hostname).running,
                "configured": lab.server(member.hostname).configured,
                "repository_ok": lab.server(member.hostname).repository_ok,
                "faults": lab.server(member.hostname).faults,
                "busy": lab.busy.get(member.hostname, ""),
            }
            for member in lab.members.values()
        ],
    })


@routes.get("/_lab/journal")
async def journal(request: web.Request) -> web.Response:
    lab = request.app[LAB]
    entries = [
        {"hostname": server.hostname, **entry}
        for server in lab.state.servers.values() for entry in server.journal
    ]
    return web.json_response({"journal": sorted(entries, key=lambda entry: entry["at"])})


@routes.get("/_lab/pool")
async def pool_changes(request: web.Request) -> web.Response:
    """Each time a member entered or left its pool, oldest first: whether a pool was ever empty,
    and when, reads from here."""
    lab = request.app[LAB]
    return web.json_response({"health_checks": lab.spec.health_checks, "changes": lab.pool_changes})


@routes.post("/_lab/settings")
async def change_settings(request: web.Request) -> web.Response:
    lab = request.app[LAB]
    body = await _json(request)
    try:
        seconds = float(body["op_seconds"])
    except (KeyError, TypeError, ValueError):
        raise web.HTTPBadRequest(text="Give op_seconds as a number of seconds") from None
    if seconds < 0:
        raise web.HTTPBadRequest(text="op_seconds cannot be negative")
    lab.state.op_seconds = seconds
    lab.save()
    return web.json_response({"op_seconds": seconds})


@routes.post("/_lab/reset")
async def reset(request: web.Request) -> web.Response:
    """Body: {"versions": {"cloudpaging": ..., "openjdk": ..., "tomcat": ...}, "deployment": its key
    (optional)}. Every server a fresh
    install of those versions, running, without faults, log or journal, on their schema; the
    operation time is kept. Refused (409) while an operation runs."""
    lab = request.app[LAB]
    body = await _json(request)
    versions = body.get("versions")
    if not isinstance(versions, dict) or set(versions) != set(COMPONENTS) or not all(
            isinstance(value, str) and value for value in versions.values()):
        raise web.HTTPBadRequest(text=f"Give versions of {', '.join(COMPONENTS)}")
    if body.get("deployment", lab.spec.key) != lab.spec.key:
        # Another portal's lab on these ports (two `make run`s on one machine): not ours to reset.
        raise web.HTTPConflict(text=f"This is the lab of {lab.spec.key}, not of {body['deployment']}")
    if lab.busy:
        raise web.HTTPConflict(text=f"Operations are under way on {', '.join(sorted(lab.busy))}")
    op_seconds = lab.state.op_seconds
    lab.spec.versions = dict(versions)
    lab.state = new_state(lab.spec)
    lab.state.op_seconds = op_seconds
    for hostname in lab.state.servers:
        lab.release(hostname).set()  # nothing waits on a fault that is gone
        lab.releases.pop(hostname, None)
    lab.store.forget_logs(lab.state.key)
    lab.save_now()
    return web.json_response({"deployment": lab.spec.key, "versions": lab.spec.versions})


@routes.post("/_lab/servers/{hostname}/faults")
async def inject_fault(request: web.Request) -> web.Response:
    """Body: {"fault": one of FAULTS, "reason": "...", "seconds": n (slow_health)}."""
    lab = request.app[LAB]
    server = _server(request)
    body = await _json(request)
    fault, reason = body.get("fault"), str(body.get("reason") or "injected by the lab")
    if fault not in FAULTS:
        raise web.HTTPBadRequest(text=f"fault must be one of {', '.join(FAULTS)}")
    if fault in ("fail_next", "hang"):
        server.faults[fault] = reason
    elif fault == "slow_health":
        server.faults[fault] = float(body.get("seconds") or 2 * lab.spec.check_timeout + 1)
    elif fault == "crash":
        server.running = False
        lab.log(server, f"ERROR: the Cloudpaging Server service crashed ({reason})")
    elif fault == "break_repository":
        application = server.applications[0] if server.applications else None
        if application is not None:
            application["status"] = "package file missing: the .stp file was moved"
    lab.save()
    return web.json_response({"hostname": server.hostname, "faults": server.faults})


@routes.delete("/_lab/servers/{hostname}/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Clears the waiting faults, releases a hung operation and repairs the repository; a crashed
    service stays down until it is started (as it would)."""
    lab = request.app[LAB]
    server = _server(request)
    server.faults.clear()
    for application in server.applications:
        application["status"] = PUBLISHED
    lab.release(server.hostname).set()
    lab.save()
    return web.json_response({"hostname": server.hostname, "faults": server.faults})


def _server(request: web.Request):
    lab = request.app[LAB]
    hostname = request.match_info["hostname"]
    if hostname not in lab.state.servers:
        raise web.HTTPNotFound(text=f"No server {hostname} in {lab.spec.key}")
    return lab.server(hostname)


async def _json(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="The body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="The body must be a JSON object")
    return body


# -- Active health checks ----------------------------------------------------------------------


async def check_health(lab: LabDeployment, session: aiohttp.ClientSession) -> None:
    """Check every member every `check_interval` seconds, for as long as the fleet runs."""
    timeout = aiohttp.ClientTimeout(total=lab.spec.check_timeout)
    while True:
        await asyncio.gather(*(_check(lab, member, session, timeout) for member in lab.members.values()))
        await asyncio.sleep(lab.spec.check_interval)


async def _check(lab: LabDeployment, member: Member, session: aiohttp.ClientSession, timeout) -> None:
    try:
        async with session.get(f"http://{lab.spec.host}:{member.port}/health", timeout=timeout) as answer:
            passed = answer.status == 200
            reason = "ok" if passed else (await answer.json()).get("reason", f"HTTP {answer.status}")
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        passed, reason = False, f"no answer within {lab.spec.check_timeout:g} s" if isinstance(
            error, asyncio.TimeoutError) else f"check failed: {error.__class__.__name__}"
    member.reason, member.checked_at = reason, now_iso()
    was = member.healthy
    if passed:
        member.successes, member.failures = member.successes + 1, 0
        if member.healthy is None or (not member.healthy and member.successes >= lab.spec.rise):
            member.healthy = True
    else:
        member.failures, member.successes = member.failures + 1, 0
        if member.healthy is None or (member.healthy and member.failures >= lab.spec.fall):
            member.healthy = False
    if member.healthy != was:
        lab.pool_changed(member)
