"""REST API under /api/v1/: the same selectors (tenancy) and services (writes) as the pages.

Every queryset goes through `selectors.visible_to`, so a row of another organisation is 404,
never 403. Writes call the services; their domain errors become HTTP answers in one place
(`ServiceViewSet.handle_exception`): a ValidationError is 400, a WorkflowError (not allowed
now, such as a server's change while its deployment is being upgraded) 409, with the reason.
"""

import codecs
import json
import math
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, generics, mixins, parsers, routers, status, viewsets
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings

from portal import access, second_factor, security, selectors, serializers, services, sign_on
from portal.models import Contact, Deployment, Server, ServerGroup
from portal.selectors import visible_to
from portal.workflow import WorkflowError

ID = r"[0-9]+"


def field_errors(error: DjangoValidationError) -> dict:
    """A service's ValidationError as DRF's answer: a list of messages per field, and the rules
    that span fields under `non_field_errors`."""
    errors = as_serializer_error(error)
    if NON_FIELD_ERRORS in errors:
        errors[api_settings.NON_FIELD_ERRORS_KEY] = errors.pop(NON_FIELD_ERRORS)
    return errors


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large")
    return number


class JSONParser(parsers.JSONParser):
    """Strict JSON: a body nested too deeply to read (Python's parser recurses), or a number
    beyond what a float holds, is a 400 that says so, as any other malformed body."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.load(codecs.getreader(encoding)(stream), parse_float=_finite,
                             parse_constant=_refuse_constant)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the body is nested too deeply.") from None
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class WritesAllowed(BasePermission):
    """Whoever sees a row may read it; `rule` (from portal.access) says who may write. On a
    detail route the row is looked up first, so someone else's row is 404, never 403."""

    @staticmethod
    def rule(user) -> bool:
        raise NotImplementedError

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS or view.action is None or view.detail:
            return True  # unknown methods get their 405; detail routes are checked on the row
        return self.rule(request.user)

    def has_object_permission(self, request, view, obj) -> bool:
        return request.method in SAFE_METHODS or self.rule(request.user)


class ManagesCustomers(WritesAllowed):
    rule = staticmethod(access.may_manage_customers)


class RegistersServers(WritesAllowed):
    rule = staticmethod(access.may_register_servers)


class ServiceViewSet(viewsets.GenericViewSet):
    """Reads through selectors, writes through services.

    Which serializer an action uses is declared: `serializer_class` for the list and what create
    reads, `update_serializer_class` for what PUT and PATCH may change, `inputs` for the body of
    each other action, and `detail_serializer_class` for one row as a GET shows it. `get_with`, a
    selector called with the user and the row's id, reads one row as the user may see it (404
    otherwise). `answer` reads the row back the same way, so a write answers what a read would."""

    parser_classes = [JSONParser]  # the API speaks JSON only
    lookup_value_regex = ID  # a row's number in the path, unless a viewset says otherwise
    update_serializer_class = None
    detail_serializer_class = None
    filter_serializer_class = None
    inputs: dict = {}
    get_with: Callable | None = None

    def handle_exception(self, exc):
        if isinstance(exc, DjangoValidationError):
            exc = exceptions.ValidationError(field_errors(exc))
        elif isinstance(exc, WorkflowError):
            exc = Conflict(str(exc))
        return super().handle_exception(exc)

    def get_serializer_class(self):
        if self.action in self.inputs:
            return self.inputs[self.action]
        if self.action in ("update", "partial_update"):
            return self.update_serializer_class or self.serializer_class
        if self.action in ("list", "create"):
            return self.serializer_class
        return self.detail_serializer_class or self.serializer_class

    def get_object(self):
        if self.get_with is None:
            return super().get_object()
        row = self.get_with(user=self.request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, row)
        return row

    def filters(self) -> dict:
        """The list's query parameters, checked: a malformed one is 400."""
        if self.filter_serializer_class is None or self.action != "list":
            return {}
        params = self.filter_serializer_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return params.validated_data

    def validated(self, instance=None, *, partial: bool = False) -> dict:
        serializer = self.get_serializer(instance, data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def read_back(self, instance):
        if self.get_with is None:
            return self.get_queryset().get(pk=instance.pk)
        return self.get_with(user=self.request.user, pk=instance.pk)

    def answer(self, instance, *, status_code: int = status.HTTP_200_OK) -> Response:
        serializer_class = self.detail_serializer_class or self.serializer_class
        data = serializer_class(self.read_back(instance), context=self.get_serializer_context()).data
        return Response(data, status=status_code)


class Creates:
    """POST checks the body, makes the row with `create_with` (the service, called with the body's
    fields and `by`) and answers it as a GET would, with 201."""

    create_with: Callable

    def create(self, request, *args, **kwargs):
        row = self.create_with(by=request.user, **self.validated())
        return self.answer(row, status_code=status.HTTP_201_CREATED)


class PartialUpdates:
    """PUT reads the row, checks the body and answers the row as `update_with` (the service, given
    the row under its model's name) leaves it; PATCH is PUT with the fields left out kept."""

    update_with: Callable

    def update(self, request, *args, partial=False, **kwargs):
        row = self.get_object()
        fields = self.validated(row, partial=partial)
        return self.answer(self.update_with(**{row._meta.model_name: row}, by=request.user, **fields))

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)


