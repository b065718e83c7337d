"""The live upgrade (S13-S17): a run of a maintenance window, its steps, the events both sides
watch, the rollback decision and the sign-off."""

import pghistory
from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from portal import access
from portal.models import Deployment
from portal.models.customers import audited
from upgrades.choices import (
    ReadinessKind, RollbackMethod, RollbackState, RunState, StepProcedure, StepState, UpgradeKind,
)
from upgrades.models.availability import AvailabilityProbe
from upgrades.models.requests import UpgradeRequest


# The event counter is not history: it changes with every event.
@pghistory.track(*audited(), exclude=["next_seq"])
class Run(models.Model):
    """One execution of the procedure in one maintenance window. The plan is frozen into its
    steps when the run is made; the window's later changes do not touch a run that exists."""

    window = models.OneToOneField("scheduling.MaintenanceWindow", on_delete=models.PROTECT, related_name="run")
    request = models.ForeignKey(UpgradeRequest, on_delete=models.PROTECT, related_name="runs")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=10, choices=UpgradeKind.choices)
    from_version = models.CharField(max_length=20)
    to_version = models.CharField(max_length=20)
    # The versions of the other components before the run, for a rollback to put back.
    previous_versions = models.JSONField(default=dict)
    target_versions = models.JSONField(default=dict)

    state = models.CharField(max_length=20, choices=RunState.choices, default=RunState.SCHEDULED)
    phase = models.CharField(max_length=20, default="preparation", help_text="upgrades.procedure.Phase")
    planned_start = models.DateTimeField()
    planned_end = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)
    # S14: one engineer takes a failure before acting on it, so two people cannot race.
    failure_owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="+")
    # Another engineer who took the run over from the window's engineer (a recorded decision).
    driver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", help_text="Empty: the window's engineer drives the run.")
    probe = models.ForeignKey(AvailabilityProbe, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The next event's sequence number: taken with UPDATE ... RETURNING, which also orders the
    # writers of one run's events.
    next_seq = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    organisation_path = "deployment__organisation"

    class Meta:
        ordering = ["-planned_start"]

    def __str__(self) -> str:
        return f"{self.deployment} {self.from_version} → {self.to_version}"

    @property
    def driven_by(self):
        """Who drives the run: the engineer who took it over, else the window's engineer."""
        return self.driver if self.driver_id else self.window.engineer

    def may(self, user, move: str) -> bool:
        """portal.access.RULES for this run: its organisation's contacts, and who drives it."""
        return access.may(user, move, organisation_id=self.deployment.organisation_id,
                          assignee_id=self.driver_id or self.window.engineer_id)


# A heartbeat is not history either: it is renewed every few seconds while a step works.
@pghistory.track(*audited(), exclude=["heartbeat_at"])
class Step(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    procedure = models.CharField(max_length=10, choices=StepProcedure.choices, default=StepProcedure.UPGRADE)
    position = models.PositiveSmallIntegerField()
    number = models.PositiveSmallIntegerField(null=True, blank=True, help_text="As in the seed's table.")
    key = models.CharField(max_length=40)
    action = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, help_text="upgrades.procedure.StepKind")
    operation = models.CharField(max_length=20, blank=True)
    groups = models.JSONField(default=list)
    performer = models.CharField(max_length=20)
    phase = models.CharField(max_length=20)
    marks = models.CharField(max_length=120, blank=True, help_text="The phase marker this step begins.")
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)

    state = models.CharField(max_length=20, choices=StepState.choices, default=StepState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="Who claimed the current attempt.")
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    # Who confirmed a step that waits for people (S12: engineer, and the customer's administrator).
    confirmed_by_engineer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                              blank=True, related_name="+")
    confirmed_by_customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                              blank=True, related_name="+")

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint("run", "position", name="upgrades_step_unique_position"),
            models.UniqueConstraint("run", "procedure", "key", name="upgrades_step_unique_key"),
        ]
        indexes = [
            # The sweep (beat) looks for running steps whose heartbeat is stale.
            models.Index(fields=["heartbeat_at"], name="upgrades_step_running",
                         condition=Q(state=StepState.RUNNING)),
        ]

    def __str__(self) -> str:
        return f"{self.number or '–'}. {self.action}"


