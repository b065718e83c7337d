"""Maintenance windows."""

from datetime import datetime, timedelta

import factory
from django.conf import settings
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone
from factory.django import DjangoModelFactory

from scheduling.choices import Cover, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.plan import plan_window
from tests.factories.portal import EngineerUserFactory
from tests.factories.upgrades import UpgradeRequestFactory


def five_minutes_ago() -> datetime:
    return timezone.now().replace(microsecond=0) - timedelta(minutes=5)


def _plan(window):
    request = window.request
    return plan_window(start=window.start, kind=request.kind, servers=request.deployment.servers.count(),
                       preparation=timedelta(minutes=settings.SCHEDULING_PREPARATION_MINUTES))


def _period(window) -> DateTimeTZRange:
    return DateTimeTZRange(window.start, window.start + window.length if window.length else window.plan.end)


def _downtime(window) -> DateTimeTZRange | None:
    plan = window.plan
    return DateTimeTZRange(plan.downtime_start, plan.downtime_end) if plan.downtime_start else None


class MaintenanceWindowFactory(DjangoModelFactory):
    """A confirmed window of an approved upgrade, written directly (booking has stories of its
    own), that opened five minutes ago unless given its `start`. It is shaped as booking plans it
    (`scheduling.plan`): its period is as long as the plan unless given a `length`, a major
    upgrade's downtime falls where the plan puts it, and it holds its engineer for the buffer
    after its end."""

    class Meta:
        model = MaintenanceWindow

    class Params:
        start = factory.LazyFunction(five_minutes_ago)
        length = None
        plan = factory.LazyAttribute(_plan)
        proposed = factory.Trait(state=WindowState.PROPOSED)

    request = factory.SubFactory(UpgradeRequestFactory, approved=True)
    engineer = factory.SubFactory(EngineerUserFactory)
    booked_by = factory.SelfAttribute("request.requested_by")
    cover = Cover.STANDARD
    state = WindowState.CONFIRMED
    period = factory.LazyAttribute(_period)
    held = factory.LazyAttribute(lambda window: DateTimeTZRange(
        window.period.lower, window.period.upper + timedelta(minutes=settings.SCHEDULING_BUFFER_MINUTES)))
    downtime = factory.LazyAttribute(_downtime)
