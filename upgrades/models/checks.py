"""S12's functionality tests, as they were run or confirmed."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from portal.models import Deployment
from upgrades.choices import FunctionalityCheck


class CheckResult(models.Model):
    """One functionality test at one moment. The automatic ones are timed and have no person;
    the manual ones (S12's first two) record who confirmed them."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="check_results")
    # The checks run together (one "perform functionality tests" step) share a round.
    round = models.UUIDField(default=uuid.uuid4, db_index=True)
    stage = models.CharField(max_length=120, blank=True, help_text="When: before the upgrade, after group 1, ...")
    kind = models.CharField(max_length=20, choices=FunctionalityCheck.choices)
    passed = models.BooleanField()
    detail = models.TextField(blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    organisation_path = "deployment__organisation"

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(recorded_by__isnull=False) | Q(duration_ms__isnull=False),
                name="upgrades_checkresult_timed_or_confirmed",
                violation_error_message="A check result is either timed (automatic) or confirmed by a person.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {'passed' if self.passed else 'failed'}"
