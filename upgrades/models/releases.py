import pghistory
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Func, Value
from django.db.models.functions import Cast

from portal.choices import TlsVersion
from portal.models.customers import audited
from portal.models.fleet import version_validator
from upgrades.choices import ReleaseState, UpgradeKind


@pghistory.track(*audited())
class Release(models.Model):
    """A Cloudpaging Server release (S1) with the component versions it brings."""

    version = models.CharField(max_length=20, unique=True, validators=[version_validator])
    # Numeric ordering of versions (9.10 after 9.9), computed by PostgreSQL.
    version_key = models.GeneratedField(
        expression=Cast(Func(F("version"), Value("."), function="string_to_array"), ArrayField(models.IntegerField())),
        output_field=ArrayField(models.IntegerField()),
        db_persist=True,
    )
    kind = models.CharField(
        max_length=10, choices=UpgradeKind.choices,
        help_text="Derived from the version against the previous release.",
    )
    release_date = models.DateField()
    openjdk_version = models.CharField("OpenJDK", max_length=20, validators=[version_validator])
    tomcat_version = models.CharField("Apache Tomcat", max_length=20, validators=[version_validator])
    notes = models.TextField("Release notes", help_text="Markdown.")
    drops_tls = ArrayField(
        models.CharField(max_length=3, choices=TlsVersion.choices), default=list, blank=True,
        verbose_name="TLS versions it no longer offers",
        help_text="A load balancer that still allows one of these must have its ciphers changed before the "
        "upgrade is approved.",
    )
    state = models.CharField(max_length=10, choices=ReleaseState.choices, default=ReleaseState.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version_key"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state=ReleaseState.DRAFT) | models.Q(published_at__isnull=False),
                name="upgrades_release_published_has_date",
                violation_error_message="A published release records when it was published.",
            ),
            models.CheckConstraint(
                condition=models.Q(drops_tls__contained_by=TlsVersion.values),
                name="upgrades_release_drops_known_tls",
                violation_error_message="Name TLS versions as 1.0, 1.1, 1.2 or 1.3.",
            ),
        ]

    def __str__(self) -> str:
        return f"Cloudpaging Server {self.version}"

    @property
    def is_published(self) -> bool:
        return self.state == ReleaseState.PUBLISHED
