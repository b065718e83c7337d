"""Named choices of the portal's own domain: who a user is, how a customer is hosted, what a
contact does (S10), what a server is."""

from django.db import models


class Role(models.TextChoices):
    CUSTOMER = "customer", "Customer contact"
    SUPPORT = "support", "Support"
    ENGINEER = "engineer", "Engineer"
    ADMIN = "admin", "Administrator"


VENDOR_ROLES = frozenset({Role.SUPPORT, Role.ENGINEER, Role.ADMIN})


class Hosting(models.TextChoices):
    ON_PREMISES = "on_premises", "On-premises"
    CLOUD = "cloud", "Vendor cloud"


class SupportRegion(models.TextChoices):
    EUROPE = "europe", "Europe, Middle East and Africa"
    AMERICAS = "americas", "Americas"
    ASIA_PACIFIC = "asia_pacific", "Asia-Pacific"


class ContactRole(models.TextChoices):
    """The people S10 asks for. The first three must be available for the whole window; the
    others contactable in case of issues."""

    LEAD = "lead", "Lead contact"
    APPLICATION_ADMIN = "application_admin", "Application administrator"
    LOAD_BALANCER_ADMIN = "load_balancer_admin", "Load balancer administrator"
    SERVER_ADMIN = "server_admin", "Hypervisor / server administrator"
    DATABASE_ADMIN = "database_admin", "Database administrator"
    NETWORK_ADMIN = "network_admin", "Network administrator"
    DIRECTORY_ADMIN = "directory_admin", "Active Directory administrator"


AVAILABLE_FOR_WINDOW = (ContactRole.LEAD, ContactRole.APPLICATION_ADMIN, ContactRole.LOAD_BALANCER_ADMIN)


class TlsVersion(models.TextChoices):
    TLS_1_0 = "1.0", "TLS 1.0"
    TLS_1_1 = "1.1", "TLS 1.1"
    TLS_1_2 = "1.2", "TLS 1.2"
    TLS_1_3 = "1.3", "TLS 1.3"


class ServerPlatform(models.TextChoices):
    VIRTUAL = "virtual", "Virtual machines"
    PHYSICAL = "physical", "Physical servers"


class ServerRole(models.TextChoices):
    ADMIN_LICENSE = "admin_license", "Admin/License server"
    STREAM = "stream", "Stream (Paging) server"


class Driver(models.TextChoices):
    LAB = "lab", "Lab fleet agent (HTTP)"
    SSH = "ssh", "SSH"


class TokenScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class TokenState(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class NoticeKind(models.TextChoices):
    """The notices that follow a run, as a person chooses among them (portal.recipients.wanting)."""

    RUN_STARTED = "run_started", "An upgrade's run has started"
    RUN_PAUSED = "run_paused", "A step failed and the run is paused"
    FAILURE_ESCALATED = "failure_escalated", "Nobody has taken a failure yet"
    ROLLBACK = "rollback", "A rollback is asked for, authorised or refused"
    RUN_ENDED = "run_ended", "An upgrade completed or rolled back, with its report"
    MESSAGE = "message", "A message on an upgrade waits for you"
