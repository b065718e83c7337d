"""What the upgrades API reads and writes. As in portal.serializers, serializers check the shape
of the input; the services check the rules and write."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from django.utils import timezone
from rest_framework import serializers

from portal import access
from portal.choices import TlsVersion
from portal.models import Deployment, User
from portal.serializers import VisiblePrimaryKeyField
from upgrades import evidence, selectors, versions
from upgrades.choices import CheckOutcome, RequestState
from upgrades.impact import impact_of
from upgrades.models import ChecklistItem, ItemAttachment, Release, UpgradeRequest


@extend_schema_field({"type": "string", "pattern": versions.VERSION.pattern, "example": "10.0.0"})
class ReleaseVersionField(serializers.SlugRelatedField):
    """A release by its version, among those the caller may see (customers: published only)."""

    default_error_messages = {"does_not_exist": "There is no release {value}."}

    def __init__(self, **kwargs):
        super().__init__(slug_field="version", **kwargs)

    def get_queryset(self):
        return selectors.release_list(user=self.context["request"].user)

    def to_internal_value(self, data):
        # What cannot be a version names no release; PostgreSQL would refuse some of it (NUL bytes).
        if not isinstance(data, str) or not versions.VERSION.fullmatch(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


# The TLS choices are the deployment's too (MinTlsVersionEnum): inline here, so the schema
# names one enum once.
@extend_schema_field({"type": "array", "items": {"type": "string", "enum": TlsVersion.values}, "example": ["1.0", "1.1"]})
class TlsVersionsField(serializers.ListField):
    def __init__(self, **kwargs):
        super().__init__(child=serializers.ChoiceField(choices=TlsVersion.choices), **kwargs)


class PersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "full_name"]
        read_only_fields = fields


class ReleaseSerializer(serializers.ModelSerializer):
    drops_tls = TlsVersionsField(
        required=False, help_text="TLS versions the release no longer offers: a load balancer still allowing one "
        "must have its ciphers changed before an upgrade to it is approved.",
    )

    class Meta:
        model = Release
        fields = [
            "version", "kind", "state", "release_date", "openjdk_version", "tomcat_version", "notes", "drops_tls",
            "published_at", "created_at",
        ]
        read_only_fields = ["kind", "state", "published_at", "created_at"]
        validators = []

    def validate_version(self, version: str) -> str:
        # The model's pattern (\d) lets other scripts' digits through; PostgreSQL's numeric
        # ordering (version_key) casts with 0-9 only.
        if not version.isascii():
            raise serializers.ValidationError("Write a version with the digits 0-9, for example 10.0.1.")
        # 9.04.2 is 9.4.2 written differently; kinds are worked out between different versions only.
        others = Release.objects.exclude(pk=getattr(self.instance, "pk", None)).only("version")
        for other in others:
            if versions.parse(other.version) == versions.parse(version):
                raise serializers.ValidationError(f"“{version}” is the same version as release {other.version}.")
        return version


class AttachmentSerializer(serializers.ModelSerializer):
    download = serializers.SerializerMethodField(help_text="Where the file itself is.")

    class Meta:
        model = ItemAttachment
        fields = ["id", "item", "name", "content_type", "size", "uploaded_at", "download"]
        read_only_fields = fields

    def get_download(self, attachment: ItemAttachment) -> str:
        return reverse("api:attachment-download", args=[attachment.pk])


class ChecklistItemSerializer(serializers.ModelSerializer):
    provided_by = PersonSerializer(read_only=True, allow_null=True)
    reviewed_by = PersonSerializer(read_only=True, allow_null=True)
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = ChecklistItem
        fields = [
            "id", "request", "key", "section", "position", "title", "guidance", "server", "required", "measured",
            "obsolete", "state", "evidence", "provided_by", "provided_at", "reviewed_by", "reviewed_at", "review_note",
            "preflight", "attachments",
        ]
        read_only_fields = fields


class ProgressSerializer(serializers.Serializer):
    """The required items, which decide approval (S8); optional ones are not counted."""

    total = serializers.IntegerField(help_text="Required items that apply to the deployment now.")
    ready = serializers.IntegerField(help_text="Of those, provided or accepted.")
    accepted = serializers.IntegerField(help_text="Of those, accepted by support.")


class UpgradeRequestSerializer(serializers.ModelSerializer):
    """A row of the list: the request and how far its checklist is."""

    organisation = serializers.SlugRelatedField(source="deployment.organisation", slug_field="slug", read_only=True)
    deployment_name = serializers.CharField(source="deployment.name", read_only=True)
    release = serializers.SlugRelatedField(slug_field="version", read_only=True)
    state = serializers.ChoiceField(choices=RequestState.choices, read_only=True)
    assignee = PersonSerializer(read_only=True, allow_null=True, help_text="The support person working on it.")
    requested_by = PersonSerializer(read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = UpgradeRequest
        fields = [
            "id", "organisation", "deployment", "deployment_name", "release", "from_version", "kind", "state",
            "assignee", "requested_by", "created_at", "submitted_at", "state_changed_at", "progress",
        ]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, upgrade: UpgradeRequest) -> dict:
        # Counted by the list's selector.
        return {"total": upgrade.item_total, "ready": upgrade.item_ready, "accepted": upgrade.item_accepted}


class CheckSerializer(serializers.ModelSerializer):
    """The prerequisite check (S2): when, with whom, and how it went."""

    at = serializers.DateTimeField(source="check_at", read_only=True, allow_null=True)
    engineer = PersonSerializer(source="check_engineer", read_only=True, allow_null=True)
    outcome = serializers.ChoiceField(source="check_outcome", choices=CheckOutcome.choices, read_only=True,
                                      allow_blank=True, help_text="Empty until the check is recorded.")
    notes = serializers.CharField(source="check_notes", read_only=True)

    class Meta:
        model = UpgradeRequest
        fields = ["at", "engineer", "outcome", "notes"]


class ImpactSerializer(serializers.Serializer):
    """What the upgrade means for the service's users (S4, S6)."""

    summary = serializers.CharField()
    servers = serializers.IntegerField()
    at_risk_minutes = serializers.IntegerField()
    downtime_offset_minutes = serializers.IntegerField(allow_null=True, help_text="Null when there is no downtime.")
    downtime_minutes = serializers.IntegerField(allow_null=True, help_text="Null when there is no downtime.")
    whole_window = serializers.CharField(
        help_text="How the service behaves for the whole window without a load balancer with health checks "
        "(unavailable or intermittent), or empty."
    )


