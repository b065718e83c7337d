"""Django admin for vendor staff. Writes go through the same services as the pages, so the
audit context and the credential encryption cannot be bypassed here."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm

from portal import services
from portal.choices import VENDOR_ROLES
from portal.models import Contact, Deployment, Organisation, Server, ServerGroup, User


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


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
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
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "full_name", "role", "contact", "password1", "password2"]})]


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
        help_text="Password or private key for the driver. Leave empty to keep the stored one; it is never shown.",
    )
    clear_secret = forms.BooleanField(required=False, help_text="Remove the stored credential.")

    class Meta:
        model = Server
        fields = SERVER_FIELDS


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    form = ServerAdminForm
    list_display = ["hostname", "deployment", "group", "role", "driver", "has_secret"]
    list_select_related = ["deployment__organisation", "group"]
    list_filter = ["role", "driver"]
    search_fields = ["hostname", "address"]
    raw_id_fields = ["deployment", "group"]

    @admin.display(boolean=True, description="Credential stored")
    def has_secret(self, server: Server) -> bool:
        return server.has_secret

    def save_model(self, request, obj, form, change):
        secret = "" if form.cleaned_data.get("clear_secret") else (form.cleaned_data.get("secret") or None)
        fields = {name: form.cleaned_data[name] for name in SERVER_FIELDS}
        if change:
            services.server_update(server=obj, by=request.user, secret=secret, **fields)
        else:
            fields.pop("deployment")
            saved = services.server_create(deployment=form.cleaned_data["deployment"], by=request.user, secret=secret or "", **fields)
            obj.pk = saved.pk
