from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxValueValidator

from portal import services
from portal.choices import ContactRole, TokenScope
from portal.models import Contact
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
