"""S12's automatic functionality tests, through the load balancer as users reach the service:
log-in, basic navigation, an application launch, and the admin interface reporting the expected
version. Each is timed; a failure says what was seen. No database here: `services.checks`
records the results."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from upgrades.choices import FunctionalityCheck

TIMEOUT = 10.0
# The lab's test account (S11's "test user account"); any user name and password log in there.
TEST_USER = ("test.user", "test-password")


@dataclass(frozen=True)
class CheckOutcome:
    kind: str
    passed: bool
    detail: str
    duration_ms: float


class _Failed(Exception):
    pass


async def _login(client: httpx.AsyncClient, context: dict) -> str:
    username, password = context["credentials"]
    response = await client.post("/login", data={"username": username, "password": password})
    if response.status_code != 200:
        raise _Failed(f"log-in answered HTTP {response.status_code}: {response.text[:120]}")
    context["session"] = response.json()["session"]
    return f"logged in as {username}"


async def _navigation(client: httpx.AsyncClient, context: dict) -> str:
    if "session" not in context:
        raise _Failed("no session: the log-in failed")
    response = await client.get("/navigation", headers={"X-Session": context["session"]})
    if response.status_code != 200 or not response.json().get("sections"):
        raise _Failed(f"navigation answered HTTP {response.status_code}")
    return "sections: " + ", ".join(response.json()["sections"])


async def _launch(client: httpx.AsyncClient, context: dict) -> str:
    listed = await client.get("/stream/apps")
    if listed.status_code != 200:
        raise _Failed(f"the application list answered HTTP {listed.status_code}")
    applications = listed.json()["applications"]
    if not applications:
        raise _Failed("no application is published")
    name = context.get("application") or applications[0]["name"]
    response = await client.get(f"/stream/launch/{name}")
    if response.status_code != 200:
        raise _Failed(f"{name} did not launch: HTTP {response.status_code} {response.text[:120]}")
    return f"{name} launched"


async def _admin_version(client: httpx.AsyncClient, context: dict) -> str:
    response = await client.get("/admin/version")
    if response.status_code != 200:
        raise _Failed(f"the admin interface answered HTTP {response.status_code}")
    version = response.json()["version"]
    if version != context["expected_version"]:
        raise _Failed(f"the admin interface reports {version}, not {context['expected_version']}")
    return f"version {version}"


CHECKS = (
    (FunctionalityCheck.LOGIN, _login),
    (FunctionalityCheck.NAVIGATION, _navigation),
    (FunctionalityCheck.LAUNCH, _launch),
    (FunctionalityCheck.ADMIN_VERSION, _admin_version),
)


async def automatic_checks_async(*, service_url: str, expected_version: str, application: str = "",
                                 credentials: tuple[str, str] = TEST_USER, timeout: float = TIMEOUT) -> list[CheckOutcome]:
    context = {"expected_version": expected_version, "application": application, "credentials": credentials}
    outcomes = []
    async with httpx.AsyncClient(base_url=service_url.rstrip("/"), timeout=timeout, trust_env=False) as client:
        for kind, check in CHECKS:
            started = time.perf_counter()
            try:
                passed, detail = True, await check(client, context)
            except _Failed as failure:
                passed, detail = False, str(failure)
            except httpx.HTTPError as error:
                passed, detail = False, f"no answer from {service_url}: {error.__class__.__name__}"
            except (ValueError, KeyError):
                passed, detail = False, "the answer was not what the service gives"
            outcomes.append(CheckOutcome(kind=kind, passed=passed, detail=detail,
                                         duration_ms=(time.perf_counter() - started) * 1000))
    return outcomes


def automatic_checks(**options) -> list[CheckOutcome]:
    """`automatic_checks_async` for synchronous callers (in a loop of its own)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, automatic_checks_async(**options)).result()
