"""Measured availability: while a probe runs, the service is sampled through its load balancer."""

from django.db import models
from django.db.models import Q

from portal.models import Deployment
from upgrades.choices import ProbeState


class AvailabilityProbe(models.Model):
    """One stretch of sampling a deployment's service address. Its worker claims it with
    `owner` and renews `heartbeat_at` at every batch; a second worker finding a fresh heartbeat
    leaves it alone, so a probe never samples twice."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="availability_probes")
    url = models.URLField(max_length=500)
    interval_ms = models.PositiveIntegerField(default=250)
    state = models.CharField(max_length=10, choices=ProbeState.choices, default=ProbeState.RUNNING)
    owner = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Its run has ended: sample on until the service answers again, at the latest until then,
    # so that the downtime measured is the whole of it.
    until_up_by = models.DateTimeField(null=True, blank=True)

    organisation_path = "deployment__organisation"

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state=ProbeState.RUNNING) | Q(stopped_at__isnull=False),
                name="upgrades_availabilityprobe_stopped_has_time",
                violation_error_message="A stopped probe records when it stopped.",
            ),
        ]

    def __str__(self) -> str:
        return f"Probe of {self.url} from {self.started_at:%Y-%m-%d %H:%M}"


class AvailabilitySample(models.Model):
    probe = models.ForeignKey(AvailabilityProbe, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    up = models.BooleanField()
    latency_ms = models.FloatField(null=True, blank=True)  # None: no answer in time
    status = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["at"]
        indexes = [
            # Downtime intervals and the report read one probe's samples in time order.
            models.Index(fields=["probe", "at"], name="upgrades_sample_probe_time"),
        ]
