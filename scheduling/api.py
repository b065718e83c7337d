"""REST API for scheduling, on the portal's router: the free slots of an upgrade request, its
booking, and the maintenance windows.

The same selectors (tenancy: someone else's request or window is 404) and services (rules,
writes) as the booking page. As in upgrades.api, a WorkflowError (a move not allowed now, or
made first by someone else) is 409 with the service's message; a slot that is no longer free
is 409 too, with the free slots now, so that a client can offer them at once.

Who may book is the scheduling link's rule (S8): the request is approved and on premises, and
a customer holds a live link (issued, not withdrawn, not expired); support books for them.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from portal import access
from portal.api import router
from portal.models import Server, User
from portal.selectors import count_of, visible_to
from portal.workflow import WorkflowError
from scheduling import selectors
from scheduling import serializers as s
from scheduling.choices import Purpose
from scheduling.models import MaintenanceWindow
from scheduling.services import lifecycle
from scheduling.services.booking import SlotTaken, may_book, slot_book
from scheduling.services.windows import require_may_change, slot_move, window_cancel, window_confirm
from scheduling.slots import Slot
from scheduling.workflow import MOVES, allowed
from upgrades import selectors as upgrade_selectors
from upgrades.api import CONFLICT, WorkflowViewSet
from upgrades.choices import RequestState
from upgrades.models import UpgradeRequest
from upgrades.serializers import ReasonSerializer

# How many fresh slots a "just taken" answer carries.
FRESH_SLOTS = 20
TAKEN = {409: s.SlotTakenSerializer}
TAKEN_MESSAGE = "This slot was just taken. Here are the free slots now."


def windows_visible(*, user: User) -> QuerySet[MaintenanceWindow]:
    """Windows the caller may see, with what a window's answer shows, in a fixed number of queries."""
    return visible_to(
        MaintenanceWindow.objects.select_related(
            "request__deployment__organisation", "engineer", "booked_by", "run"
        ).annotate(server_count=count_of(Server, "deployment", of="request__deployment")),
        user,
    )


def _holding(upgrade: UpgradeRequest, purpose: str) -> MaintenanceWindow | None:
    return upgrade.windows.holding().filter(purpose=purpose).first()


def _check_bookable(upgrade: UpgradeRequest, user: User, purpose: str, *, booking: bool) -> None:
    """Whether `user` may see slots for (or, `booking`, book) this request's window or check;
    PermissionDenied or WorkflowError with the reason otherwise. The services check it again
    under their lock."""
    if purpose == Purpose.CHECK:
        if not user.is_vendor or (booking and not access.is_desk(user)):
            raise PermissionDenied
        if upgrade.state not in (RequestState.IN_REVIEW, RequestState.CHECK_SCHEDULED):
            raise WorkflowError("The prerequisite check can be booked while support reviews the request.")
        return
    if booking and not may_book(user, upgrade):
        raise PermissionDenied
    if upgrade.deployment.organisation.is_cloud:
        raise WorkflowError("Cloud-hosted upgrades are planned by the vendor: see your upgrade plan instead.")
    if upgrade.state != RequestState.APPROVED:
        raise WorkflowError("This upgrade is not approved yet: a window can be booked once support approves it (S8).")
    if user.is_customer:
        link = upgrade.scheduling_links.status()
        if not link.live:
            raise WorkflowError(link.message)  # none issued yet, withdrawn or expired: said as it is


def _check_start(upgrade: UpgradeRequest, start: datetime) -> None:
    """What a start can be at all, said before the slots are looked at (400)."""
    now = timezone.now()
    if start <= now:
        raise exceptions.ValidationError({"start": ["Choose a start in the future: one of the free slots."]})
    if start > now + selectors.horizon() + timedelta(days=1):
        raise exceptions.ValidationError(
            {"start": [f"Slots are offered up to {settings.SCHEDULING_HORIZON_DAYS} days ahead: choose one of them."]}
        )
    zone = upgrade.deployment.organisation.time_zone
    local, grid = start.astimezone(ZoneInfo(zone)), settings.SCHEDULING_GRID_MINUTES
    if local.second or local.microsecond or (local.hour * 60 + local.minute) % grid:
        raise exceptions.ValidationError(
            {"start": [f"Slots start every {grid} minutes by the clock of {zone}: choose one of the free slots."]}
        )


class Slots:
    """Slots as the caller sees them: in a zone, with engineer ids for vendor staff only."""

    def __init__(self, view: WorkflowViewSet, zone: str):
        self.context = {**view.get_serializer_context(), "zone": zone}

    def data(self, slots: list[Slot]) -> list[dict]:
        return s.SlotSerializer(slots, many=True, context=self.context).data


