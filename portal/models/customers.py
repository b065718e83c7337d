import pghistory
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Lower

from portal.choices import ContactRole, Hosting, SupportRegion
from portal.hosts import validate_mail_domain
from portal.timezones import validate_time_zone

def audited() -> tuple:
    """Fresh trackers for one model's history: created, changed and deleted rows."""
    return (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())


@pghistory.track(*audited())
class Organisation(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    hosting = models.CharField(max_length=20, choices=Hosting.choices, default=Hosting.ON_PREMISES)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    support_region = models.CharField(max_length=20, choices=SupportRegion.choices)
    requires_mfa = models.BooleanField(
        "requires a second factor", default=False,
        help_text="Its users must set up a second factor (an authenticator app or a security key) to sign in.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="portal_organisation_unique_name",
                violation_error_message="An organisation with this name already exists.",
            ),
        ]
        indexes = [
            # The staff list searches by name.
            models.Index(Lower("name"), name="portal_org_lower_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_cloud(self) -> bool:
        return self.hosting == Hosting.CLOUD


@pghistory.track(*audited())
class Contact(models.Model):
    """A person at a customer. One person may hold several of the roles S10 asks for."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(validators=[validate_mail_domain])
    phone = models.CharField(max_length=40, blank=True)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    roles = ArrayField(
        models.CharField(max_length=30, choices=ContactRole.choices),
        default=list,
        blank=True,
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "organisation",
                Lower("email"),
                name="portal_contact_unique_email",
                violation_error_message="This organisation already has a contact with this e-mail address.",
            ),
        ]
        indexes = [GinIndex(fields=["roles"], name="portal_contact_roles")]

    def __str__(self) -> str:
        return self.name

    def get_roles_display(self) -> list[str]:
        return [ContactRole(role).label for role in self.roles]