class SchedulingLinkSerializer(serializers.Serializer):
    """The scheduling link of an approved on-premises upgrade (S8), from its newest link."""

    state = serializers.ChoiceField(
        choices=[("none", "none"), ("live", "live"), ("revoked", "revoked"), ("expired", "expired")],
        help_text="`none`: not issued yet (support issues it); `live`: usable now; `revoked`: withdrawn by support; "
        "`expired`.",
    )
    url = serializers.CharField(
        allow_null=True, help_text="The booking page of a live link, for the customer and the support desk; null otherwise."
    )
    issued_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(help_text="What it means for booking, in words for the customer.")


def _minutes(duration) -> int | None:
    return None if duration is None else int(duration.total_seconds() // 60)


class UpgradeRequestDetailSerializer(UpgradeRequestSerializer):
    """A request with its check, its impact and its checklist."""

    check = serializers.SerializerMethodField()
    impact = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField(help_text="The items that apply to the deployment now, in order.")
    scheduling_link = serializers.SerializerMethodField(
        help_text="Null unless the request is approved and on premises (cloud upgrades are planned by the vendor)."
    )

    class Meta(UpgradeRequestSerializer.Meta):
        fields = [*UpgradeRequestSerializer.Meta.fields, "decision_reason", "check", "impact", "items", "scheduling_link"]
        read_only_fields = fields

    @extend_schema_field(SchedulingLinkSerializer(allow_null=True))
    def get_scheduling_link(self, upgrade: UpgradeRequest) -> dict | None:
        if upgrade.state != RequestState.APPROVED or upgrade.deployment.organisation.is_cloud:
            return None
        status = upgrade.scheduling_links.status()
        user = self.context["request"].user
        # Whoever holds a live link's URL can book with it: the customer's people and the support desk.
        may_see = user.is_customer or access.is_desk(user)
        return SchedulingLinkSerializer({
            "state": status.state,
            "url": status.link.url if status.live and may_see else None,
            "issued_at": status.link.issued_at if status.link else None,
            "expires_at": status.link.expires_at if status.link else None,
            "message": status.message,
        }).data

    def _checklist(self, upgrade: UpgradeRequest) -> list[ChecklistItem]:
        """Read once for both the items and the progress."""
        checklists = self.context.setdefault("checklists", {})
        if upgrade.pk not in checklists:
            checklists[upgrade.pk] = selectors.checklist_of(upgrade)
        return checklists[upgrade.pk]

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, upgrade: UpgradeRequest) -> dict:
        progress = selectors.progress_of(self._checklist(upgrade))
        return {"total": progress.total, "ready": progress.ready, "accepted": progress.accepted}

    @extend_schema_field(CheckSerializer)
    def get_check(self, upgrade: UpgradeRequest) -> dict:
        return CheckSerializer(upgrade, context=self.context).data

    @extend_schema_field(ImpactSerializer)
    def get_impact(self, upgrade: UpgradeRequest) -> dict:
        deployment = upgrade.deployment
        impact = impact_of(
            kind=upgrade.kind, servers=deployment.servers.count(),
            load_balanced_with_health_checks=deployment.has_load_balancer and deployment.health_checks,
        )
        return {
            "summary": impact.summary(), "servers": impact.servers, "at_risk_minutes": impact.at_risk_minutes,
            "downtime_offset_minutes": _minutes(impact.downtime_offset), "downtime_minutes": _minutes(impact.downtime),
            "whole_window": impact.whole_window,
        }

    @extend_schema_field(ChecklistItemSerializer(many=True))
    def get_items(self, upgrade: UpgradeRequest) -> list[dict]:
        return ChecklistItemSerializer(self._checklist(upgrade), many=True, context=self.context).data