@extend_schema_view(
    list=extend_schema(summary="Organisations you can see"),
    create=extend_schema(summary="Register a customer (support and administrators)"),
)
@extend_schema(tags=["organisations"])
class OrganisationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Creates, PartialUpdates, ServiceViewSet):
    serializer_class = serializers.OrganisationSerializer
    update_serializer_class = serializers.OrganisationUpdateSerializer
    permission_classes = [IsAuthenticated, ManagesCustomers]
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    create_with = staticmethod(services.organisation_create)
    update_with = staticmethod(services.organisation_update)

    def get_queryset(self):
        return selectors.organisation_list(user=self.request.user)


@extend_schema_view(list=extend_schema(parameters=[serializers.OrganisationFilterSerializer]))
@extend_schema(tags=["contacts"])
class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Creates, PartialUpdates, ServiceViewSet):
    """The people at a customer (S10). Vendor staff and the customer's own users keep them."""

    serializer_class = serializers.ContactSerializer
    update_serializer_class = serializers.ContactUpdateSerializer
    filter_serializer_class = serializers.OrganisationFilterSerializer
    create_with = staticmethod(services.contact_create)
    update_with = staticmethod(services.contact_update)

    def get_queryset(self):
        contacts = visible_to(Contact.objects.select_related("organisation"), self.request.user)
        if slug := self.filters().get("organisation"):
            contacts = contacts.filter(organisation=selectors.organisation_get(user=self.request.user, slug=slug))
        return contacts

    def destroy(self, request, *args, **kwargs):
        services.contact_delete(contact=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(parameters=[serializers.OrganisationFilterSerializer]),
    create=extend_schema(
        request=serializers.DeploymentSerializer, responses={201: serializers.DeploymentDetailSerializer}
    ),
    update=extend_schema(responses=serializers.DeploymentDetailSerializer),
    partial_update=extend_schema(responses=serializers.DeploymentDetailSerializer),
)
@extend_schema(tags=["deployments"])
class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Creates, PartialUpdates, ServiceViewSet):
    """A customer's environment; its detail holds the groups in upgrade order (S5) and what
    support must know before an upgrade (S4, S9)."""

    serializer_class = serializers.DeploymentSerializer
    update_serializer_class = serializers.DeploymentUpdateSerializer
    filter_serializer_class = serializers.OrganisationFilterSerializer
    permission_classes = [IsAuthenticated, ManagesCustomers]
    detail_serializer_class = serializers.DeploymentDetailSerializer
    get_with = staticmethod(selectors.deployment_get)
    create_with = staticmethod(services.deployment_create)
    update_with = staticmethod(services.deployment_update)

    def get_queryset(self):
        organisation = None
        if slug := self.filters().get("organisation"):
            organisation = selectors.organisation_get(user=self.request.user, slug=slug)
        deployments = selectors.deployment_list(user=self.request.user, organisation=organisation)
        return deployments.order_by("organisation__name", "name")


def _deployment_filter(view: ServiceViewSet) -> dict:
    """`?deployment=<id>` as a lookup: another organisation's deployment is 404."""
    if pk := view.filters().get("deployment"):
        return {"deployment": get_object_or_404(visible_to(Deployment.objects.all(), view.request.user), pk=pk)}
    return {}


