"""The prerequisite checklist a deployment calls for (S9, S10, S11), as data.

`items_for` turns the facts of a request (deployment, contacts, servers, kind) into item specs,
each with a stable `key`. The checklist service matches specs to stored items by key, so
regenerating after a change of facts keeps what was provided and reviewed.
"""

from dataclasses import dataclass

from portal.choices import AVAILABLE_FOR_WINDOW, ContactRole
from portal.models import Contact, Deployment, Server
from upgrades.choices import ItemSection, UpgradeKind


@dataclass(frozen=True)
class ItemSpec:
    key: str
    section: str
    title: str
    guidance: str
    server_id: int | None = None
    required: bool = True
    # Only the preflight fills it in: measured, never ticked.
    measured: bool = False
    # Filled in from what the portal already knows (contacts, load balancer facts).
    known_evidence: str = ""


def _contact_items(deployment: Deployment, contacts: list[Contact]) -> list[ItemSpec]:
    specs = []
    for role in ContactRole:
        if role == ContactRole.LOAD_BALANCER_ADMIN and not deployment.has_load_balancer:
            continue
        holders = [contact for contact in contacts if role in contact.roles]
        when = "available for the whole window" if role == ContactRole.LEAD else (
            "available during the window" if role in AVAILABLE_FOR_WINDOW else "contactable in case of issues"
        )
        specs.append(
            ItemSpec(
                key=f"contact:{role.value}",
                section=ItemSection.CONTACTS,
                title=f"{role.label}, {when}",
                guidance=(
                    "Taken from your organisation's contacts. If nobody holds this role, add or edit a contact: "
                    "support may refuse to proceed without it (S10)."
                ),
                known_evidence="; ".join(
                    f"{contact.name} <{contact.email}>{', ' + contact.phone if contact.phone else ''}" for contact in holders
                ),
            )
        )
    return specs


def _tls_list(tls_versions) -> str:
    """"1.0 and 1.1", "1.0, 1.1 and 1.2"."""
    ordered = sorted(tls_versions)
    return ordered[0] if len(ordered) == 1 else ", ".join(ordered[:-1]) + " and " + ordered[-1]


def items_for(
    *, deployment: Deployment, kind: str, contacts: list[Contact], servers: list[Server],
    target: str = "", dropped_tls: frozenset[str] = frozenset(),
) -> list[ItemSpec]:
    """`dropped_tls`: the TLS versions the releases up to `target` no longer offer."""
    specs = _contact_items(deployment, contacts)
    specs += [
        ItemSpec(
            "remote_access", ItemSection.ACCESS, "Remote access method agreed",
            "How the engineer reaches your servers (the method already used for support, or a new one).",
        ),
        ItemSpec(
            "test_machine", ItemSection.ACCESS, "Test machine and test user account",
            "A machine the engineer can use to test launches, and the account to log in with.",
        ),
        ItemSpec(
            "installation_files", ItemSection.FILES, "Installation files on an accessible share, or internet access",
            "The path of the share holding the Cloudpaging Server installers, or confirm the servers can reach the internet.",
        ),
    ]
    if deployment.is_virtual:
        specs.append(ItemSpec(
            "vm_snapshots", ItemSection.BACKUPS, "VM snapshots immediately before the upgrade",
            "Who takes the snapshots of every server right before the window starts, and how they can be restored.",
        ))
    if kind == UpgradeKind.MAJOR:
        specs.append(ItemSpec(
            "streamdb_backup", ItemSection.BACKUPS, "Full backup of the StreamDB database",
            "A major upgrade changes the database schema: a full backup must be taken before it. "
            "Our engineer can take it if given the access and permissions.",
        ))
    specs.append(ItemSpec(
        "repository_validation", ItemSection.REPOSITORY, "Repository validated",
        "Every application published in AppsAnywhere has a good Publishing Status in Cloudpaging Server, and no "
        ".stp file has been moved. Applications are republished after the upgrade.",
    ))
    specs += [
        ItemSpec(
            f"directory_backup:{server.pk}", ItemSection.BACKUPS, f"Backup of the relevant directories on {server.hostname}",
            "Support copies the relevant directories of each server before the upgrade; confirm where the copy may go.",
            server_id=server.pk,
        )
        for server in servers
    ]
    if servers:
        specs.append(ItemSpec(
            "servers_reachable", ItemSection.SERVERS, "Servers reachable at the expected versions",
            "Measured by the preflight: every registered server answers through its driver and reports its versions.",
            required=False, measured=True,
        ))
    fact = f"Your records say: {deployment.load_balancer_label} allows TLS {deployment.min_tls_version} and later."
    if deployment.flags_legacy_tls:
        # S9: flagged to support, and judged by people: never filled in from the records.
        specs.append(ItemSpec(
            "a10_legacy_tls", ItemSection.LOAD_BALANCER, "A10 load balancer allowing old TLS versions: what you will do",
            f"{fact} Older A10 load balancers using old ciphers (TLS 1.0) have problems with the TLS versions of "
            "Cloudpaging Server (S9). Say what you will do about it (for example move the service to a TLS 1.2 "
            "profile, and when); support reviews it before the upgrade.",
        ))
    still_allowed = {version for version in dropped_tls if version >= deployment.min_tls_version}
    if deployment.has_load_balancer and still_allowed:
        gone = _tls_list(still_allowed)
        specs.append(ItemSpec(
            "lb_tls_dropped", ItemSection.LOAD_BALANCER,
            f"Load balancer ciphers changed: {target} no longer offers TLS {gone}",
            f"{fact} Cloudpaging Server {target} no longer offers TLS {gone}: change the load balancer's ciphers "
            "(its SSL/TLS profile) so that clients and health checks use a version the release still offers, then "
            "confirm here what was changed and when. Approval waits for support to accept it.",
        ))
    return specs
