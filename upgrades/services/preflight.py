"""Preflight: measure what can be measured instead of ticking it (reachability, reported
versions, repository state), and record it on the matching checklist items."""

import pghistory
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from portal import access
from portal.dispatch import dispatch
from portal.models import User
from upgrades import drivers
from upgrades.choices import ItemState
from upgrades.models import UpgradeRequest
from upgrades.services.requests import log
from upgrades.workflow import EDITABLE_STATES, WorkflowError


def preflight_request(*, upgrade: UpgradeRequest, by: User) -> None:
    """Ask a worker to run the preflight of this request's deployment."""
    if not access.may(by, "request.preflight", organisation_id=upgrade.deployment.organisation_id):
        raise PermissionDenied
    if upgrade.state not in EDITABLE_STATES:
        raise WorkflowError("The checklist of this request is closed.")
    with transaction.atomic(), pghistory.context(user=by.pk):
        log(upgrade=upgrade, by=by, action="preflight_requested")
        dispatch("upgrades.preflight", upgrade.pk, about=f"request:{upgrade.pk}:preflight")


def _verdict(probes: list[drivers.Probe]) -> str:
    if not probes or not all(probe.available for probe in probes):
        return "unavailable"
    return "passed" if all(probe.reachable for probe in probes) else "failed"


def preflight_run(*, request_id: int) -> str:
    """Probe every server, then record the result; runs in a worker."""
    upgrade = UpgradeRequest.objects.select_related("deployment").get(pk=request_id)
    servers = list(upgrade.deployment.servers.order_by("group__position", "role", "hostname"))
    probes = drivers.probe_servers(servers)  # every server at once, through its driver
    verdict = _verdict(probes)
    result = {"at": timezone.now().isoformat(), "status": verdict, "servers": [probe.as_dict() for probe in probes]}
    with transaction.atomic():
        items = {item.key: item for item in upgrade.items.select_for_update().filter(key__in=["servers_reachable", "repository_validation"])}
        reachable = items.get("servers_reachable")
        if reachable is not None:
            reachable.preflight = result
            if verdict == "passed" and reachable.state in (ItemState.MISSING, ItemState.SENT_BACK):
                reachable.state = ItemState.PROVIDED
                reachable.evidence = "Measured by the preflight: " + "; ".join(
                    f"{p.hostname} {p.versions.get('cloudpaging', '?')}" for p in probes
                )
            reachable.save()
        repository = items.get("repository_validation")
        if repository is not None and all(p.repository_ok is not None for p in probes) and probes:
            repository.preflight = {**result, "status": "passed" if all(p.repository_ok for p in probes) else "failed"}
            repository.save(update_fields=["preflight"])
        log(upgrade=upgrade, by=None, action="preflight", reason=verdict)
    return verdict


