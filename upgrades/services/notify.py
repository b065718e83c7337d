"""Who hears about what happens to a request, through the outbox (portal.notices)."""

from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from portal import recipients
from portal.choices import Role
from portal.models import User
from portal.notices import notice_enqueue
from upgrades.models import RequestEvent, UpgradeRequest


def _link(upgrade: UpgradeRequest) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("request-detail", args=[upgrade.pk])


def customer_addresses(upgrade: UpgradeRequest) -> list[str]:
    """The organisation's portal users and whoever asked for the upgrade, each once."""
    users = User.objects.filter(
        Q(pk=upgrade.requested_by_id)
        | Q(is_active=True, role=Role.CUSTOMER, contact__organisation_id=upgrade.deployment.organisation_id)
    ).select_related("contact")
    return list(recipients.of_users(users))


def support_addresses(upgrade: UpgradeRequest) -> list[str]:
    if upgrade.assignee_id:
        return [upgrade.assignee.email]
    return list(User.objects.filter(is_active=True, role=Role.SUPPORT).values_list("email", flat=True))


def notify(*, event: RequestEvent, to: list[str], subject: str, lines: list[str]) -> None:
    upgrade = event.request
    body = "\n\n".join(
        [
            *lines,
            f"Deployment: {upgrade.deployment}\nUpgrade: {upgrade.from_version} to {upgrade.release.version} "
            f"({upgrade.get_kind_display().lower()})",
            f"Open the request: {_link(upgrade)}",
        ]
    )
    notice_enqueue(
        key=f"request-event:{event.pk}",
        topic=f"upgrades.upgraderequest:{upgrade.pk}",
        recipients=to,
        subject=f"[{upgrade.deployment.organisation.name}] {subject}",
        body=body,
    )
