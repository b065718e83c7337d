"""Setting up a customer, one page a step: the organisation, a deployment, its server groups and
servers, then the contacts, each invited to choose their own password. Every step can be left
and taken up again: the organisation's page says what is still missing and links to its step.
The servers' step also corrects and removes what was registered."""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from portal import access, invitations, selectors, services
from portal.forms import ContactForm, DeploymentForm, OrganisationForm, ServerEditForm, ServerForm
from portal.models import Deployment, Server, ServerGroup
from portal.pages import REFUSALS, refusal
from portal.workflow import WorkflowError


def _refused(form, error: ValidationError | WorkflowError) -> None:
    """A service's refusal on the form: beside the field it names, else above the form."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, problems in error.message_dict.items():
            form.add_error(field if field in form.fields else None, problems)
    else:
        form.add_error(None, error.messages if isinstance(error, ValidationError) else str(error))


def _saved(request, form, service: Callable, **scope) -> object | None:
    """What `service` made of the posted form, or None: nothing was posted, the form is
    invalid, or the service refused (the form then says why)."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return service(by=request.user, **scope, **form.cleaned_data)
    except REFUSALS as error:
        _refused(form, error)
        return None


def _page(request, template: str, context: dict, form) -> object:
    return render(request, template, {**context, "form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@login_required
def organisation_create(request):
    """Step 1: the customer."""
    if not request.user.is_vendor:
        raise Http404
    if not access.may_manage_customers(request.user):
        raise PermissionDenied
    form = OrganisationForm(request.POST or None)
    if organisation := _saved(request, form, services.organisation_create):
        messages.success(request, f"{organisation.name} is registered. Next, its deployment.")
        return redirect("deployment-create", slug=organisation.slug)
    return _page(request, "portal/setup_organisation.html", {"step": 1}, form)


@require_http_methods(["GET", "POST"])
@login_required
def deployment_create(request, slug: str):
    """Step 2: a deployment of the customer's (platform, versions, load balancer, TLS)."""
    organisation = selectors.organisation_get(user=request.user, slug=slug)
    if not access.may_manage_customers(request.user):
        raise PermissionDenied
    form = DeploymentForm(request.POST or None, organisation=organisation)
    if deployment := _saved(request, form, services.deployment_create, organisation=organisation):
        messages.success(request, f"{deployment.name} is registered. Next, its servers.")
        return redirect("deployment-servers", pk=deployment.pk)
    return _page(request, "portal/setup_deployment.html", {"step": 2, "organisation": organisation}, form)


@require_http_methods(["GET", "POST"])
@login_required
def deployment_servers(request, pk: int):
    """Step 3: the deployment's server groups and servers, one server at a time."""
    deployment = selectors.deployment_get(user=request.user, pk=pk)
    if not access.may_register_servers(request.user):
        raise PermissionDenied
    form = ServerForm(request.POST or None, deployment=deployment)
    if server := _saved(request, form, services.server_register, deployment=deployment):
        messages.success(request, f"{server.hostname} is registered in group {server.group.position}.")
        return redirect("deployment-servers", pk=deployment.pk)
    return _fleet(request, deployment, form=form)


@require_http_methods(["GET", "POST"])
@login_required
def server_edit(request, pk: int):
    """A registered server's form, filled in, in place of the one that adds a server."""
    server, deployment = _server_of(request, pk)
    stored = _as_listed(deployment, server)  # `server` takes what is posted; the list shows what is stored
    form = ServerEditForm(request.POST or None, instance=server, deployment=deployment)
    status = None
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.server_update(server=server, by=request.user, **form.cleaned_data)
        except REFUSALS as error:
            _refused(form, error)
            status = 409 if isinstance(error, WorkflowError) else 400
        else:
            emptied = stored.group_id and not ServerGroup.objects.filter(pk=stored.group_id).exists()
            gone = _group_gone(deployment, stored.group.position) if emptied else ""
            return _done(request, deployment, f"{saved.hostname} is saved in {_place(saved)}.{gone}")
    return _fleet(request, deployment, form=form, editing=stored, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def server_remove(request, pk: int):
    """Remove a server, once confirmed: GET asks, POST removes."""
    server, deployment = _server_of(request, pk)
    stored = _as_listed(deployment, server)
    if request.method == "POST":
        try:
            emptied = services.server_remove(server=server, by=request.user)
        except REFUSALS as error:
            return _fleet(request, deployment, form=ServerForm(deployment=deployment), removing=stored,
                          refused=refusal(error), status=409)
        gone = _group_gone(deployment, emptied) if emptied else ""
        return _done(request, deployment, f"{stored.hostname} is removed.{gone}")
    return _fleet(request, deployment, form=ServerForm(deployment=deployment), removing=stored)


def _server_of(request, pk: int) -> tuple[Server, Deployment]:
    server = selectors.server_get(user=request.user, pk=pk)  # another organisation's: 404
    if not access.may_register_servers(request.user):
        raise PermissionDenied
    return server, selectors.deployment_get(user=request.user, pk=server.deployment_id)


def _as_listed(deployment: Deployment, server: Server) -> Server:
    return next(listed for listed in deployment.servers.all() if listed.pk == server.pk)


def _group_gone(deployment: Deployment, position: int) -> str:
    said = f" Group {position} had no server left and is removed"
    if deployment.groups.filter(position__gte=position).exists():
        return f"{said}; the groups after it move up one."
    return f"{said}."


def _place(server: Server) -> str:
    return f"group {server.group.position}" if server.group_id else "no group"


def _done(request, deployment: Deployment, said: str):
    """After a change: the servers' page again, saying what changed. An htmx request gets the
    page's fleet in place, and the address of the page."""
    messages.success(request, said)
    if not _partial(request):
        return redirect("deployment-servers", pk=deployment.pk)
    deployment = selectors.deployment_get(user=request.user, pk=deployment.pk)
    response = _fleet(request, deployment, form=ServerForm(deployment=deployment))
    response["HX-Push-Url"] = reverse("deployment-servers", args=[deployment.pk])
    response["HX-Reswap"] = "outerHTML show:window:top"  # where the news is said
    return response


def _partial(request) -> bool:
    # A page taken from the browser's history is asked for whole.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _emptied_by_removing(deployment: Deployment, server: Server) -> dict:
    """What removing `server` does to the groups, said before it happens: the group it leaves
    empty goes (`leaves_empty`), and the groups after it move up (`moving_up`, in words)."""
    group = next((group for group in deployment.groups.all() if group.pk == server.group_id), None)
    if group is None or len(group.servers.all()) > 1:
        return {}
    later = [str(other.position) for other in deployment.groups.all() if other.position > group.position]
    if len(later) > 1:
        moving_up = f"groups {', '.join(later[:-1])} and {later[-1]} move up one"
    else:
        moving_up = f"group {later[0]} becomes group {group.position}" if later else ""
    return {"leaves_empty": group, "moving_up": moving_up}


def _fleet(request, deployment: Deployment, *, form, status: int | None = None, **shown):
    """The servers' page, or its fleet (groups, servers and the form) for htmx. `shown`: the
    server being edited (`editing`) or asked about (`removing`), and a refusal (`refused`)."""
    context = {"step": 3, "organisation": deployment.organisation, "deployment": deployment, "form": form,
               "may_manage": access.may_manage_customers(request.user),
               "ungrouped": [server for server in deployment.servers.all() if server.group_id is None],
               "under_way": selectors.run_under_way(deployment), "partial": _partial(request), **shown}
    if removing := shown.get("removing"):
        context.update(_emptied_by_removing(deployment, removing))
    template = "portal/setup_servers.html#fleet" if context["partial"] else "portal/setup_servers.html"
    return render(request, template, context, status=status or (400 if form.errors else 200))


@require_http_methods(["GET", "POST"])
@login_required
def setup_contacts(request, slug: str):
    """Step 4: the customer's people, with their roles, each invited by e-mail to choose their
    own password (nobody types one for them)."""
    organisation = selectors.organisation_get(user=request.user, slug=slug)
    if not access.may(request.user, "contact.invite", organisation_id=organisation.pk):
        raise PermissionDenied
    form = ContactForm(request.POST or None, organisation=organisation,
                       may_grant_roles=access.may_grant_roles(request.user, organisation))
    if contact := _saved(request, form, invitations.contact_add_invited, organisation=organisation):
        messages.success(request, f"{contact.name} is added and invited: they choose their password from the "
                                  f"link mailed to {contact.email}.")
        return redirect("setup-contacts", slug=organisation.slug)
    context = {"step": 4, "organisation": organisation,
               "contacts": selectors.contact_list(user=request.user, organisation=organisation)}
    return _page(request, "portal/setup_contacts.html", context, form)
