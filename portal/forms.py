from django import forms
from django.contrib.auth.forms import AuthenticationForm

from portal.choices import ContactRole
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
