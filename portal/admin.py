"""Django admin for vendor staff. Writes go through the same services as the pages, so the
audit context and the credential encryption cannot be bypassed here."""

from allauth.socialaccount.admin import SocialAppAdmin, SocialAppForm
from allauth.socialaccount.models import SocialApp
from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm

from portal import credentials, invitations, security, selectors, services, sessions
from portal.choices import VENDOR_ROLES
from portal.forms import AdminPasswordChangeForm
from portal.models import (
    Contact, Deployment, Organisation, SecurityEvent, Server, ServerGroup, SignOn, SignOnDomain, User,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows that change only through their workflow's services, on the portal's pages."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class UserChangeForm(BaseUserChangeForm):
    def clean(self):
        cleaned = super().clean()
        # Only vendor staff can be engineers; the database refuses it too (scheduling migration 0004).
        if cleaned.get("role") not in VENDOR_ROLES and getattr(self.instance, "engineer", None) is not None:
            raise forms.ValidationError(
                "This account has an engineer profile: only vendor staff accounts can be engineers. "
                "Delete the profile (Scheduling > Engineers) first."
            )
        return cleaned


class UserInvitationForm(forms.ModelForm):
    """A new account is an invitation: the person chooses their own password from the mail."""

    class Meta:
        model = User
        fields = ["email", "full_name", "role", "contact", "time_zone"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    add_form = UserInvitationForm
    change_password_form = AdminPasswordChangeForm  # ends the person's tokens and sessions
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "contact", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "full_name"]
    list_select_related = ["contact__organisation"]
    raw_id_fields = ["contact"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Who", {"fields": ["full_name", "role", "contact", "time_zone"]}),
        ("Access", {"fields": ["is_active", "is_superuser", "groups", "user_permissions"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "full_name", "role", "contact", "time_zone"],
                             "description": "The person is mailed a link to choose their own password."})]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.set_unusable_password()
            obj.is_active = False
        super().save_model(request, obj, form, change)
        if not change:
            invitations.invitation_send(user=obj, by=request.user)
            self.message_user(request, f"{obj.email} is invited: they choose their password from the mailed link.")
        elif "role" in form.changed_data:
            security.record("account_role_changed", request=request, user=obj, actor=request.user,
                            before=form.initial.get("role", ""), after=obj.role)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302 and str(request.user.pk) == str(id):
            # Their own: the new password ended all their sessions, and Django admin kept this one
            # signed in under a new key (update_session_auth_hash); list it again.
            sessions.session_listed(request, request.user)
        return response


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    """The security log (portal.security): read here, written only by the portal."""

    list_display = ["at", "kind", "email", "user", "actor", "client"]
    list_filter = ["kind"]
    search_fields = ["email", "client"]
    date_hierarchy = "at"
    list_select_related = ["user", "actor"]


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ["name", "email", "phone", "time_zone", "roles"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "hosting", "time_zone", "support_region", "requires_mfa"]
    list_filter = ["hosting", "support_region", "requires_mfa"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ContactInline]


class IdentityProviderForm(SocialAppForm):
    """allauth's social application, its client secret sealed at rest (portal.credentials) and
    never shown again."""

    secret = forms.CharField(
        label="Client secret", required=False, widget=forms.PasswordInput(render_value=False),
        help_text="From the identity provider (OpenID Connect). Leave empty to keep the stored one; it is never "
                  "shown.",
    )

    def clean_secret(self) -> str:
        given = self.cleaned_data["secret"]
        return credentials.seal(given) if given else self.instance.secret


admin.site.unregister(SocialApp)


@admin.register(SocialApp)
class IdentityProviderAdmin(SocialAppAdmin):
    form = IdentityProviderForm


class SignOnDomainForm(forms.ModelForm):
    def clean_domain(self) -> str:
        return self.cleaned_data["domain"].strip().lower().rstrip(".")


class SignOnDomainInline(admin.TabularInline):
    model = SignOnDomain
    form = SignOnDomainForm
    extra = 1
    verbose_name = "e-mail domain sent to this provider"
    verbose_name_plural = "e-mail domains sent to this provider"


@admin.register(SignOn)
class SignOnAdmin(admin.ModelAdmin):
    """Who signs in through an identity provider. The provider itself (protocol, addresses, keys)
    is a social application, added from here with "+" (docs/single-sign-on.md shows its settings)."""

    list_display = ["app", "organisation", "passwords_allowed", "second_factor"]
    list_select_related = ["app", "organisation"]
    inlines = [SignOnDomainInline]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "cloudpaging_version", "load_balancer_vendor", "health_checks", "min_tls_version"]
    list_select_related = ["organisation"]
    list_filter = ["health_checks", "server_platform"]
    search_fields = ["name", "organisation__name"]
    autocomplete_fields = ["organisation"]


@admin.register(ServerGroup)
class ServerGroupAdmin(admin.ModelAdmin):
    list_display = ["__str__", "deployment"]
    list_select_related = ["deployment__organisation"]


SERVER_FIELDS = ["deployment", "group", "role", "hostname", "address", "port", "driver", "username", "host_key"]


class ServerAdminForm(forms.ModelForm):
    secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Password or private key for the driver: stored encrypted, never shown again.",
    )

    class Meta:
        model = Server
        fields = SERVER_FIELDS

    def clean(self):
        cleaned = super().clean()
        deployment = cleaned.get("deployment")
        if deployment is not None and (run := selectors.run_under_way(deployment)):
            raise forms.ValidationError(services.registering_refused(deployment, run.state))
        return cleaned


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    """Servers are registered here too; they are corrected and removed on their deployment's
    setup page, which keeps what a run under way acts on and the groups' numbering."""

    form = ServerAdminForm
    list_display = ["hostname", "deployment", "group", "role", "driver", "has_secret"]
    list_select_related = ["deployment__organisation", "group"]
    list_filter = ["role", "driver"]
    search_fields = ["hostname", "address"]
    raw_id_fields = ["deployment", "group"]

    @admin.display(boolean=True, description="Credential stored")
    def has_secret(self, server: Server) -> bool:
        return server.has_secret

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in SERVER_FIELDS}
        fields.pop("deployment")
        saved = services.server_create(deployment=form.cleaned_data["deployment"], by=request.user,
                                       secret=form.cleaned_data.get("secret") or "", **fields)
        obj.pk = saved.pk
