"""REST API for releases, upgrade requests and their checklists, on the portal's router.

The same selectors (tenancy: someone else's row is 404) and services (rules, writes) as the
pages. On top of portal.api's answers for a service's ValidationError (400) and
PermissionDenied (403), a WorkflowError (a move not allowed now, or made first by someone else)
is 409 with the service's message.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from portal.api import Creates, JSONParser, ManagesCustomers, PartialUpdates, ServiceViewSet, field_errors, router
from portal.selectors import visible_to
from upgrades import evidence, selectors
from upgrades.booking import booking
from upgrades import serializers as s
from upgrades.models import ChecklistItem, ItemAttachment
from upgrades.services import checklist, preflight, releases, requests
from upgrades.workflow import WorkflowError

VERSION = r"[0-9]+(?:\.[0-9]+){1,3}"
CONFLICT = {409: s.ConflictSerializer}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class WorkflowViewSet(ServiceViewSet):
    """A ServiceViewSet that also answers the workflow's refusals."""

    def handle_exception(self, exc):
        if isinstance(exc, WorkflowError):
            exc = Conflict(str(exc))
        return super().handle_exception(exc)


def _move(summary: str, *, body=None, answer: int = status.HTTP_200_OK):
    """The schema of a workflow action: its input, the request it answers, and 409."""
    return extend_schema(
        summary=summary, request=body, responses={answer: s.UpgradeRequestDetailSerializer, **CONFLICT}
    )


# Releases ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Releases (customers see the published ones)"),
    create=extend_schema(summary="Add a release as a draft (support and administrators); its kind is derived"),
    publish=extend_schema(summary="Publish a draft release: customers can read it and request it", request=None),
)
@extend_schema(tags=["releases"])
class ReleaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Creates, PartialUpdates, WorkflowViewSet):
    serializer_class = s.ReleaseSerializer
    create_with = staticmethod(releases.release_create)
    update_with = staticmethod(releases.release_update)
    permission_classes = [IsAuthenticated, ManagesCustomers]
    lookup_field = "version"
    lookup_value_regex = VERSION

    def get_queryset(self):
        return selectors.release_list(user=self.request.user)

    @action(detail=True, methods=["post"])
    def publish(self, request, *args, **kwargs):
        return self.answer(releases.release_publish(release=self.get_object(), by=request.user))


