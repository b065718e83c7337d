from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.text import slugify

from portal import services
from portal.choices import ContactRole, EndpointKind, ServerRole, TokenScope, WebhookEvent
from portal.models import Contact, Deployment, Organisation, Server
from portal.timezones import time_zone_choices


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "This e-mail address and password do not match an account. Check both and try again.",
    }
    username = forms.EmailField(
        label="E-mail address",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class SignOnForm(forms.Form):
    email = forms.EmailField(label="Your e-mail address at work", widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class ContactForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(
        choices=ContactRole.choices, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="What this person does during an upgrade. One person may hold several roles.",
    )
    time_zone = forms.ChoiceField(choices=time_zone_choices)

    class Meta:
        model = Contact
        fields = ["name", "email", "phone", "time_zone", "roles"]

    def __init__(self, *args, organisation, may_grant_roles: bool, **kwargs):
        super().__init__(*args, **kwargs)
        # Unique (organisation, e-mail) is validated by the model against this organisation.
        self.instance.organisation = organisation
        if not self.instance.pk:
            self.initial.setdefault("time_zone", organisation.time_zone)
        if not may_grant_roles:
            # Shown, not changed: what is posted for a disabled field is ignored.
            self.fields["roles"].disabled = True
            self.fields["roles"].help_text = "Support, or your organisation's lead contact, gives people their roles."


class PasswordSetting:
    """A password form that sets the password through `services.password_set`, so that the
    person's tokens and other sessions end with the old password."""

    def acting(self, user):
        return user

    def set_password_and_save(self, user, password_field_name="password1", commit=True, **kwargs):
        usable = self.cleaned_data.get("set_usable_password", True)
        password = self.cleaned_data[password_field_name] if usable else None
        return services.password_set(user=user, password=password, by=self.acting(user))


class SetPasswordForm(PasswordSetting, auth_forms.SetPasswordForm):
    """The reset link's form: the person sets their own."""


class PasswordChangeForm(PasswordSetting, auth_forms.PasswordChangeForm):
    """A signed-in person changes their own password, giving the old one."""


class AdminPasswordChangeForm(PasswordSetting, auth_forms.AdminPasswordChangeForm):
    """Django admin's "change password" of a user: the audit names the administrator, from the
    request (pghistory's middleware)."""

    def acting(self, user):
        return None


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="To know it again in the list, e.g. "
                           "“Nightly inventory script”. Left empty, it is named after today's date.")
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.WRITE,
                              widget=forms.RadioSelect)
    days = forms.IntegerField(label="Expires after (days)", min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        days = self.fields["days"]
        days.initial = settings.API_TOKEN_DAYS
        days.help_text = f"At most {settings.API_TOKEN_MAX_DAYS} days."
        days.validators.append(MaxValueValidator(settings.API_TOKEN_MAX_DAYS))
        days.widget.attrs["max"] = settings.API_TOKEN_MAX_DAYS


# Setting up a customer, step by step (portal/onboarding.py): organisation, deployment, servers,
# contacts. Each form checks what the model checks, so what was typed comes back with the reason.


class OrganisationForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=time_zone_choices, help_text="Where the customer's users are.")

    class Meta:
        model = Organisation
        fields = ["name", "slug", "hosting", "time_zone", "support_region", "requires_mfa"]
        labels = {"slug": "Short name"}
        help_texts = {"slug": "Its short name in addresses, e.g. northwind. Left empty, it is made from the name."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or slugify(self.data.get("name", ""))[:80]
        if slug == "new":  # organisations/new/ is the page that makes one
            raise ValidationError("“new” is taken by the portal: choose another short name.")
        return slug


class DeploymentForm(forms.ModelForm):
    class Meta:
        model = Deployment
        fields = ["name", "cloudpaging_version", "openjdk_version", "tomcat_version", "server_platform",
                  "load_balancer_vendor", "load_balancer_model", "health_checks", "min_tls_version", "service_url"]

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organisation = organisation  # its unique name is checked within the organisation


NEW_GROUP = "new"
PORT_RANGE = "A port is a number from 1 to 65535."


class ServerForm(forms.ModelForm):
    """A server, into one of the deployment's groups or a new one. The credential is sealed as it
    is saved and never shown again, not even when the form comes back with an error."""

    group = forms.ChoiceField(label="Server group")
    secret = forms.CharField(
        label="Password or key passphrase", required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted; never shown again. Type it again if the form comes back with an error.",
    )

    class Meta:
        model = Server
        fields = ["group", "role", "hostname", "address", "port", "driver", "username", "secret", "host_key"]
        labels = {"hostname": "Host name", "username": "User name", "host_key": "SSH host key"}
        widgets = {"host_key": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, deployment, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.deployment = deployment
        groups = list(deployment.groups.all())
        self.fields["group"].choices = [(str(group.pk), f"Group {group.position}") for group in groups] + [
            (NEW_GROUP, f"New group ({len(groups) + 1})")]
        # What the next server most likely is: the missing half of the first group not complete.
        for group in groups:
            roles = {server.role for server in group.servers.all()}
            if len(roles) < 2:
                self.initial.setdefault("group", str(group.pk))
                self.initial.setdefault("role", next(role for role in ServerRole.values if role not in roles))
                break
        self.initial.setdefault("group", NEW_GROUP)
        self.initial.setdefault("role", ServerRole.ADMIN_LICENSE)
        self._groups = {str(group.pk): group for group in groups}
        # The model's constraint (portal_server_port_range) in the words it uses, beside the field.
        port = self.fields["port"]
        bounds = (MinValueValidator, MaxValueValidator)
        port.validators = [*(v for v in port.validators if not isinstance(v, bounds)),
                           MinValueValidator(1, PORT_RANGE), MaxValueValidator(65535, PORT_RANGE)]
        port.widget.attrs.update(min=1, max=65535)

    def clean_group(self):
        chosen = self.cleaned_data["group"]
        return None if chosen == NEW_GROUP else self._groups[chosen]


class ServerEditForm(ServerForm):
    """A registered server, corrected: the same fields, filled in. The stored credential is kept
    when the field is left empty, and removed only when asked."""

    clear_secret = forms.BooleanField(label="Remove the stored password or passphrase", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.group_id is None:
            self.initial["group"] = NEW_GROUP
        secret = self.fields["secret"]
        if self.instance.has_secret:
            secret.label = "New password or key passphrase"
            secret.help_text = "One is stored, encrypted, and never shown. Leave this empty to keep it."
        else:
            secret.help_text = "None is stored. Stored encrypted; never shown again."
            del self.fields["clear_secret"]

    def clean(self):
        """What `services.server_update` takes: `new_group` for a new group; `secret` None to
        keep the stored one, "" to remove it."""
        cleaned = super().clean()
        typed = cleaned.get("secret", "")
        if cleaned.pop("clear_secret", False):
            if typed:
                self.add_error("secret", "Either type a new password or remove the stored one, not both.")
            cleaned["secret"] = ""
        else:
            cleaned["secret"] = typed or None
        cleaned["new_group"] = "group" in cleaned and cleaned["group"] is None
        return cleaned


class WebhookEndpointForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="To know it again, e.g. “Service desk” or “#upgrades channel”.")
    kind = forms.ChoiceField(label="What receives it", choices=EndpointKind.choices, initial=EndpointKind.SIGNED,
                             widget=forms.RadioSelect)
    url = forms.CharField(label="Address", max_length=2000,
                          help_text="An https address on the internet. For Teams and Slack, the incoming webhook's "
                                    "address: it is stored encrypted and not shown again.")
    events = forms.MultipleChoiceField(label="Events to send", choices=WebhookEvent.choices,
                                       widget=forms.CheckboxSelectMultiple,
                                       error_messages={"required": "Choose at least one event to send."})
