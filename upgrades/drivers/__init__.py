"""Drivers reach a registered server (S12, S13). One interface; implementations per
`portal.choices.Driver`. Until a driver is installed for a kind of server, asking it anything
answers honestly that it is not available: never a made-up pass."""

from dataclasses import dataclass, field

from portal.models import Server


@dataclass(frozen=True)
class Probe:
    """What a driver could measure of one server."""

    hostname: str
    available: bool  # False: no driver can measure this server yet
    reachable: bool | None = None
    versions: dict[str, str] = field(default_factory=dict)
    repository_ok: bool | None = None
    message: str = ""

    def as_dict(self) -> dict:
        return {
            "hostname": self.hostname, "available": self.available, "reachable": self.reachable,
            "versions": self.versions, "repository_ok": self.repository_ok, "message": self.message,
        }


_DRIVERS: dict[str, object] = {}


def probe(server: Server) -> Probe:
    driver = _DRIVERS.get(server.driver)
    if driver is None:
        return Probe(
            hostname=server.hostname, available=False,
            message=f"Not available: the {server.get_driver_display()} driver cannot measure servers yet.",
        )
    return driver.probe(server)