class LiveEvent(models.Model):
    """Everything that happens in a run, in order: step changes, log lines, checks, decisions,
    phase changes. `seq` is per run and gapless: a watcher that saw up to N asks for N+1 on."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="live_events")
    seq = models.PositiveBigIntegerField()
    at = models.DateTimeField()
    kind = models.CharField(max_length=20)  # run, step, log, check, phase, decision, rollback
    step = models.ForeignKey(Step, on_delete=models.CASCADE, null=True, blank=True, related_name="live_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint("run", "seq", name="upgrades_liveevent_unique_seq")]
        indexes = [
            # One kind of a run's events in order: the log's tail, pages and download, and the
            # steps, decisions and pauses the board and the report read past a million log lines.
            models.Index(fields=["run", "kind", "seq"], name="upgrades_liveevent_run_kind"),
            # The log's search (selectors_runs.log_search): Django's icontains is
            # UPPER(text) LIKE UPPER('%phrase%'), which trigrams answer without reading the log.
            GinIndex(OpClass(Upper("text"), name="gin_trgm_ops"), name="upgrades_liveevent_log_trgm",
                     condition=Q(kind="log")),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}: {self.text[:60]}"


@pghistory.track(*audited())
class Readiness(models.Model):
    """What S11 asks for immediately before the upgrade, recorded on the run: the customer's VM
    snapshots (virtual servers), the StreamDB backup (major upgrades; the customer's, or taken by
    the engineer), and the preflight through the drivers. One row per kind, the latest word."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="readiness")
    kind = models.CharField(max_length=20, choices=ReadinessKind.choices)
    passed = models.BooleanField()
    note = models.TextField(blank=True)
    # The preflight's measurements: each server's answer, the versions they agree on.
    data = models.JSONField(default=dict, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "kind"]
        constraints = [
            models.UniqueConstraint("run", "kind", name="upgrades_readiness_once_per_kind",
                                    violation_error_message="This run already records that."),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {'yes' if self.passed else 'no'}"


@pghistory.track(*audited())
class RollbackDecision(models.Model):
    """S15: the engineer asks, the customer's lead contact authorises or refuses, with reasons."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="rollbacks")
    method = models.CharField(max_length=30, choices=RollbackMethod.choices)
    reason = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=20, choices=RollbackState.choices, default=RollbackState.REQUESTED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["requested_at"]
        constraints = [
            models.UniqueConstraint("run", condition=Q(state=RollbackState.REQUESTED),
                                    name="upgrades_rollbackdecision_one_open",
                                    violation_error_message="A rollback is already waiting for the customer."),
        ]


@pghistory.track(*audited())
class SignOff(models.Model):
    """S17: the customer's verification and sign-off, with the check results they signed."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="sign_off")
    name = models.CharField(max_length=200)
    comment = models.TextField(blank=True)
    checks = models.JSONField(default=list)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(auto_now_add=True)


class ReportPdf(models.Model):
    """A finished run's report, printed by a worker once per time zone (the report's times are
    its reader's) and then served as stored. No content and no error: being printed."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="pdfs")
    time_zone = models.CharField(max_length=64)
    content = models.BinaryField(null=True, editable=False)
    error = models.TextField(blank=True)
    asked_at = models.DateTimeField(auto_now_add=True)
    made_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("run", "time_zone", name="upgrades_reportpdf_once_per_zone",
                                    violation_error_message="This report is printed in this time zone already."),
        ]

    def __str__(self) -> str:
        return f"Report of run {self.run_id} ({self.time_zone})"
