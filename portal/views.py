from math import ceil

from allauth.account.internal.flows import login as login_flow
from allauth.account.models import Login
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import access, invitations, ratelimit, security, selectors, services, sessions, sign_on
from portal.choices import NoticeKind
from portal.forms import ContactForm, LoginForm, PasswordChangeForm, SetPasswordForm, SignOnForm, TokenForm
from portal.middleware import policy_allowing_forms_to
from portal.pages import carry_out

ORGANISATIONS_PER_PAGE = 25
RUNS_PER_PAGE = 10


@require_GET
@login_required
def home(request):
    """Each role starts where its work is."""
    if access.is_desk(request.user):
        return redirect("waiting-for-me")
    if request.user.is_vendor:
        return redirect("my-windows")  # engineers: today's and the coming windows
    return redirect("request-list")


@require_GET
@login_required
def organisation_list(request):
    if not request.user.is_vendor:
        raise Http404
    search = request.GET.get("q", "").strip()[:100]
    page = Paginator(selectors.organisation_list(user=request.user, search=search), ORGANISATIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "search": search, "may_create": access.may_manage_customers(request.user)}
    template = "portal/organisation_list.html#results" if request.htmx else "portal/organisation_list.html"
    return render(request, template, context)


@require_GET
@login_required
def my_organisation(request):
    organisation = selectors.organisation_of(user=request.user)
    if organisation is None:
        raise Http404
    return redirect("organisation-detail", slug=organisation.slug)


@require_GET
@login_required
def organisation_detail(request, slug: str):
    organisation = selectors.organisation_get(user=request.user, slug=slug)
    deployments = selectors.deployment_list(user=request.user, organisation=organisation)
    contacts = selectors.contact_list(user=request.user, organisation=organisation)
    return render(
        request,
        "portal/organisation_detail.html",
        {
            "organisation": organisation,
            "contacts": contacts,
            # What its set-up still lacks, for the staff who set customers up.
            "missing": selectors.setup_missing(deployments=deployments, contacts=contacts) if request.user.is_vendor
            else [],
            "may_manage": access.may_manage_customers(request.user),
            # Each with why it cannot be upgraded without interrupting service, if it cannot.
            "deployments": [(deployment, deployment.topology_warning(group_count=deployment.group_count))
                            for deployment in deployments],
            "may_edit_contacts": access.may_edit_contacts(request.user, organisation),
            "may_invite": access.may(request.user, "contact.invite", organisation_id=organisation.pk),
            "may_manage_webhooks": access.may_manage_webhooks(request.user, organisation),
            "history": selectors.history_of(organisation),
        },
    )


