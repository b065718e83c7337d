"""An upgrade request, its prerequisite checklist (S9-S11) and its decision log."""

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from portal.models import Deployment, Server
from portal.models.customers import audited
from upgrades.choices import (
    OPEN_REQUEST_STATES, CheckOutcome, ItemSection, ItemState, RequestState, UpgradeKind,
)
from upgrades.models.releases import Release
from upgrades.workflow import ACTION_LABELS


class UpgradeRequestQuerySet(models.QuerySet):
    def open(self):
        """Not ended: at most one per deployment (a unique index holds it)."""
        return self.filter(state__in=OPEN_REQUEST_STATES)


@pghistory.track(*audited())
class UpgradeRequest(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="upgrade_requests")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="upgrade_requests")
    # Facts as they were when the upgrade was requested.
    from_version = models.CharField(max_length=20)
    kind = models.CharField(max_length=10, choices=UpgradeKind.choices)

    state = models.CharField(max_length=20, choices=RequestState.choices, default=RequestState.DRAFT)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_requests",
        help_text="The support person working on this request.",
    )
    check_at = models.DateTimeField("Prerequisite check", null=True, blank=True)
    check_engineer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
    )
    check_outcome = models.CharField(max_length=10, choices=CheckOutcome.choices, blank=True)
    check_notes = models.TextField(blank=True)
    decision_reason = models.TextField(blank=True, help_text="Why it was refused, withdrawn or reopened.")

    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)

    organisation_path = "deployment__organisation"  # for portal.selectors.visible_to

    objects = UpgradeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "deployment", condition=Q(state__in=OPEN_REQUEST_STATES),
                name="upgrades_upgraderequest_one_open_per_deployment",
                violation_error_message="This deployment already has an open upgrade request.",
            ),
        ]
        indexes = [
            # The support queue: requests by state, oldest first.
            models.Index(fields=["state", "state_changed_at"], name="upgrades_request_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment} to {self.release.version}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_REQUEST_STATES


@pghistory.track(*audited())
class ChecklistItem(models.Model):
    """One prerequisite, generated from the deployment's facts. `key` names the fact it stands
    for, so regenerating the checklist keeps what was already provided and reviewed."""

    request = models.ForeignKey(UpgradeRequest, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=80)
    section = models.CharField(max_length=20, choices=ItemSection.choices)
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    guidance = models.TextField(blank=True)
    server = models.ForeignKey(Server, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    required = models.BooleanField(default=True)
    measured = models.BooleanField(default=False, help_text="Filled in by the preflight only.")
    # Facts changed and the item no longer applies; kept for what was written in it.
    obsolete = models.BooleanField(default=False)

    state = models.CharField(max_length=10, choices=ItemState.choices, default=ItemState.MISSING)
    evidence = models.TextField(blank=True)
    provided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    provided_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True, help_text="Why support sent it back.")
    preflight = models.JSONField(null=True, blank=True, help_text="The last measured result, when it can be measured.")

    organisation_path = "request__deployment__organisation"

    class Meta:
        ordering = ["request", "position"]
        constraints = [
            models.UniqueConstraint("request", "key", name="upgrades_checklistitem_unique_key"),
            models.CheckConstraint(
                condition=~Q(state=ItemState.SENT_BACK) | ~Q(review_note=""),
                name="upgrades_checklistitem_sent_back_has_reason",
                violation_error_message="Say why the item is sent back.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_ready(self) -> bool:
        return self.state in (ItemState.PROVIDED, ItemState.ACCEPTED)


class ItemAttachment(models.Model):
    """Evidence files, kept in PostgreSQL with everything else (size-limited), so web nodes
    share no disk."""

    item = models.ForeignKey(ChecklistItem, on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    content = models.BinaryField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    organisation_path = "item__request__deployment__organisation"

    class Meta:
        ordering = ["uploaded_at"]

    def __str__(self) -> str:
        return self.name


class RequestEvent(models.Model):
    """The decision log of a request: every transition and review, with actor and reason."""

    request = models.ForeignKey(UpgradeRequest, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    action = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    item = models.ForeignKey(ChecklistItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return self.action

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action.replace("_", " "))
