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
    RUN_ENDED = "run_ended", "An upgrade ended: completed or rolled back with its report, or aborted"
    MESSAGE = "message", "A message on an upgrade waits for you"


class NoticeState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class EndpointKind(models.TextChoices):
    SIGNED = "signed", "Signed JSON (Standard Webhooks)"
    TEAMS = "teams", "Microsoft Teams"
    SLACK = "slack", "Slack"


class WebhookEvent(models.TextChoices):
    RUN_STARTED = "run.started", "A run started"
    RUN_PAUSED = "run.paused", "A step failed and the run paused"
    RUN_COMPLETED = "run.completed", "A run completed"
    RUN_ROLLED_BACK = "run.rolled_back", "A run was rolled back"
    RUN_ABORTED = "run.aborted", "A run was aborted"
    WINDOW_SCHEDULED = "window.scheduled", "A window was scheduled"
    WINDOW_MOVED = "window.moved", "A window moved"
    WINDOW_CANCELLED = "window.cancelled", "A window was cancelled"


# The "Send test" button's event: never subscribed to, sent once, never retried.
TEST_EVENT = "webhook.test"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed"


class SecurityKind(models.TextChoices):
    LOG_IN = "log_in", "Signed in"
    LOG_IN_FAILED = "log_in_failed", "Sign-in failed"
    LOCKED_OUT = "locked_out", "Locked out"
    LOG_OUT = "log_out", "Signed out"
    PASSWORD_RESET_ASKED = "password_reset_asked", "Password reset asked for"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    ROLES_CHANGED = "roles_changed", "Roles changed"
    ACCOUNT_ROLE_CHANGED = "account_role_changed", "Account role changed"
    MFA_ADDED = "mfa_added", "Second factor added"
    MFA_REMOVED = "mfa_removed", "Second factor removed"
    MFA_FAILED = "mfa_failed", "Second factor refused"
    TOKEN_CREATED = "token_created", "API token created"
    TOKEN_REVOKED = "token_revoked", "API token revoked"
    TOKEN_REFUSED = "token_refused", "API token refused"
    CALENDAR_FEED_MADE = "calendar_feed_made", "Calendar feed address made"
    CALENDAR_FEED_REVOKED = "calendar_feed_revoked", "Calendar feed address revoked"
    SESSION_REVOKED = "session_revoked", "Session ended by its owner"
    INVITATION_SENT = "invitation_sent", "Invitation sent"
    INVITATION_ACCEPTED = "invitation_accepted", "Invitation accepted"
    SIGN_ON_ACCOUNT_OPENED = "sign_on_account_opened", "Account opened by single sign-on"
    SIGN_ON_REFUSED = "sign_on_refused", "Single sign-on refused"
    SERVER_CREDENTIAL_CHANGED = "server_credential_changed", "Server credential changed"