@require_GET
@login_required
def deployment_detail(request, pk: int):
    deployment = selectors.deployment_get(user=request.user, pk=pk)
    runs = Paginator(selectors.run_history(deployment), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    if request.htmx:
        return render(request, "portal/deployment_detail.html#runs", {"deployment": deployment, "runs": runs})
    return render(
        request,
        "portal/deployment_detail.html",
        {
            "deployment": deployment,
            "runs": runs,
            "organisation": deployment.organisation,
            "warning": deployment.topology_warning(group_count=deployment.group_count),
            "ungrouped": [server for server in deployment.servers.all() if server.group_id is None],
            "open_request": selectors.open_request_of(deployment),
            "may_request": request.user.is_customer and not deployment.organisation.is_cloud,
            "may_register_servers": access.may_register_servers(request.user),
            "may_manage_status_page": access.may(request.user, "status_page.manage",
                                                 organisation_id=deployment.organisation_id),
            "history": selectors.history_of(deployment),
        },
    )


def _contact_form_page(request, *, organisation, contact=None):
    form = ContactForm(request.POST or None, instance=contact, organisation=organisation,
                       may_grant_roles=access.may_grant_roles(request.user, organisation, contact))
    if request.method == "POST" and form.is_valid():
        try:
            if contact is None:
                services.contact_create(organisation=organisation, by=request.user, **form.cleaned_data)
                messages.success(request, f"{form.cleaned_data['name']} was added to the contacts.")
            else:
                services.contact_update(contact=contact, by=request.user, **form.cleaned_data)
                messages.success(request, f"{contact.name} was updated.")
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("organisation-detail", slug=organisation.slug)
    status = 400 if form.errors else 200
    return render(
        request, "portal/contact_form.html",
        {"form": form, "organisation": organisation, "contact": contact,
         "may_remove": contact is not None and access.may_remove_contact(request.user, contact)},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def contact_create(request, slug: str):
    organisation = selectors.organisation_get(user=request.user, slug=slug)
    if not access.may_edit_contacts(request.user, organisation):
        raise PermissionDenied
    return _contact_form_page(request, organisation=organisation)


@require_http_methods(["GET", "POST"])
@login_required
def contact_edit(request, pk: int):
    contact = selectors.contact_get(user=request.user, pk=pk)
    if not access.may_edit_contacts(request.user, contact.organisation):
        raise PermissionDenied
    return _contact_form_page(request, organisation=contact.organisation, contact=contact)


@require_POST
@login_required
def contact_delete(request, pk: int):
    contact = selectors.contact_get(user=request.user, pk=pk)
    organisation, name = contact.organisation, contact.name  # what the page says once the contact is gone
    carry_out(request, lambda: services.contact_delete(contact=contact, by=request.user),
              done=f"{name} was removed from the contacts.")
    return redirect("organisation-detail", slug=organisation.slug)


class LoginView(auth_views.LoginView):
    """The password is checked here (and throttled by django-axes); then allauth's log-in stages
    take over, so that a person with a second factor gives it before the session is theirs."""

    def dispatch(self, request, *args, **kwargs):
        return _sign_on_forms_allowed(super().dispatch(request, *args, **kwargs))

    def get_context_data(self, **kwargs):
        kwargs.setdefault("sign_on_form", SignOnForm(auto_id="id_sign_on_%s"))
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        user = form.get_user()
        if refusal := sign_on.password_refused(user):
            form.add_error(None, refusal)
            return self.form_invalid(form)
        pending = Login(user=user, email=user.email, redirect_url=self.get_success_url())
        return login_flow.perform_password_login(self.request, {"email": user.email}, pending)


@require_POST
def sign_on_start(request):
    """Log in with single sign-on: the e-mail address's domain says which identity provider."""
    form = SignOnForm(request.POST, auto_id="id_sign_on_%s")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = ""
    if form.is_valid():
        if (found := sign_on.sign_on_for(form.cleaned_data["email"])) is not None:
            return sign_on.redirect_to_provider(request, found, next_url=next_url)
        domain = form.cleaned_data["email"].rpartition("@")[2]
        form.add_error("email", f"No single sign-on is set up for {domain}: log in with your e-mail address and "
                                "password.")
    return _sign_on_forms_allowed(render(request, "registration/login.html",
                                         {"form": LoginForm(request), "sign_on_form": form, "next": next_url},
                                         status=400))


def _sign_on_forms_allowed(response):
    """The log-in page's single sign-on form is sent on to the identity providers."""
    response.headers["Content-Security-Policy"] = policy_allowing_forms_to(sign_on.provider_origins())
    return response


class PasswordResetView(auth_views.PasswordResetView):
    """The link in the mail starts with SITE_URL, never with the Host a request claims: a forged
    Host must not send a person's reset link elsewhere."""

    @property
    def extra_email_context(self):
        return {"site_url": settings.SITE_URL.rstrip("/")}

    def form_valid(self, form):
        """At most one mail per address in PASSWORD_RESET_ADDRESS_RATE, said as if sent (whether an
        address has an account, or asked already, is nobody's business); a client asking for many
        addresses is refused with 429."""
        if wait := ratelimit.wait_for("reset-client", self.request.META.get("REMOTE_ADDR", ""),
                                      settings.PASSWORD_RESET_CLIENT_RATE):
            form.add_error(None, f"Too many reset requests from your address: try again in {ceil(wait / 60)} min.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        email = form.cleaned_data["email"].lower()
        throttled = bool(ratelimit.wait_for("reset-address", email, settings.PASSWORD_RESET_ADDRESS_RATE))
        security.record("password_reset_asked", request=self.request, email=email, mailed=not throttled)
        if throttled:
            return redirect(self.get_success_url())
        return super().form_valid(form)


class PasswordChangeView(auth_views.PasswordChangeView):
    """A signed-in person's new password: their tokens and other sessions end with the old one;
    this session stays signed in (under a new key, listed again)."""

    form_class = PasswordChangeForm
    success_url = reverse_lazy("account-security")

    def form_valid(self, form):
        response = super().form_valid(form)
        sessions.session_listed(self.request, self.request.user)
        messages.success(self.request, "Your password is changed: your API tokens are revoked and your other "
                                       "sessions are signed out.")
        return response

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A new password ends the API tokens and the sessions of the old one (its form sets it
    through `services.password_set`)."""

    form_class = SetPasswordForm


def _security_page(request, *, form=None, new_key=None, new_token=None, status=200):
    return render(
        request,
        "portal/account_security.html",
        {
            "form": form or TokenForm(),
            "tokens": selectors.token_list(user=request.user),
            "sessions": selectors.session_list(user=request.user),
            "this_session": request.session.session_key,
            "new_key": new_key,
            "new_token": new_token,
            "idle_minutes": settings.SESSION_IDLE_MINUTES,
            "max_hours": settings.SESSION_MAX_HOURS,
        },
        status=status,
    )


@require_GET
@login_required
def account_security(request):
    """The person's API tokens and signed-in sessions: theirs alone, to make and to end."""
    return _security_page(request)


@require_http_methods(["GET", "POST"])
@login_required
def account_notices(request):
    """Which notices that follow a run the person gets; what their role must receive is shown,
    and cannot be switched off."""
    errors, status = [], 200
    if request.method == "POST":
        choices = {kind: request.POST[kind] for kind in NoticeKind.values if kind in request.POST}
        try:
            changed = services.notice_preferences_set(user=request.user, choices=choices)
        except ValidationError as error:
            errors, status = error.messages, 400
        else:
            messages.success(request, "Your choices are saved." if changed else "Nothing changed.")
            return redirect("account-notices")
    return render(request, "portal/account_notices.html",
                  {"choices": selectors.notice_choices(user=request.user), "errors": errors}, status=status)


@require_POST
@login_required
def contact_invite(request, pk: int):
    contact = selectors.contact_get(user=request.user, pk=pk)
    carry_out(request, lambda: invitations.contact_invite(contact=contact, by=request.user),
              done=f"{contact.name} is invited: they choose their password from the link mailed to {contact.email}.")
    return redirect("organisation-detail", slug=contact.organisation.slug)


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    """The invited person chooses their password; the account opens and they are signed in."""
    try:
        user = invitations.invitation_read(token)
        form = SetPasswordForm(user, request.POST or None)
        if request.method == "POST" and form.is_valid():
            # Read again as it is accepted: the link may have been used or withdrawn meanwhile.
            user = invitations.invitation_accept(token=token, password=form.cleaned_data["new_password1"])
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.get_short_name()}: your account is open.")
            return redirect("home")
    except invitations.InvitationRefused as refusal:
        return render(request, "registration/invitation_refused.html", {"reason": str(refusal)}, status=410)
    return render(request, "registration/invitation_accept.html", {"form": form, "invited": user},
                  status=400 if form.errors else 200)


@require_POST
@login_required
def token_create(request):
    """The key is on this answer and nowhere else: it is rendered, not redirected to."""
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _security_page(request, form=form, status=400)
    try:
        token, key = services.token_create(by=request.user, **form.cleaned_data)
    except ValidationError as error:
        form.add_error(None, error)
        return _security_page(request, form=form, status=400)
    return _security_page(request, new_key=key, new_token=token)


@require_POST
@login_required
def token_revoke(request, pk: int):
    token = selectors.token_get(user=request.user, pk=pk)
    if services.token_revoke(token=token, by=request.user):
        messages.success(request, f"The token “{token.name}” was revoked: it opens nothing any more.")
    else:
        messages.info(request, f"The token “{token.name}” was already revoked.")
    return redirect("account-security")


@require_POST
@login_required
def session_revoke(request, pk: int):
    session = selectors.session_get(user=request.user, pk=pk)
    services.session_revoke(session=session, by=request.user)
    if session.session_id == request.session.session_key:
        logout(request)  # they signed this very browser out
        return redirect("login")
    messages.success(request, f"The session of {session.browser} was signed out.")
    return redirect("account-security")


@require_POST
@login_required
def sessions_revoke_others(request):
    ended = services.sessions_revoke_others(by=request.user, keep=request.session.session_key)
    messages.success(request, f"Signed out everywhere else ({ended} session{'s' if ended != 1 else ''}).")
    return redirect("account-security")