# Input ------------------------------------------------------------------------------------


class UpgradeRequestCreateSerializer(serializers.Serializer):
    deployment = VisiblePrimaryKeyField(
        queryset=Deployment.objects.all(), help_text="The deployment to upgrade (its id)."
    )
    release = ReleaseVersionField(help_text="The published release to upgrade to (its version, for example 10.0.0).")


class RequestFilterSerializer(serializers.Serializer):
    state = serializers.MultipleChoiceField(
        choices=RequestState.choices, required=False, help_text="Only these states (repeat the parameter for more)."
    )
    assignee = serializers.ChoiceField(
        choices=[("me", "me"), ("nobody", "nobody")], required=False,
        help_text="`me`: the requests you work on; `nobody`: those no support person has taken yet.",
    )
    search = serializers.CharField(
        required=False, max_length=100,
        help_text="Organisation or deployment name, or the start of the release version.",
    )


class ItemFilterSerializer(serializers.Serializer):
    request = serializers.IntegerField(required=False, min_value=1, help_text="Only this request's items (its id).")


class ScheduleCheckSerializer(serializers.Serializer):
    start = serializers.DateTimeField(
        help_text="The start of a free check slot (GET /requests/{id}/slots/?purpose=check): the slot engine "
        "chooses a free engineer and holds their time."
    )

    def validate_start(self, start):
        if start <= timezone.now():
            raise serializers.ValidationError("The check must be in the future.")
        return start


class RecordCheckSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=CheckOutcome.choices)
    notes = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, default="", help_text="Required when the check failed."
    )


class ReasonSerializer(serializers.Serializer):
    # Blank passes here so that the service says what the reason is for.
    reason = serializers.CharField(allow_blank=True, max_length=2000)


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class EvidenceSerializer(serializers.Serializer):
    text = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, default="", help_text="How this prerequisite is met."
    )
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True), required=False, default=list,
        max_length=evidence.MAX_FILES_PER_ITEM,
        help_text=f"Optional, with multipart/form-data: {evidence.accepted_extensions()}; up to 5 MB each, 20 MB at a time.",
    )


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why the move is not possible now, or who made it first. Nothing changed.")