@extend_schema_view(list=extend_schema(parameters=[serializers.DeploymentFilterSerializer]))
@method_decorator(sensitive_post_parameters("secret"), name="dispatch")
@extend_schema(tags=["servers"])
class ServerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Creates, PartialUpdates, ServiceViewSet):
    """The servers the engineers drive. Their credential is write-only: `has_secret` says
    whether one is stored, nothing ever reads it back."""

    serializer_class = serializers.ServerSerializer
    update_serializer_class = serializers.ServerUpdateSerializer
    filter_serializer_class = serializers.DeploymentFilterSerializer
    permission_classes = [IsAuthenticated, RegistersServers]
    create_with = staticmethod(services.server_create)
    update_with = staticmethod(services.server_update)

    def get_queryset(self):
        # By id: the model's ordering joins up to the organisation and sorts the whole fleet.
        return visible_to(Server.objects.order_by("pk"), self.request.user).filter(**_deployment_filter(self))

    def destroy(self, request, *args, **kwargs):
        services.server_remove(server=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(parameters=[serializers.DeploymentFilterSerializer]),
    create=extend_schema(summary="Add the next group to a deployment (S5: upgraded in this order)"),
)
@extend_schema(tags=["server groups"])
class ServerGroupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Creates, ServiceViewSet):
    serializer_class = serializers.ServerGroupSerializer
    filter_serializer_class = serializers.DeploymentFilterSerializer
    permission_classes = [IsAuthenticated, RegistersServers]
    create_with = staticmethod(services.group_create)

    def get_queryset(self):
        groups = ServerGroup.objects.prefetch_related(
            Prefetch("servers", queryset=Server.objects.order_by("role", "hostname"))
        )
        return visible_to(groups, self.request.user).filter(**_deployment_filter(self))


@extend_schema(
    tags=["authentication"],
    summary="Exchange an e-mail address and password for a new personal API token",
    request=serializers.LogInSerializer,
    responses={200: serializers.NewTokenSerializer},
)
@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class TokenView(generics.GenericAPIView):
    """Each log-in makes a new named token (listed at /api/v1/tokens/ and on the account page),
    its key answered this once. Log-in failures count towards django-axes' lockout, as on the
    log-in page."""

    serializer_class = serializers.LogInSerializer
    parser_classes = [JSONParser]
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request, *args, **kwargs):
        credentials = self.get_serializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        asked = dict(credentials.validated_data)
        # axes reads and marks the Django request: its middleware answers a lockout.
        user = authenticate(request._request, username=asked.pop("email"), password=asked.pop("password"))
        if user is None:
            raise exceptions.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["Unable to log in with this e-mail address and password."]}
            )
        if refusal := sign_on.password_refused(user):
            raise exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [
                f"{refusal} Then make a token on your account page."]})
        code = asked.pop("code", "")
        if second_factor.has_second_factor(user) and not second_factor.code_accepted(user, code):
            # A password alone must not open what the log-in page keeps behind the second factor.
            security.record("mfa_failed", request=request._request, user=user, factor="totp", via="api")
            raise exceptions.ValidationError({"code": [
                "Your account has a second factor: give the current code of your authenticator app (or make a "
                "token on your account page after logging in with it)."]})
        try:
            token, key = services.token_create(by=user, **asked)
        except DjangoValidationError as error:
            raise exceptions.ValidationError(field_errors(error)) from None
        return Response(serializers.new_token_data(token, key))


@extend_schema_view(
    list=extend_schema(summary="Your personal API tokens (never their keys)"),
    retrieve=extend_schema(summary="One of your personal API tokens (never its key)"),
    create=extend_schema(summary="Make a personal API token: its key is answered this once",
                         request=serializers.TokenRequestSerializer,
                         responses={201: serializers.NewTokenSerializer}),
    destroy=extend_schema(summary="Revoke one of your tokens"),
)
@extend_schema(tags=["tokens"])
class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ServiceViewSet):
    """Your own tokens only: someone else's is 404, staff's included."""

    serializer_class = serializers.ApiTokenSerializer
    inputs = {"create": serializers.TokenRequestSerializer}

    def get_queryset(self):
        return selectors.token_list(user=self.request.user)

    def create(self, request, *args, **kwargs):
        token, key = services.token_create(by=request.user, **self.validated())
        return Response(serializers.new_token_data(token, key), status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        services.token_revoke(token=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class Router(routers.DefaultRouter):
    """The viewsets, plus the token exchange, which is no collection of rows; the API root
    lists both."""

    root_view_name = "api-root"
    extra_urls = {"token": path("token/", TokenView.as_view(), name="token")}

    def get_api_root_view(self, api_urls=None):
        endpoints = {prefix: self.routes[0].name.format(basename=basename) for prefix, _, basename in self.registry}
        endpoints.update({prefix: url.name for prefix, url in self.extra_urls.items()})
        return self.APIRootView.as_view(api_root_dict=endpoints)

    def get_urls(self):
        return [*super().get_urls(), *self.extra_urls.values()]


router = Router()
router.register("organisations", OrganisationViewSet, basename="organisation")
router.register("contacts", ContactViewSet, basename="contact")
router.register("deployments", DeploymentViewSet, basename="deployment")
router.register("server-groups", ServerGroupViewSet, basename="servergroup")
router.register("servers", ServerViewSet, basename="server")
router.register("tokens", ApiTokenViewSet, basename="apitoken")
