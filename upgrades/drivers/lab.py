"""The lab driver: the lab fleet's agent over HTTP (`upgrades.lab.agent`); whether a server is in
its pool is asked of the lab's load balancer (`/_lb/status`), as an engineer would ask theirs."""

import json
import ssl
from functools import cache

import httpx

from upgrades.drivers.base import CHANGES, DriverError, Emit, Operation, Outcome, Target

CONNECT_TIMEOUT = 3.0


@cache
def _unused_tls() -> ssl.SSLContext:
    # The agent speaks plain HTTP on loopback; handing httpx a ready context spares it loading
    # the CA bundle for every client (tens of milliseconds).
    return ssl.create_default_context()


class LabDriver:
    async def perform(self, target: Target, operation: Operation, params: dict, emit: Emit,
                      timeout: float) -> Outcome:
        if not target.port:
            raise DriverError(f"{target.hostname} has no agent port registered")
        base = f"http://{target.address}:{target.port}"
        limits = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
        async with httpx.AsyncClient(base_url=base, timeout=limits, trust_env=False, verify=_unused_tls()) as client:
            try:
                if operation in CHANGES:
                    return await _change(client, operation, params, emit)
                if operation == Operation.POOL:
                    return await _in_pool(client, target)
                return await _ask(client, operation)
            except httpx.ConnectError:
                raise DriverError(f"Cannot reach the agent of {target.hostname} at {base}: connection refused") from None
            except httpx.TimeoutException:
                raise DriverError(f"The agent of {target.hostname} did not answer within {timeout:g} s") from None
            except httpx.HTTPError as error:
                raise DriverError(f"The agent of {target.hostname} failed: {error.__class__.__name__}: {error}") from None


async def _change(client: httpx.AsyncClient, operation: Operation, params: dict, emit: Emit) -> Outcome:
    async with client.stream("POST", f"/agent/{operation.value}", json=params) as response:
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            raise DriverError(f"The agent refused {operation}: HTTP {response.status_code} {body[:200]}")
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            message = json.loads(line)
            if "line" in message:
                emit(message["line"])
            elif "result" in message:
                result = message["result"]
                return Outcome(ok=bool(result["ok"]), message=result["message"], data=result.get("data") or {})
    raise DriverError(f"The agent closed the connection before {operation} ended")


async def _ask(client: httpx.AsyncClient, operation: Operation) -> Outcome:
    if operation == Operation.HEALTH:
        response = await client.get("/health")
        answer = _json(response)
        healthy = response.status_code == 200
        return Outcome(ok=healthy, message="Healthy" if healthy else f"Unhealthy: {answer.get('reason', '')}",
                       data={"healthy": healthy, "reason": answer.get("reason", "")})
    if operation == Operation.VERSIONS:
        answer = _json(await client.get("/agent/status"), required=True)
        return Outcome(ok=True, message=", ".join(f"{k} {v}" for k, v in answer["versions"].items()),
                       data={key: answer[key] for key in ("versions", "running", "configured")})
    if operation == Operation.REPOSITORY:
        answer = _json(await client.get("/agent/repository"), required=True)
        broken = [app["name"] for app in answer["applications"] if app["status"] != "published"]
        message = "Every application is published" if not broken else f"Not published: {', '.join(broken)}"
        return Outcome(ok=True, message=message, data={"valid": answer["ok"], "applications": answer["applications"]})
    raise DriverError(f"The lab driver cannot {operation}")


async def _in_pool(client: httpx.AsyncClient, target: Target) -> Outcome:
    """The balancer's answer where its health checks decide the pool; else the server's own
    health check (a balancer without them sends users to every member)."""
    if target.balancer:
        try:
            response = await client.get(f"{target.balancer.rstrip('/')}/_lb/status")
        except httpx.HTTPError as error:
            raise DriverError(
                f"The load balancer at {target.balancer} did not answer: {error.__class__.__name__}") from None
        if response.status_code != 200:
            raise DriverError(f"The load balancer at {target.balancer} answered HTTP {response.status_code}")
        status = _json(response, required=True)
        if status.get("health_checks"):
            member = next((m for m in status.get("members", []) if m.get("hostname") == target.hostname), None)
            if member is None:
                raise DriverError(f"The load balancer at {target.balancer} has no member {target.hostname}")
            in_pool = bool(member["in_pool"])
            reason = member["reason"]
            if not in_pool and reason == "ok":
                reason = (f"{member.get('successes', 0)} good health checks in a row "
                          f"of the {status.get('rise')} it needs")
            return Outcome(ok=in_pool, message="In the load balancer's pool" if in_pool else
                           f"Out of the load balancer's pool: {reason}",
                           data={"in_pool": in_pool, "reason": reason, "source": "balancer"})
    health = await _ask(client, Operation.HEALTH)
    return Outcome(ok=health.ok, message=health.message,
                   data={"in_pool": health.ok, "reason": health.data["reason"], "source": "health"})


def _json(response: httpx.Response, *, required: bool = False) -> dict:
    if required and response.status_code != 200:
        raise DriverError(f"The agent answered HTTP {response.status_code}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError:
        if required:
            raise DriverError("The agent's answer is not JSON") from None
        return {}
