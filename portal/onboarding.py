"""Setting up a customer, one page a step: the organisation, a deployment, its server groups and
servers, then the contacts, each invited to choose their own password. Every step can be left
and taken up again: the organisation's page says what is still missing and links to its step."""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from portal import access, invitations, selectors, services
from portal.forms import ContactForm, DeploymentForm, OrganisationForm, ServerForm
from portal.pages import REFUSALS
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
    context = {"step": 3, "organisation": deployment.organisation, "deployment": deployment,
               "may_manage": access.may_manage_customers(request.user)}
    return _page(request, "portal/setup_servers.html", context, form)


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
