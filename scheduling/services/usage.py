"""The customer's low-usage hours: when their own users need the service least, so that slots
then are highlighted (the process document recommends upgrading when usage is lowest)."""

from datetime import time

import pghistory
from django.core.exceptions import PermissionDenied
from django.db import transaction

from portal import access
from portal.models import Organisation, User
from scheduling.models import LowUsageHours


def low_usage_hours_set(*, organisation: Organisation, spans: list[tuple[int, time, time]], by: User) -> None:
    """Replace the organisation's low-usage hours with `spans` (weekday, starts, ends)."""
    if not access.may_edit_contacts(by, organisation):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        # Lock the organisation: two people saving at once end with one of their lists, whole.
        Organisation.objects.select_for_update().get(pk=organisation.pk)
        LowUsageHours.objects.filter(organisation=organisation).delete()
        LowUsageHours.objects.bulk_create(
            LowUsageHours(organisation=organisation, weekday=weekday, starts=starts, ends=ends)
            for weekday, starts, ends in spans
        )