# Upgrade requests -------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Upgrade requests: the customer's own, or the support queue",
        parameters=[s.RequestFilterSerializer],
    ),
    retrieve=extend_schema(summary="A request with its check, impact and checklist"),
    create=extend_schema(
        summary="Request an upgrade of a deployment to a published release",
        request=s.UpgradeRequestCreateSerializer, responses={201: s.UpgradeRequestDetailSerializer},
    ),
)
@extend_schema(tags=["upgrade requests"])
class UpgradeRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Creates, WorkflowViewSet):
    """Each move of the workflow is one action, allowed to the same people as on the pages: a
    customer approving is 403; a move not possible in the request's state now, or made first by
    someone else, is 409 with the reason."""

    serializer_class = s.UpgradeRequestSerializer
    detail_serializer_class = s.UpgradeRequestDetailSerializer
    filter_serializer_class = s.RequestFilterSerializer
    get_with = staticmethod(selectors.request_get)
    create_with = staticmethod(requests.request_create)
    # What each action reads from the body; every action answers the request as a GET would.
    inputs = {
        "create": s.UpgradeRequestCreateSerializer,
        "schedule_check": s.ScheduleCheckSerializer,
        "record_check": s.RecordCheckSerializer,
        "refuse": s.ReasonSerializer,
        "withdraw": s.WithdrawSerializer,
        "reopen": s.ReasonSerializer,
    }

    def get_queryset(self):
        filters = self.filters()
        user = self.request.user
        queue = selectors.request_list(
            user=user, states=sorted(filters.get("state", [])), assignee=filters.get("assignee", ""),
            search=filters.get("search", ""),
        )
        # As on the pages: support works oldest first, a customer sees the latest first.
        return queue.order_by("state_changed_at", "pk") if user.is_vendor else queue.order_by("-created_at", "-pk")


    @_move("Submit the request and its checklist to support")
    @action(detail=True, methods=["post"])
    def submit(self, request, *args, **kwargs):
        return self.answer(requests.request_submit(upgrade=self.get_object(), by=request.user))

    @_move("Take a request nobody works on (support)")
    @action(detail=True, methods=["post"])
    def assign(self, request, *args, **kwargs):
        return self.answer(requests.request_assign(upgrade=self.get_object(), by=request.user))

    @_move("Take over a request another support person holds")
    @action(detail=True, methods=["post"], url_path="take-over", url_name="take-over")
    def take_over(self, request, *args, **kwargs):
        return self.answer(requests.request_assign(upgrade=self.get_object(), by=request.user, take_over=True))

    @_move("Book the prerequisite check on a free check slot (the assignee); an engineer free then takes it",
           body=s.ScheduleCheckSerializer)
    @action(detail=True, methods=["post"], url_path="schedule-check", url_name="schedule-check")
    def schedule_check(self, request, *args, **kwargs):
        # The check holds an engineer's time like a window: it is booked through the slot engine.
        upgrade = self.get_object()  # someone else's request is 404 before any 400
        booking().check_book(
            upgrade=upgrade, start=self.validated()["start"], by=request.user,
            not_free="No engineer is free for the check at that time: choose one of the free check slots "
                     f"(GET /api/v1/requests/{upgrade.pk}/slots/?purpose=check).",
        )
        upgrade.refresh_from_db()
        return self.answer(upgrade)

    @_move("Record how the prerequisite check went (support or an engineer)", body=s.RecordCheckSerializer)
    @action(detail=True, methods=["post"], url_path="record-check", url_name="record-check")
    def record_check(self, request, *args, **kwargs):
        upgrade = self.get_object()  # someone else's request is 404 before any 400
        return self.answer(requests.request_record_check(upgrade=upgrade, by=request.user, **self.validated()))

    @_move("Approve: every required item accepted and the check passed (the assignee)")
    @action(detail=True, methods=["post"])
    def approve(self, request, *args, **kwargs):
        return self.answer(requests.request_approve(upgrade=self.get_object(), by=request.user))

    @_move("Refuse to proceed, saying why (the assignee)", body=s.ReasonSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request, *args, **kwargs):
        upgrade = self.get_object()  # someone else's request is 404 before any 400
        return self.answer(requests.request_refuse(upgrade=upgrade, by=request.user, **self.validated()))

    @_move("Withdraw the request (the customer)", body=s.WithdrawSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, *args, **kwargs):
        upgrade = self.get_object()  # someone else's request is 404 before any 400
        return self.answer(requests.request_withdraw(upgrade=upgrade, by=request.user, **self.validated()))

    @_move("Reopen a refused, withdrawn or approved request for review (support)", body=s.ReasonSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, *args, **kwargs):
        upgrade = self.get_object()  # someone else's request is 404 before any 400
        return self.answer(requests.request_reopen(upgrade=upgrade, by=request.user, **self.validated()))

    @_move("Issue the scheduling link of an approved on-premises request (support): it is e-mailed to the "
           "customer, any earlier link stops working; the answer shows it in `scheduling_link`")
    @action(detail=True, methods=["post"], url_path="issue-link", url_name="issue-link")
    def issue_link(self, request, *args, **kwargs):
        upgrade = self.get_object()
        booking().link_issue(upgrade=upgrade, by=request.user)
        return self.answer(upgrade)

    @_move("Measure what can be measured: a worker probes the servers; the items show the result", answer=202)
    @action(detail=True, methods=["post"])
    def preflight(self, request, *args, **kwargs):
        upgrade = self.get_object()
        preflight.preflight_request(upgrade=upgrade, by=request.user)
        return self.answer(upgrade, status_code=status.HTTP_202_ACCEPTED)


