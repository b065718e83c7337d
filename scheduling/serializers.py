"""What the scheduling API reads and writes: free slots, bookings and maintenance windows. As in
the other apps, serializers check the shape of the input; the services check the rules."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.timezones import validate_time_zone
from scheduling.choices import Cover, Purpose, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.services.windows import customer_may_change
from scheduling.slots import Slot
from upgrades.impact import impact_of
from upgrades.serializers import PersonSerializer

# A start further ahead than this is no slot of any horizon the portal offers.
MAX_WEEKS = 52


class AwareDateTimeField(serializers.DateTimeField):
    """An instant: a time without its offset names none (09:00 where?), so it is refused
    rather than read in the server's zone."""

    default_error_messages = {
        "naive": "Give the time with its offset, for example 2027-03-09T10:00:00Z or 2027-03-09T11:00:00+01:00.",
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail("naive")
        return super().enforce_timezone(value)


class TimeZoneField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(validators=[validate_time_zone], **kwargs)


# Slots ------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.DATETIME)
class LocalTimeField(serializers.Field):
    """An instant by the clock of the zone in the serializer's context (`zone`)."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: datetime) -> str:
        return value.astimezone(ZoneInfo(self.context["zone"])).isoformat()


class SlotSerializer(serializers.Serializer):
    """A free start for the window. Vendor staff also see which engineers are free for it;
    customers see `engineer_ids` as null."""

    start = serializers.DateTimeField(read_only=True, default_timezone=UTC, help_text="The start, in UTC.")
    end = serializers.DateTimeField(read_only=True, default_timezone=UTC, help_text="The end, in UTC.")
    local_start = LocalTimeField(source="start", help_text="The same start by the clock of the requested zone.")
    local_end = LocalTimeField(source="end", help_text="The same end by the clock of the requested zone.")
    cover = serializers.SerializerMethodField(
        help_text="`standard`: inside the customer's support hours; `out_of_hours`: covered by an engineer in "
        "another time zone, confirmed by support before it holds (S7)."
    )
    standard = serializers.BooleanField(read_only=True)
    low_usage = serializers.BooleanField(read_only=True, help_text="Inside the hours the customer uses the service least.")
    engineer_ids = serializers.SerializerMethodField(help_text="Engineers free for it (vendor staff only; else null).")

    @extend_schema_field(serializers.ChoiceField(choices=Cover.choices))
    def get_cover(self, slot: Slot) -> str:
        return Cover.STANDARD if slot.standard else Cover.OUT_OF_HOURS

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField(), allow_null=True))
    def get_engineer_ids(self, slot: Slot) -> list[int] | None:
        return list(slot.engineer_ids) if self.context["request"].user.is_vendor else None

    def to_representation(self, slot: Slot) -> dict:
        """What the fields above say, written out: field by field costs a tenth of a millisecond a
        slot, and a week's list holds hundreds, a lost race's answer twenty for each loser."""
        zone = ZoneInfo(self.context["zone"])
        return {
            "start": _utc(slot.start),
            "end": _utc(slot.end),
            "local_start": slot.start.astimezone(zone).isoformat(),
            "local_end": slot.end.astimezone(zone).isoformat(),
            "cover": self.get_cover(slot),
            "standard": slot.standard,
            "low_usage": slot.low_usage,
            "engineer_ids": self.get_engineer_ids(slot),
        }


def _utc(moment: datetime) -> str:
    """As DRF's DateTimeField in UTC writes it."""
    written = moment.astimezone(UTC).isoformat()
    return written[:-6] + "Z" if written.endswith("+00:00") else written


class SlotListSerializer(serializers.Serializer):
    request = serializers.IntegerField(help_text="The upgrade request (its id).")
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    time_zone = serializers.CharField(help_text="The zone of `local_start` and `local_end`, and of the weeks.")
    length_minutes = serializers.IntegerField(help_text="How long the booking lasts (S6: servers x 10 minutes plus preparation).")
    week = serializers.IntegerField(help_text="This week: 0 is the one holding the first bookable day.")
    weeks = serializers.IntegerField(help_text="How many weeks the slots span.")
    week_start = serializers.DateField(help_text="The Monday of this week, in `time_zone`.")
    window = serializers.IntegerField(
        allow_null=True,
        help_text="The request's booked window, if it has one: its own time counts as free, so these slots are "
        "where it can be moved.",
    )
    slots = SlotSerializer(many=True)


class SlotQuerySerializer(serializers.Serializer):
    tz = TimeZoneField(required=False, help_text="Show local times in this zone (default: the organisation's).")
    purpose = serializers.ChoiceField(
        choices=Purpose.choices, required=False, default=Purpose.UPGRADE,
        help_text="`upgrade`: the maintenance window; `check`: the prerequisite check (support).",
    )
    week = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_WEEKS,
        help_text="Which week of the horizon, from 0 (the week of the first bookable day).",
    )


class SlotTakenSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why nothing was booked. Nothing changed.")
    slots = SlotSerializer(
        many=True, required=False,
        help_text="When the slot was just taken: the first free slots now, in the organisation's zone (or `time_zone`).",
    )


# Windows ----------------------------------------------------------------------------------


class WindowSerializer(serializers.ModelSerializer):
    """A maintenance window (or prerequisite check) with its announced impact (S6)."""

    organisation = serializers.SlugRelatedField(
        source="request.deployment.organisation", slug_field="slug", read_only=True
    )
    deployment = serializers.IntegerField(source="request.deployment_id", read_only=True)
    deployment_name = serializers.CharField(source="request.deployment.name", read_only=True)
    purpose = serializers.ChoiceField(choices=Purpose.choices, read_only=True)
    state = serializers.ChoiceField(choices=WindowState.choices, read_only=True)
    cover = serializers.ChoiceField(choices=Cover.choices, read_only=True)
    start = serializers.DateTimeField(read_only=True)
    end = serializers.DateTimeField(read_only=True)
    at_risk_start = serializers.SerializerMethodField(
        help_text="When the service is at risk from (S6: servers x 10 minutes before the end); null for a check."
    )
    downtime_start = serializers.SerializerMethodField(help_text="Planned downtime of a major upgrade, or null.")
    downtime_end = serializers.SerializerMethodField(help_text="Planned downtime of a major upgrade, or null.")
    engineer = PersonSerializer(read_only=True)
    booked_by = PersonSerializer(read_only=True)
    customer_may_change = serializers.SerializerMethodField(
        help_text="Whether the customer can still reschedule or cancel it themselves (before the cut-off)."
    )
    run = serializers.SerializerMethodField(help_text="The window's run (/api/v1/runs/{id}/), once it is confirmed.")

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id", "request", "organisation", "deployment", "deployment_name", "purpose", "state", "cover", "start",
            "end", "at_risk_start", "downtime_start", "downtime_end", "engineer", "booked_by", "created_at",
            "confirmed_at", "cancelled_at", "cancel_reason", "uid", "sequence", "customer_may_change", "run",
            "note", "move_of",
        ]
        read_only_fields = fields
        extra_kwargs = {"move_of": {"help_text": "For a confirmed window's move out of hours that waits for support "
                                                 "(S7): the window it would move; that window keeps its time until then."}}

    def get_run(self, window: MaintenanceWindow) -> int | None:
        run = getattr(window, "run", None)
        return run.pk if run is not None else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_at_risk_start(self, window: MaintenanceWindow) -> str | None:
        if window.purpose != Purpose.UPGRADE:
            return None
        # Counted by the selector; as in the forwardable notice, at risk until the end.
        impact = impact_of(kind=window.request.kind, servers=window.server_count, load_balanced_with_health_checks=True)
        return self._instant(window.end - impact.at_risk)

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_downtime_start(self, window: MaintenanceWindow) -> str | None:
        return self._instant(window.downtime.lower) if window.downtime else None

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_downtime_end(self, window: MaintenanceWindow) -> str | None:
        return self._instant(window.downtime.upper) if window.downtime else None

    def get_customer_may_change(self, window: MaintenanceWindow) -> bool:
        return customer_may_change(window)

    def _instant(self, moment: datetime) -> str:
        return serializers.DateTimeField().to_representation(moment)


class WindowFilterSerializer(serializers.Serializer):
    engineer = serializers.IntegerField(required=False, min_value=1, help_text="Only this engineer's windows (a user id).")
    state = serializers.MultipleChoiceField(
        choices=WindowState.choices, required=False, help_text="Only these states (repeat the parameter for more)."
    )
    request = serializers.IntegerField(required=False, min_value=1, help_text="Only this upgrade request's windows.")
    # `from` is a Python keyword: the field is named in `fields` below.
    to = AwareDateTimeField(required=False, help_text="Only windows that start before this instant.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = AwareDateTimeField(required=False, help_text="Only windows that end after this instant.")
        return fields

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["`to` must be after `from`."]})
        return attrs


# Input ------------------------------------------------------------------------------------


class BookSerializer(serializers.Serializer):
    start = AwareDateTimeField(help_text="The start of a free slot, with its offset (as `start` of a slot).")
    purpose = serializers.ChoiceField(
        choices=Purpose.choices, required=False, default=Purpose.UPGRADE,
        help_text="`upgrade`: the maintenance window (the customer or support); `check`: the prerequisite check (support).",
    )
    time_zone = TimeZoneField(
        required=False, help_text="The zone of the fresh slots' local times if the slot was just taken."
    )


class RescheduleSerializer(serializers.Serializer):
    start = AwareDateTimeField(help_text="The start of a free slot, with its offset.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    time_zone = TimeZoneField(
        required=False, help_text="The zone of the fresh slots' local times if the slot was just taken."
    )
