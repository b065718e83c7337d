from django import forms
from django.contrib import admin

from portal.admin import ReadOnlyAdmin
from portal.choices import TlsVersion

from upgrades.models import CommandTemplates, Release, UpgradeRequest
from upgrades.services import releases


class ReleaseAdminForm(forms.ModelForm):
    drops_tls = forms.TypedMultipleChoiceField(
        label=Release._meta.get_field("drops_tls").verbose_name.capitalize(), choices=TlsVersion.choices,
        required=False, widget=forms.CheckboxSelectMultiple, help_text=Release._meta.get_field("drops_tls").help_text,
    )

    class Meta:
        model = Release
        fields = ["version", "release_date", "openjdk_version", "tomcat_version", "notes", "drops_tls"]


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    form = ReleaseAdminForm
    list_display = ["version", "kind", "release_date", "state", "openjdk_version", "tomcat_version", "drops_tls"]
    list_filter = ["state", "kind"]
    editable = ["version", "release_date", "openjdk_version", "tomcat_version", "notes", "drops_tls"]
    fields = [*editable, "kind"]
    readonly_fields = ["kind"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in self.editable}
        saved = (
            releases.release_update(release=obj, by=request.user, **fields) if change
            else releases.release_create(by=request.user, **fields)
        )
        obj.pk = saved.pk


@admin.register(UpgradeRequest)
class UpgradeRequestAdmin(ReadOnlyAdmin):
    """Read-only: requests move through their workflow on the portal's pages."""

    list_display = ["__str__", "state", "kind", "assignee", "created_at"]
    list_filter = ["state", "kind"]
    list_select_related = ["deployment__organisation", "release", "assignee"]


@admin.register(CommandTemplates)
class CommandTemplatesAdmin(admin.ModelAdmin):
    """A deployment's SSH commands; empty fields run the vendor's defaults (upgrades.drivers.ssh)."""

    list_display = ["deployment"]
    list_select_related = ["deployment__organisation"]
    autocomplete_fields = ["deployment"]
