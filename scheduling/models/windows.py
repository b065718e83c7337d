"""Maintenance windows: the booked time of an upgrade, with its announced impact (S6)."""

import uuid

import pghistory
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Q

from portal.models.customers import audited
from scheduling.choices import HOLDING_STATES, Cover, Purpose, WindowState
from upgrades.models import UpgradeRequest


class WindowQuerySet(models.QuerySet):
    def holding(self):
        """A request's windows that hold their engineer's time (booked, not cancelled nor
        completed); a move waiting for support's confirmation holds time too, but is not the
        request's window until confirmed (`MaintenanceWindow.pending_move`)."""
        return self.filter(state__in=HOLDING_STATES, move_of__isnull=True)

    def upgrades(self):
        return self.filter(purpose=Purpose.UPGRADE)

    def checks(self):
        return self.filter(purpose=Purpose.CHECK)

    def requested(self):
        """Out-of-hours windows a customer asked for, waiting for support to confirm that an
        engineer will be there (S7): the desk's inbox reads them through this."""
        return self.filter(state=WindowState.REQUESTED)


@pghistory.track(*audited())
class MaintenanceWindow(models.Model):
    request = models.ForeignKey(UpgradeRequest, on_delete=models.PROTECT, related_name="windows")
    engineer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="windows")
    # The whole window: service at risk from start to end (S6), plus the preparation buffer.
    period = DateTimeRangeField()
    # The engineer's time the window holds: the period and the buffer after it, so that two
    # windows of one engineer are at least a buffer apart.
    # The exclusion constraint keeps two held periods of one engineer from overlapping.
    held = DateTimeRangeField()
    downtime = DateTimeRangeField(null=True, blank=True, help_text="Planned downtime of a major upgrade.")
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.UPGRADE)
    cover = models.CharField(max_length=20, choices=Cover.choices)
    state = models.CharField(max_length=20, choices=WindowState.choices)
    # Calendar identity: one UID for the life of the window, SEQUENCE raised by each change.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sequence = models.PositiveIntegerField(default=0)
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    # What the person who booked it told support and the engineer (optional, at the booking).
    note = models.TextField(blank=True, max_length=1000)
    # S7 for a confirmed window moved out of hours: the new time is a window of its own,
    # requested, holding its engineer, while the confirmed one keeps its time and engineer until
    # support confirms the move (then the confirmed window takes the new time) or declines it.
    move_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="moves")

    organisation_path = "request__deployment__organisation"

    objects = WindowQuerySet.as_manager()

    class Meta:
        ordering = ["period"]
        constraints = [
            ExclusionConstraint(
                name="scheduling_maintenancewindow_engineer_free",
                expressions=[("engineer", RangeOperators.EQUAL), ("held", RangeOperators.OVERLAPS)],
                condition=Q(state__in=HOLDING_STATES),
                violation_error_message="This engineer is already booked at that time.",
            ),
            models.UniqueConstraint(
                "request", "purpose", condition=Q(state__in=HOLDING_STATES, move_of__isnull=True),
                name="scheduling_maintenancewindow_one_per_request",
                violation_error_message="This upgrade already has a maintenance window.",
            ),
            models.UniqueConstraint(
                "move_of", condition=Q(state__in=HOLDING_STATES),
                name="scheduling_maintenancewindow_one_move_pending",
                violation_error_message="This window already has a move waiting for support.",
            ),
            models.CheckConstraint(
                condition=~Q(state=WindowState.CANCELLED) | Q(cancelled_at__isnull=False),
                name="scheduling_maintenancewindow_cancel_recorded",
                violation_error_message="A cancelled window records when it was cancelled.",
            ),
        ]
        indexes = [
            # Reminders and the cloud notice sweep (scheduling.tasks) look at coming windows only.
            models.Index(fields=["state", "period"], name="scheduling_window_coming",
                         condition=Q(state__in=HOLDING_STATES)),
        ]

    def __str__(self) -> str:
        return f"{self.request.deployment} {self.period.lower:%Y-%m-%d %H:%M} UTC"

    @property
    def start(self):
        return self.period.lower

    @property
    def end(self):
        return self.period.upper

    @property
    def is_holding(self) -> bool:
        return self.state in HOLDING_STATES

    @property
    def pending_move(self) -> "MaintenanceWindow | None":
        """The out-of-hours time this confirmed window waits to move to, if support has not
        confirmed nor declined it yet."""
        return self.moves.filter(state__in=HOLDING_STATES).first()

    @property
    def is_confirmed(self) -> bool:
        return self.state == WindowState.CONFIRMED
