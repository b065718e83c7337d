"""The customer's status page for their service users: switched on and named by the customer,
its address rotated at will; service users subscribe by e-mail with a double opt-in."""

import pghistory
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.choices import NoticeState
from portal.models import Deployment, Notice, User
from scheduling.models import StatusPage, StatusSubscriber
from scheduling.models.status import new_token
from scheduling.selectors_status import may_manage_status_page
from scheduling.services import status_notices


def status_page_save(*, deployment: Deployment, by: User, service_name: str, enabled: bool) -> StatusPage:
    """Create or change the deployment's status page: the name its users know, on or off."""
    if not may_manage_status_page(by, deployment):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        page, _ = StatusPage.objects.select_for_update().get_or_create(
            deployment=deployment, defaults={"service_name": service_name, "enabled": enabled}
        )
        page.service_name, page.enabled = service_name, enabled
        page.save(update_fields=["service_name", "enabled", "updated_at"])
        return page


def status_page_rotate(*, page: StatusPage, by: User) -> StatusPage:
    """A new address for the page: the old one answers 404 from now on."""
    if not may_manage_status_page(by, page.deployment):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        page.token = new_token()
        page.save(update_fields=["token", "updated_at"])
        return page


def subscriber_add(*, page: StatusPage, email: str) -> StatusSubscriber:
    """A service user asks for the page's news: they are mailed a link to confirm, and nothing
    else until they do. Asking again sends no second confirmation."""
    email = email.strip().lower()
    with transaction.atomic():
        try:
            with transaction.atomic():
                subscriber = StatusSubscriber.objects.create(page=page, email=email)
        except IntegrityError:
            # Already asked (or a concurrent request won the race): one row, one confirmation.
            return StatusSubscriber.objects.get(page=page, email=email)
        status_notices.confirmation_send(subscriber=subscriber)
        return subscriber


def subscriber_confirm(*, subscriber: StatusSubscriber) -> StatusSubscriber:
    StatusSubscriber.objects.filter(pk=subscriber.pk, confirmed_at__isnull=True).update(confirmed_at=timezone.now())
    subscriber.refresh_from_db()
    return subscriber


def subscriber_remove(*, subscriber: StatusSubscriber) -> None:
    """Unsubscribe: the row goes, and what was still waiting to be sent to it is not sent."""
    with transaction.atomic():
        Notice.objects.filter(topic=status_notices.topic_of(subscriber), state=NoticeState.PENDING).delete()
        subscriber.delete()
