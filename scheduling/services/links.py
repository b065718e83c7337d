"""Scheduling links (S8): issued by support for an approved request only; opened by the
customer's own users; expiring and revocable; every issue, opening and revocation logged."""

from datetime import timedelta

import pghistory
from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from portal import access
from portal.models import User
from portal.workflow import WorkflowError
from scheduling.models import SchedulingLink
from scheduling.models.links import SALT
from upgrades.choices import FINISHED_REQUEST_STATES, RequestState
from upgrades.models import UpgradeRequest
from upgrades.services import notify
from upgrades.services.requests import log

class LinkRefused(Exception):
    """The link cannot be used: the message says why, in words for the customer."""


def link_token(link: SchedulingLink) -> str:
    return link.token


def link_issue(*, upgrade: UpgradeRequest, by: User) -> SchedulingLink:
    if not access.may(by, "link.manage", organisation_id=upgrade.deployment.organisation_id):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        locked = UpgradeRequest.objects.select_for_update().get(pk=upgrade.pk)
        if locked.state != RequestState.APPROVED:
            raise WorkflowError("A scheduling link exists only once the prerequisites are approved (S8).")
        if locked.deployment.organisation.is_cloud:
            # S3: the vendor plans a cloud customer's window; there is nothing to book.
            raise WorkflowError("Cloud-hosted upgrades are planned by the vendor: use the release's cloud plan, not a link.")
        if locked.windows.upgrades().holding().exists():
            # The link books the window: with one booked, it is moved or cancelled instead.
            raise WorkflowError("This upgrade has a booked maintenance window: move or cancel that window instead of "
                                "issuing a new link.")
        # A new link replaces the old ones: only the latest works.
        locked.scheduling_links.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        link = SchedulingLink.objects.create(
            request=locked, issued_by=by, expires_at=timezone.now() + timedelta(days=settings.SCHEDULING_LINK_DAYS)
        )
        event = log(upgrade=locked, by=by, action="link_issued")
        notify.notify(
            event=event, to=notify.customer_addresses(locked), subject="Book your maintenance window",
            lines=["Your upgrade is approved. Choose a maintenance window with this link:", link.url,
                   f"The link is valid until {link.expires_at:%d %B %Y}."],
        )
        return link


def link_revoke(*, link: SchedulingLink, by: User) -> None:
    if not access.may(by, "link.manage", organisation_id=link.request.deployment.organisation_id):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        if SchedulingLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            log(upgrade=link.request, by=by, action="link_revoked")


def link_open(*, token: str, by: User) -> SchedulingLink:
    """The link behind a token, if `by` may book with it now; else LinkRefused with the reason."""
    try:
        key = signing.Signer(salt=SALT).unsign(token)
    except signing.BadSignature:
        raise LinkRefused("This scheduling link is not valid. Use the link from your e-mail, or ask support for a new one.") from None
    link = SchedulingLink.objects.select_related("request__deployment__organisation", "request__release").filter(key=key).first()
    if link is None or not (by.is_vendor or access.is_customer_of(by, link.request.deployment.organisation_id)):
        # Another organisation's link says no more than a wrong one.
        raise LinkRefused("This scheduling link is not valid. Use the link from your e-mail, or ask support for a new one.")
    if link.request.state in FINISHED_REQUEST_STATES:
        # The upgrade has run: its window is done, whatever the link's own state.
        raise LinkRefused(f"This upgrade is {link.request.get_state_display().lower()}: there is nothing left to book "
                          "with this link. Your upgrades page has its report.")
    if link.revoked_at:
        raise LinkRefused("This scheduling link was replaced or withdrawn by support. Use the newest link, or ask support.")
    if link.expires_at <= timezone.now():
        raise LinkRefused(f"This scheduling link expired on {link.expires_at:%d %B %Y}. Ask support for a new one.")
    if link.request.deployment.organisation.is_cloud:
        raise LinkRefused("Your upgrade is planned by the vendor's cloud team: see the plan on your upgrades page.")
    if link.request.state != RequestState.APPROVED:
        raise LinkRefused("This upgrade is not approved at the moment, so no window can be booked. Support will be in touch.")
    with transaction.atomic():
        SchedulingLink.objects.filter(pk=link.pk).update(last_opened_at=timezone.now())
        # The booking page opens the link on every load, week and zone: the timeline says once
        # that a person opened it.
        if not link.request.timeline.filter(action="link_opened", actor=by).exists():
            log(upgrade=link.request, by=by, action="link_opened")
    return link