def _taken(view: WorkflowViewSet, upgrade: UpgradeRequest, *, purpose: str, zone: str,
           moving: MaintenanceWindow | None = None) -> Response:
    """409: the slot is not free (any more); the free slots now, to choose again."""
    # The first few are nearly always within the week: computing the whole horizon only when not.
    # Those who lost the same race share one computation (selectors.slots_for keeps it).
    length = selectors.length_of(upgrade=upgrade, purpose=purpose)
    fresh = selectors.slots_for(upgrade=upgrade, purpose=purpose, exclude_window=moving, within=timedelta(days=7),
                                length=length)
    if len(fresh) < FRESH_SLOTS:
        fresh = selectors.slots_for(upgrade=upgrade, purpose=purpose, exclude_window=moving, length=length)
    fresh = fresh[:FRESH_SLOTS]
    return Response(
        {"detail": TAKEN_MESSAGE, "slots": Slots(view, zone).data(fresh)},
        status=status.HTTP_409_CONFLICT,
    )

REQUEST_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The upgrade request (its id).")


@extend_schema(tags=["scheduling"], parameters=[REQUEST_ID])
class RequestBookingViewSet(WorkflowViewSet):
    """An upgrade request's free slots and its booking, beside the request's own routes
    (`/requests/{id}/slots/`, `/requests/{id}/window/`)."""

    serializer_class = s.SlotListSerializer
    detail_serializer_class = s.WindowSerializer
    inputs = {"slots": s.SlotQuerySerializer, "window": s.BookSerializer}

    def upgrade(self) -> UpgradeRequest:
        return selectors.request_for_booking(user=self.request.user, pk=self.kwargs["id"])

    def read_back(self, instance):
        return windows_visible(user=self.request.user).get(pk=instance.pk)

    @extend_schema(
        summary="Free slots for the request's window (or check), one week at a time, standard and out-of-hours marked",
        parameters=[s.SlotQuerySerializer], responses={200: s.SlotListSerializer, **CONFLICT},
    )
    @action(detail=False, methods=["get"])
    def slots(self, request, *args, **kwargs):
        upgrade = self.upgrade()  # someone else's request is 404 before any 400
        query = s.SlotQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        purpose, week = query.validated_data["purpose"], query.validated_data["week"]
        zone = query.validated_data.get("tz") or upgrade.deployment.organisation.time_zone
        _check_bookable(upgrade, request.user, purpose, booking=False)
        moving = _holding(upgrade, purpose)
        tz, now = ZoneInfo(zone), timezone.now()
        # The weeks of the horizon by the caller's clock, from the week of the first bookable day.
        first = (now + timedelta(days=1)).astimezone(tz).date()
        monday = first - timedelta(days=first.weekday())
        weeks = ((now + timedelta(days=1) + selectors.horizon()).astimezone(tz).date() - monday).days // 7 + 1
        if week >= weeks:
            raise exceptions.ValidationError({"week": [f"The slots span {weeks} weeks: choose 0 to {weeks - 1}."]})
        week_start = monday + timedelta(weeks=week)
        slots = [
            slot for slot in selectors.slots_for(upgrade=upgrade, purpose=purpose, exclude_window=moving, now=now)
            if week_start <= slot.start.astimezone(tz).date() < week_start + timedelta(days=7)
        ]
        return Response({
            "request": upgrade.pk, "purpose": purpose, "time_zone": zone,
            "length_minutes": int(selectors.length_of(upgrade=upgrade, purpose=purpose).total_seconds() // 60),
            "week": week, "weeks": weeks, "week_start": date.isoformat(week_start),
            "window": moving.pk if moving else None, "slots": Slots(self, zone).data(slots),
        })

    @extend_schema(
        summary="Book the request's window (or, support, its prerequisite check) on a free slot",
        description="Sending the same start again answers the window already booked (200). A slot that "
        "is not free any more, or was just taken by someone else, is 409 with the free slots now.",
        request=s.BookSerializer,
        responses={201: s.WindowSerializer, 200: s.WindowSerializer, **TAKEN},
    )
    @action(detail=False, methods=["post"])
    def window(self, request, *args, **kwargs):
        upgrade = self.upgrade()  # someone else's request is 404 before any 400
        fields = self.validated()
        start, purpose = fields["start"], fields["purpose"]
        zone = fields.get("time_zone") or upgrade.deployment.organisation.time_zone
        _check_bookable(upgrade, request.user, purpose, booking=True)
        try:
            _check_start(upgrade, start)
        except exceptions.ValidationError:
            existing = _holding(upgrade, purpose)
            if existing is None or existing.start != start:
                raise
            # The same booking again is answered as it is, even once its start has passed.
        try:
            window, created = slot_book(upgrade=upgrade, start=start, purpose=purpose, by=request.user)
        except SlotTaken:
            # Not a free slot, or every engineer free for it was booked by someone else a moment ago.
            # Nothing was written: an upgrade's window that holds time would have been answered
            # (or refused) instead, so only a check booked again elsewhere has one to leave out.
            moving = _holding(upgrade, purpose) if purpose == Purpose.CHECK else None
            return _taken(self, upgrade, purpose=purpose, zone=zone, moving=moving)
        return self.answer(window, status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _window_move(summary: str, *, body=None, responses=None):
    return extend_schema(summary=summary, request=body, responses=responses or {200: s.WindowSerializer, **CONFLICT})


@extend_schema_view(
    list=extend_schema(
        summary="Maintenance windows and prerequisite checks, by start: all (vendor staff) or your organisation's",
        parameters=[s.WindowFilterSerializer],
    ),
    retrieve=extend_schema(summary="A maintenance window with its announced impact"),
)
@extend_schema(tags=["scheduling"])
class WindowViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkflowViewSet):
    """Booked windows and their moves (scheduling.workflow): support confirms; the customer
    reschedules or cancels up to the cut-off before the start, support at any time."""

    serializer_class = s.WindowSerializer
    filter_serializer_class = s.WindowFilterSerializer
    inputs = {"reschedule": s.RescheduleSerializer, "cancel": ReasonSerializer}

    def get_queryset(self):
        filters = self.filters()
        windows = windows_visible(user=self.request.user)
        if engineer := filters.get("engineer"):
            windows = windows.filter(engineer_id=engineer)
        if states := filters.get("state"):
            windows = windows.filter(state__in=sorted(states))
        if request := filters.get("request"):
            # As the other filters naming a row: someone else's request is 404, not an empty list.
            windows = windows.filter(request=upgrade_selectors.request_get(user=self.request.user, pk=request))
        if filters.get("from") or filters.get("to"):
            windows = windows.filter(period__overlap=DateTimeTZRange(filters.get("from"), filters.get("to")))
        return windows.order_by("period", "pk")


    @_window_move("Confirm an out-of-hours request (staff are available, S7) or a cloud proposal (support)")
    @action(detail=True, methods=["post"])
    def confirm(self, request, *args, **kwargs):
        return self.answer(window_confirm(window=self.get_object(), by=request.user))

    @_window_move(
        "Move the window to another free slot: the calendar entry follows (the customer up to the cut-off)",
        body=s.RescheduleSerializer, responses={200: s.WindowSerializer, **TAKEN},
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, *args, **kwargs):
        window = self.get_object()  # someone else's window is 404 before any 400
        fields = self.validated()
        start, zone = fields["start"], fields.get("time_zone") or window.request.deployment.organisation.time_zone
        # Said before the slots are looked at; the service checks again under its lock.
        if not allowed("reschedule", window.state):
            raise WorkflowError(
                f"This window is {window.get_state_display().lower()}: it cannot be {MOVES['reschedule'].label} now."
            )
        require_may_change(window, request.user)
        if start != window.start:
            _check_start(window.request, start)  # the same time again is answered as it is
        try:
            moved = slot_move(window=window, start=start, by=request.user, reason=fields["reason"])
        except SlotTaken:
            # Not a free slot, or every engineer free for it was booked by someone else a moment ago.
            return _taken(self, window.request, purpose=window.purpose, zone=zone, moving=window)
        return self.answer(moved)

    @_window_move("Plan the run of a confirmed upgrade window that has none yet (vendor staff)")
    @action(detail=True, methods=["post"])
    def plan(self, request, *args, **kwargs):
        window = self.get_object()
        lifecycle.window_plan(window=window, by=request.user)
        return self.answer(window)

    @_window_move("Cancel the window, saying why: everybody who was told is told again", body=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        window = self.get_object()  # someone else's window is 404 before any 400
        return self.answer(window_cancel(window=window, by=request.user, **self.validated()))


router.register(r"requests/(?P<id>[0-9]+)", RequestBookingViewSet, basename="requestbooking")
router.register("windows", WindowViewSet, basename="window")
