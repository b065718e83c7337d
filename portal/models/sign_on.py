from allauth.socialaccount.models import SocialApp
from django.db import models
from django.db.models.functions import Lower

from portal.hosts import validate_domain
from portal.models.customers import Organisation


class SignOn(models.Model):
    """An identity provider through which people sign in (single sign-on): an organisation's own,
    or, with no organisation, the vendor's, for its staff. The protocol (OpenID Connect or SAML
    2.0), the provider's addresses and keys are allauth's social application (`app`); who signs
    in through it, and as whom, is decided here and in `portal.sign_on`."""

    app = models.OneToOneField(SocialApp, on_delete=models.CASCADE, related_name="sign_on",
                               verbose_name="identity provider")
    organisation = models.OneToOneField(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="sign_on",
        help_text="Whose people sign in through it. Empty: the vendor's provider, for its staff.",
    )
    passwords_allowed = models.BooleanField(
        default=True,
        help_text="Its people may also log in with a portal password. Off: only through the identity provider "
                  "(the log-in page and the API's token exchange refuse their password).",
    )
    second_factor = models.BooleanField(
        "provider asks for a second factor", default=False,
        help_text="The identity provider asks each person for a second factor itself, so that a sign-in through "
                  "it counts as the portal's second factor.",
    )

    class Meta:
        verbose_name = "single sign-on"
        verbose_name_plural = "single sign-on"

    def __str__(self) -> str:
        return f"{self.app.name} ({self.organisation or 'vendor staff'})"


class SignOnDomain(models.Model):
    """People whose e-mail address is at this domain are sent to the sign-on's provider."""

    sign_on = models.ForeignKey(SignOn, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, validators=[validate_domain],
                              help_text="As after the @ of their e-mail addresses: northwind.example.")

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(
                Lower("domain"), name="portal_sign_on_domain_unique",
                violation_error_message="Another identity provider signs in this domain's people already.",
            ),
        ]

    def __str__(self) -> str:
        return self.domain
