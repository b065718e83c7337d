"""A customer's Cloudpaging environment: the deployment, its servers and their groups (S5, S9)."""

import pghistory
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from portal.choices import Driver, ServerPlatform, ServerRole, TlsVersion
from portal.hosts import validate_address, validate_host_name
from portal.models.customers import Organisation, audited

version_validator = RegexValidator(
    r"^[0-9]+(\.[0-9]+){1,3}$", "Write a version as numbers separated by dots, for example 9.4.1."
)

LEGACY_TLS = {TlsVersion.TLS_1_0, TlsVersion.TLS_1_1}


@pghistory.track(*audited())
class Deployment(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=120)
    cloudpaging_version = models.CharField("Cloudpaging Server", max_length=20, validators=[version_validator])
    openjdk_version = models.CharField("OpenJDK", max_length=20, validators=[version_validator])
    tomcat_version = models.CharField("Apache Tomcat", max_length=20, validators=[version_validator])
    load_balancer_vendor = models.CharField(
        max_length=60, blank=True, help_text="Leave empty when the servers are not load balanced."
    )
    load_balancer_model = models.CharField(max_length=60, blank=True)
    health_checks = models.BooleanField(
        "Load balancer health checks", default=False,
        help_text="The load balancer takes a server out of the pool when its health check fails.",
    )
    min_tls_version = models.CharField(
        "Lowest TLS version the load balancer allows", max_length=3,
        choices=TlsVersion.choices, default=TlsVersion.TLS_1_2,
    )
    server_platform = models.CharField(max_length=10, choices=ServerPlatform.choices, default=ServerPlatform.VIRTUAL)
    service_url = models.URLField(
        "Service address", blank=True,
        help_text="The address users reach through the load balancer; functionality checks use it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation__name", "name"]
        constraints = [
            models.UniqueConstraint(
                "organisation", "name",
                name="portal_deployment_unique_name",
                violation_error_message="This organisation already has a deployment with this name.",
            ),
            models.CheckConstraint(
                condition=Q(health_checks=False) | ~Q(load_balancer_vendor=""),
                name="portal_deployment_health_checks_need_load_balancer",
                violation_error_message="Health checks need a load balancer: name its vendor.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.name}: {self.name}"

    @property
    def has_load_balancer(self) -> bool:
        return bool(self.load_balancer_vendor)

    @property
    def load_balancer_label(self) -> str:
        return " ".join(filter(None, [self.load_balancer_vendor, self.load_balancer_model])) or "No load balancer"

    @property
    def is_virtual(self) -> bool:
        return self.server_platform == ServerPlatform.VIRTUAL

    @property
    def flags_legacy_tls(self) -> bool:
        """S9: an A10 load balancer that still allows TLS below 1.2 must be flagged to support."""
        return self.load_balancer_vendor.strip().lower().startswith("a10") and self.min_tls_version in LEGACY_TLS

    def topology_warning(self, *, group_count: int) -> str:
        """Why this deployment cannot be upgraded without interrupting service (S4, S5), or ""."""
        if not self.has_load_balancer:
            return "No load balancer: every upgrade interrupts the service for the whole window."
        if not self.health_checks:
            return "The load balancer has no health checks: no upgrade can avoid interrupting the service."
        if group_count < 2:
            return (
                f"Only {group_count} server group behind the load balancer: a zero-downtime upgrade "
                "needs at least two (one Admin/License and one Stream server each)."
            )
        return ""


@pghistory.track(*audited())
class ServerGroup(models.Model):
    """One Admin/License server and one Stream server, upgraded together, in order (S5)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="groups")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["deployment", "position"]
        constraints = [
            models.UniqueConstraint(
                "deployment", "position",
                name="portal_servergroup_unique_position",
                violation_error_message="This deployment already has a group in this position.",
            ),
            models.CheckConstraint(
                condition=Q(position__gte=1), name="portal_servergroup_position_from_one",
                violation_error_message="Groups are numbered from 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"Group {self.position}"


@pghistory.track(*audited(), exclude=["secret_token"])
class Server(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="servers")
    group = models.ForeignKey(
        ServerGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="servers"
    )
    role = models.CharField(max_length=20, choices=ServerRole.choices)
    hostname = models.CharField(max_length=253, validators=[validate_host_name])
    address = models.CharField(max_length=253, validators=[validate_address],
                               help_text="IP address or DNS name the driver connects to.")
    port = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Agent port (lab driver) or SSH port (SSH driver, 22 when empty).",
    )
    driver = models.CharField(max_length=10, choices=Driver.choices, default=Driver.SSH)
    username = models.CharField(max_length=120, blank=True)
    # A Fernet token (portal.credentials); never rendered, serialised, logged or tracked in the
    # history tables. Decrypted only in memory, for the call that needs it.
    secret_token = models.TextField(blank=True, editable=False)
    host_key = models.TextField(
        blank=True, help_text="The server's SSH host key, as in a known_hosts line; checked on every connection."
    )

    class Meta:
        ordering = ["deployment", "group__position", "role", "hostname"]
        constraints = [
            models.UniqueConstraint(
                "deployment", "hostname",
                name="portal_server_unique_hostname",
                violation_error_message="This deployment already has a server with this host name.",
            ),
            models.UniqueConstraint(
                "group", "role",
                name="portal_server_one_role_per_group",
                violation_error_message="A group holds one Admin/License server and one Stream server.",
            ),
            models.CheckConstraint(
                condition=Q(port__isnull=True) | Q(port__gte=1, port__lte=65535),
                name="portal_server_port_range",
                violation_error_message="A port is a number from 1 to 65535.",
            ),
        ]

    def __str__(self) -> str:
        return self.hostname

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_token)
