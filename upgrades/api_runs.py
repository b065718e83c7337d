"""The live upgrade in the REST API: runs with their steps and readiness, and every move the live
page offers, each calling the same service as the page. A move that is not possible now (a race
lost, someone else owning the failure, the run not ready) is 409 with the service's reason; a
move that is not the caller's to make is 403; a step of another run, or someone else's run, 404."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api import ServiceViewSet, router
from upgrades import selectors_runs
from upgrades import serializers_runs as s
from upgrades.api import CONFLICT, Conflict
from upgrades.choices import ReadinessKind
from upgrades.runflow import RunError
from upgrades.serializers import ReasonSerializer
from upgrades.services import decisions, readiness, rollback, runs


def _move(summary: str, *, body=None, answer: int = status.HTTP_200_OK):
    return extend_schema(summary=summary, request=body, responses={answer: s.RunDetailSerializer, **CONFLICT})


@extend_schema_view(
    list=extend_schema(summary="Runs you can see, latest window first", parameters=[s.RunFilterSerializer]),
    retrieve=extend_schema(summary="A run with its steps, what it needs before the start, and its rollbacks"),
)
@extend_schema(tags=["runs"])
class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ServiceViewSet):
    serializer_class = s.RunSerializer
    detail_serializer_class = s.RunDetailSerializer
    filter_serializer_class = s.RunFilterSerializer
    get_with = staticmethod(selectors_runs.run_get)
    inputs = {
        "snapshots": s.NoteSerializer, "backup": s.NoteSerializer, "confirm": s.StepNoteSerializer,
        "take": s.TakeSerializer, "retry": s.StepReasonSerializer, "fixed": s.StepReasonSerializer,
        "skip": s.StepReasonSerializer, "abort": ReasonSerializer, "rollback": s.RollbackRequestSerializer,
        "authorise": ReasonSerializer, "refuse": ReasonSerializer, "rebuild": s.RebuildSerializer,
        "sign_off": s.SignOffSerializer, "take_over": ReasonSerializer,
    }

    def handle_exception(self, exc):
        if isinstance(exc, RunError):
            exc = Conflict(str(exc))
        return super().handle_exception(exc)

    def get_queryset(self):
        runs_seen = selectors_runs.runs_visible(user=self.request.user)
        filters = self.filters()
        if states := filters.get("state"):
            runs_seen = runs_seen.filter(state__in=sorted(states))
        if filters.get("mine"):
            runs_seen = runs_seen.filter(window__engineer=self.request.user)
        return runs_seen.order_by("-planned_start", "-pk")

    def _readiness_confirm(self, kind: str) -> Response:
        run = self.get_object()
        readiness.readiness_confirm(run=run, kind=kind, by=self.request.user, **self.validated())
        return self.answer(run)

    def _step_move(self, move) -> Response:
        """A move on one step of this run, named in the body (a step of another run is 404)."""
        run = self.get_object()
        fields = self.validated()
        move(step=selectors_runs.step_get(run=run, pk=fields.pop("step")), by=self.request.user, **fields)
        return self.answer(run)

    # -- Before the start (S11) and the start ---------------------------------------------------

    @_move("The customer confirms the VM snapshots of every server are taken", body=s.NoteSerializer)
    @action(detail=True, methods=["post"])
    def snapshots(self, request, *args, **kwargs):
        return self._readiness_confirm(ReadinessKind.SNAPSHOTS)

    @_move("The customer confirms the full StreamDB backup, or the engineer records taking it", body=s.NoteSerializer)
    @action(detail=True, methods=["post"])
    def backup(self, request, *args, **kwargs):
        return self._readiness_confirm(ReadinessKind.BACKUP)

    @_move("Ask a worker for the preflight: every server through its driver; the result follows as an event",
           answer=status.HTTP_202_ACCEPTED)
    @action(detail=True, methods=["post"])
    def preflight(self, request, *args, **kwargs):
        run = self.get_object()
        readiness.preflight_request(run=run, by=request.user)
        return self.answer(run, status_code=status.HTTP_202_ACCEPTED)

    @_move("Start the run (an engineer, in the window, once ready)")
    @action(detail=True, methods=["post"])
    def start(self, request, *args, **kwargs):
        return self.answer(runs.run_start(run=self.get_object(), by=request.user))

    # -- People on the way ----------------------------------------------------------------------

    @_move("Confirm a waiting functionality test (the engineer, and the customer's administrator), or report it failed",
           body=s.StepNoteSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request, *args, **kwargs):
        return self._step_move(runs.step_confirm)

    @_move("Sign the upgrade off (the customer, S17)", body=s.SignOffSerializer)
    @action(detail=True, methods=["post"], url_path="sign-off", url_name="sign-off")
    def sign_off(self, request, *args, **kwargs):
        run = self.get_object()
        runs.run_sign_off(run=run, by=request.user, **self.validated())
        return self.answer(run)

    # -- Failures (S14-S16) -----------------------------------------------------------------------

    @_move("Take the failure (\"assign to me\"); `force` takes it over from its owner", body=s.TakeSerializer)
    @action(detail=True, methods=["post"])
    def take(self, request, *args, **kwargs):
        return self.answer(decisions.failure_take(run=self.get_object(), by=request.user, **self.validated()))

    @_move("Take the run over from the engineer who drives it, saying why (another engineer; recorded)",
           body=ReasonSerializer)
    @action(detail=True, methods=["post"], url_path="take-over", url_name="take-over")
    def take_over(self, request, *args, **kwargs):
        return self.answer(decisions.run_take_over(run=self.get_object(), by=request.user, **self.validated()))

    @_move("Retry the failed step (the failure's owner)", body=s.StepReasonSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs):
        return self._step_move(decisions.step_retry)

    @_move("Mark the failed step as fixed by hand, saying what was done (the failure's owner)",
           body=s.StepReasonSerializer)
    @action(detail=True, methods=["post"])
    def fixed(self, request, *args, **kwargs):
        return self._step_move(decisions.step_mark_fixed)

    @_move("Skip the step, saying why (the failure's owner)", body=s.StepReasonSerializer)
    @action(detail=True, methods=["post"])
    def skip(self, request, *args, **kwargs):
        return self._step_move(decisions.step_skip)

    @_move("Continue a still run: its next step, pending with nobody on it, is sent to a worker again (an engineer)")
    @action(detail=True, methods=["post"], url_path="continue", url_name="continue")
    def continue_(self, request, *args, **kwargs):
        run = self.get_object()
        runs.run_continue(run=run, by=request.user)
        return self.answer(run)

    @_move("Abort the run, saying why (the failure's owner; support at any time it is under way)",
           body=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def abort(self, request, *args, **kwargs):
        return self.answer(decisions.run_abort(run=self.get_object(), by=request.user, **self.validated()))

    @_move("Ask the customer's lead contact to authorise a rollback (the failure's owner, S15)",
           body=s.RollbackRequestSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, *args, **kwargs):
        run = self.get_object()
        rollback.rollback_request(run=run, by=request.user, **self.validated())
        return self.answer(run)

    def _decide(self, request, *, authorise: bool) -> Response:
        run = self.get_object()
        reason = self.validated()["reason"]
        decision = selectors_runs.rollback_open(run)
        if decision is None:
            raise RunError("No rollback is waiting for a decision.")
        rollback.rollback_decide(decision=decision, by=request.user, authorise=authorise, reason=reason)
        return self.answer(run)

    @_move("Authorise the rollback that waits (the customer's lead contact), saying why", body=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def authorise(self, request, *args, **kwargs):
        return self._decide(request, authorise=True)

    @_move("Refuse the rollback that waits (the customer's lead contact), saying why", body=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request, *args, **kwargs):
        return self._decide(request, authorise=False)

    @_move("Rebuild a server group before the failed step, which then runs again (the failure's owner, S16)",
           body=s.RebuildSerializer)
    @action(detail=True, methods=["post"])
    def rebuild(self, request, *args, **kwargs):
        run = self.get_object()
        fields = self.validated()
        rollback.rebuild_request(run=run, server_group=fields["group"], by=request.user, reason=fields["reason"])
        return self.answer(run)


router.register("runs", RunViewSet, basename="run")
