"""What the runs API reads and writes: a run with its steps and what it needs before the start,
and the inputs of the moves the live page offers. Shapes only; the services check the rules."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from upgrades.choices import ReadinessKind, RollbackMethod, RunState
from upgrades.selectors_runs import motion_of
from upgrades.models import RollbackDecision, Run, Step
from upgrades.serializers import PersonSerializer
from upgrades.services.readiness import readiness_of


class StepSerializer(serializers.ModelSerializer):
    confirmed_by_engineer = PersonSerializer(read_only=True)
    confirmed_by_customer = PersonSerializer(read_only=True)

    class Meta:
        model = Step
        fields = [
            "id", "procedure", "position", "number", "key", "action", "kind", "operation", "groups", "performer",
            "phase", "marks", "planned_start", "planned_end", "state", "attempts", "started_at", "finished_at",
            "error", "confirmed_by_engineer", "confirmed_by_customer",
        ]
        read_only_fields = fields


class ReadinessSerializer(serializers.Serializer):
    """One thing S11 asks for immediately before the upgrade, and whether it is done."""

    kind = serializers.ChoiceField(choices=ReadinessKind.choices)
    label = serializers.CharField()
    done = serializers.BooleanField(source="ok")
    problem = serializers.CharField(help_text="What is still needed, in words; empty when done.")
    recorded_by = PersonSerializer(source="record.recorded_by", allow_null=True, default=None)
    recorded_at = serializers.DateTimeField(source="record.recorded_at", allow_null=True, default=None)
    note = serializers.CharField(source="record.note", default="")


class RollbackDecisionSerializer(serializers.ModelSerializer):
    requested_by = PersonSerializer(read_only=True)
    decided_by = PersonSerializer(read_only=True)

    class Meta:
        model = RollbackDecision
        fields = ["id", "method", "reason", "state", "requested_by", "requested_at", "decided_by", "decided_at",
                  "decision_reason"]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=RunState.choices, read_only=True)
    organisation = serializers.CharField(source="deployment.organisation.name", read_only=True)
    deployment_name = serializers.CharField(source="deployment.name", read_only=True)
    engineer = PersonSerializer(source="window.engineer", read_only=True)
    driver = PersonSerializer(source="driven_by", read_only=True,
                              help_text="Who drives the run: the window's engineer, or an engineer who took it over.")
    failure_owner = PersonSerializer(read_only=True)

    class Meta:
        model = Run
        fields = [
            "id", "window", "request", "deployment", "organisation", "deployment_name", "kind", "from_version",
            "to_version", "state", "phase", "planned_start", "planned_end", "started_at", "finished_at", "engineer",
            "driver", "failure_owner",
        ]
        read_only_fields = fields


class MotionSerializer(serializers.Serializer):
    waiting_for = serializers.ChoiceField(
        choices=[("queue", "the task queue, which is not answering: the run goes on once it is back"),
                 ("worker", "a worker: nobody has taken the next step up (an engineer may continue)")])
    since = serializers.DateTimeField()
    step = serializers.IntegerField(source="step.pk")
    may_continue = serializers.BooleanField()


class RunDetailSerializer(RunSerializer):
    steps = serializers.SerializerMethodField()
    readiness = serializers.SerializerMethodField()
    rollbacks = RollbackDecisionSerializer(many=True, read_only=True)
    waiting = serializers.SerializerMethodField(help_text="Why a running run does not move, or null while it does.")

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "previous_versions", "target_versions", "readiness", "steps",
                  "rollbacks", "waiting"]
        read_only_fields = fields

    @extend_schema_field(MotionSerializer(allow_null=True))
    def get_waiting(self, run: Run) -> dict | None:
        motion = motion_of(run)
        return MotionSerializer(motion).data if motion else None

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, run: Run) -> list[dict]:
        steps = run.steps.select_related("confirmed_by_engineer", "confirmed_by_customer").order_by("position")
        return StepSerializer(steps, many=True).data

    @extend_schema_field(ReadinessSerializer(many=True))
    def get_readiness(self, run: Run) -> list[dict]:
        """What the run needs before it starts (empty once it has started)."""
        if run.state != RunState.SCHEDULED:
            return []
        return ReadinessSerializer(readiness_of(run), many=True).data


class RunFilterSerializer(serializers.Serializer):
    state = serializers.MultipleChoiceField(choices=RunState.choices, required=False)
    mine = serializers.BooleanField(required=False, default=False,
                                    help_text="Only the runs of windows assigned to you (engineers).")


# -- The moves' inputs ------------------------------------------------------------------------


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class StepNoteSerializer(serializers.Serializer):
    step = serializers.IntegerField(min_value=1)
    passed = serializers.BooleanField(required=False, default=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class StepReasonSerializer(serializers.Serializer):
    step = serializers.IntegerField(min_value=1)
    # Blank passes here so that the service says what the reason is for.
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class TakeSerializer(serializers.Serializer):
    force = serializers.BooleanField(required=False, default=False,
                                     help_text="Take the failure over from the engineer who has it.")


class RollbackRequestSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=RollbackMethod.choices)
    reason = serializers.CharField(allow_blank=True, max_length=2000)


class RebuildSerializer(serializers.Serializer):
    group = serializers.IntegerField(min_value=1, max_value=100)
    reason = serializers.CharField(allow_blank=True, max_length=2000)


class SignOffSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, max_length=200)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
