"""Who hears about what happens to a request, through the outbox (portal.notices)."""

from django.conf import settings
from django.urls import reverse

from portal.choices import Role
from portal.models import User
from portal.notices import notice_enqueue
from upgrades.models import RequestEvent, UpgradeRequest


def _link(request: UpgradeRequest) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("request-detail", args=[request.pk])


def customer_addresses(request: UpgradeRequest) -> list[str]:
    users = User.objects.filter(
        is_active=True, role=Role.CUSTOMER, contact__organisation_id=request.deployment.organisation_id
    )
    return [request.requested_by.email, *users.values_list("email", flat=True)]


def support_addresses(request: UpgradeRequest) -> list[str]:
    if request.assignee_id:
        return [request.assignee.email]
    return list(User.objects.filter(is_active=True, role=Role.SUPPORT).values_list("email", flat=True))


def notify(*, event: RequestEvent, to: list[str], subject: str, lines: list[str]) -> None:
    request = event.request
    body = "\n\n".join(
        [
            *lines,
            f"Deployment: {request.deployment}\nUpgrade: {request.from_version} to {request.release.version} "
            f"({request.get_kind_display().lower()})",
            f"Open the request: {_link(request)}",
        ]
    )
    notice_enqueue(
        key=f"request-event:{event.pk}",
        topic=f"upgrades.upgraderequest:{request.pk}",
        recipients=to,
        subject=f"[{request.deployment.organisation.name}] {subject}",
        body=body,
    )
