"""A client for a lab deployment's own API on its load balancer's port: what the load balancer
sees, injected faults, the operation time, the journal, the record of the pools. Used by the
staff page, tests and benches."""

import httpx

FAULTS = ("fail_next", "hang", "slow_health", "crash", "break_repository")


class LabError(Exception):
    """The lab fleet is not there, or refused the request."""


class LabControl:
    def __init__(self, url: str, *, timeout: float = 3.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            response = httpx.request(method, f"{self.url}{path}", json=body, timeout=self.timeout, trust_env=False)
        except httpx.HTTPError as error:
            raise LabError(f"The lab fleet at {self.url} did not answer ({error.__class__.__name__})") from None
        if response.status_code != 200:
            raise LabError(f"The lab fleet refused: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    def status(self) -> dict:
        return self._call("GET", "/_lb/status")

    def member(self, hostname: str) -> dict:
        return next(member for member in self.status()["members"] if member["hostname"] == hostname)

    def inject(self, hostname: str, fault: str, *, reason: str = "", seconds: float | None = None) -> dict:
        body = {"fault": fault, "reason": reason} | ({"seconds": seconds} if seconds is not None else {})
        return self._call("POST", f"/_lab/servers/{hostname}/faults", body)

    def clear(self, hostname: str) -> dict:
        return self._call("DELETE", f"/_lab/servers/{hostname}/faults")

    def set_op_seconds(self, seconds: float) -> dict:
        return self._call("POST", "/_lab/settings", {"op_seconds": seconds})

    def reset(self, versions: dict[str, str], *, deployment: str | None = None) -> dict:
        """Every server back to a fresh install of `versions` (the demo re-armed); refused when
        the lab on this port is not `deployment`'s (its key)."""
        return self._call("POST", "/_lab/reset", {"versions": versions} | ({"deployment": deployment} if deployment else {}))

    def journal(self) -> list[dict]:
        return self._call("GET", "/_lab/journal")["journal"]

    def pool_changes(self) -> list[dict]:
        """Each member taken into its pool or out of it by the health checks, oldest first
        (at, hostname, role, in_pool, reason)."""
        return self._call("GET", "/_lab/pool")["changes"]