# Checklist items and their files ----------------------------------------------------------


def _item_moves(summary: str, *, body=None):
    return extend_schema(summary=summary, request=body, responses={200: s.ChecklistItemSerializer, **CONFLICT})


@extend_schema_view(list=extend_schema(parameters=[s.ItemFilterSerializer]))
@extend_schema(tags=["checklist items"])
class ChecklistItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkflowViewSet):
    """The prerequisites of requests (S9-S11): the customer provides, the assigned support
    person accepts or sends back. Items that no longer apply stay, marked `obsolete`."""

    serializer_class = s.ChecklistItemSerializer
    detail_serializer_class = s.ChecklistItemSerializer
    filter_serializer_class = s.ItemFilterSerializer
    inputs = {"provide": s.EvidenceSerializer, "send_back": s.ReasonSerializer}

    def get_queryset(self):
        items = visible_to(
            ChecklistItem.objects.select_related(
                "request__deployment__organisation", "request__assignee", "provided_by", "reviewed_by"
            ).prefetch_related(Prefetch("attachments", queryset=ItemAttachment.objects.defer("content"))),
            self.request.user,
        )
        if pk := self.filters().get("request"):
            items = items.filter(request=selectors.request_get(user=self.request.user, pk=pk))
        return items.order_by("-request_id", "position", "pk")

    @_item_moves(
        "Provide the evidence of an item: text, files (multipart/form-data), or both",
        body={"multipart/form-data": s.EvidenceSerializer, "application/json": s.EvidenceSerializer},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, JSONParser])
    def provide(self, request, *args, **kwargs):
        item = self.get_object()
        fields = self.validated()
        try:
            return self.answer(checklist.item_provide(item=item, by=request.user, **fields))
        except DjangoValidationError as error:
            # The service names what it stores, `evidence`; the caller sent it as `text`.
            errors = field_errors(error)
            raise exceptions.ValidationError(
                {"text" if field == "evidence" else field: messages for field, messages in errors.items()}
            ) from None

    @_item_moves("Accept the evidence of an item (the assigned support person)")
    @action(detail=True, methods=["post"])
    def accept(self, request, *args, **kwargs):
        return self.answer(checklist.item_accept(item=self.get_object(), by=request.user))

    @_item_moves("Send an item back, saying what is missing (the assigned support person)", body=s.ReasonSerializer)
    @action(detail=True, methods=["post"], url_path="send-back", url_name="send-back")
    def send_back(self, request, *args, **kwargs):
        item = self.get_object()
        return self.answer(checklist.item_send_back(item=item, by=request.user, **self.validated()))


_FILE_TYPES = sorted({content_type for content_type, _ in evidence.ACCEPTED.values()})


@extend_schema(tags=["checklist items"])
class AttachmentViewSet(mixins.RetrieveModelMixin, WorkflowViewSet):
    """Evidence files: what they are, and the file itself, always as a download."""

    serializer_class = s.AttachmentSerializer

    def get_queryset(self):
        return visible_to(ItemAttachment.objects.defer("content"), self.request.user)

    @extend_schema(
        summary="Delete an evidence file while its checklist is open (the customer's people or vendor staff)",
        responses={204: None, **CONFLICT},
    )
    def destroy(self, request, *args, **kwargs):
        attachment = selectors.attachment_get(user=request.user, pk=self.kwargs["pk"])
        checklist.attachment_delete(attachment=attachment, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The file itself",
        responses={(200, content_type): OpenApiTypes.BINARY for content_type in _FILE_TYPES},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, *args, **kwargs):
        return evidence.download(selectors.attachment_get(user=request.user, pk=self.kwargs["pk"]))


router.register("releases", ReleaseViewSet, basename="release")
router.register("requests", UpgradeRequestViewSet, basename="upgraderequest")
router.register("checklist-items", ChecklistItemViewSet, basename="checklistitem")
router.register("attachments", AttachmentViewSet, basename="attachment")
