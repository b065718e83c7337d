from django.db import models


class UpgradeKind(models.TextChoices):
    """S4: a major upgrade changes the database schema and has downtime; minor upgrades and
    patches change files and services only."""

    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"
    PATCH = "patch", "Patch"


class ReleaseState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class RequestState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    IN_REVIEW = "in_review", "In review"
    CHECK_SCHEDULED = "check_scheduled", "Prerequisite check scheduled"
    APPROVED = "approved", "Approved"
    REFUSED = "refused", "Refused"
    WITHDRAWN = "withdrawn", "Withdrawn"
    # Where an upgrade ends, with its run (upgrades.services.lifecycle): nothing moves after these.
    COMPLETED = "completed", "Completed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ABORTED = "aborted", "Aborted"


# A deployment has at most one request in these states (a partial unique index holds it).
OPEN_REQUEST_STATES = (
    RequestState.DRAFT, RequestState.SUBMITTED, RequestState.IN_REVIEW,
    RequestState.CHECK_SCHEDULED, RequestState.APPROVED,
)
# A request ends in one of these once its run has ended; the customer may then ask again.
FINISHED_REQUEST_STATES = (RequestState.COMPLETED, RequestState.ROLLED_BACK, RequestState.ABORTED)


class ItemState(models.TextChoices):
    MISSING = "missing", "Missing"
    PROVIDED = "provided", "Provided"
    ACCEPTED = "accepted", "Accepted"
    SENT_BACK = "sent_back", "Sent back"


class ItemSection(models.TextChoices):
    CONTACTS = "contacts", "Contacts (S10)"
    ACCESS = "access", "Access and test machine"
    FILES = "files", "Installation files"
    BACKUPS = "backups", "Backups and snapshots"
    REPOSITORY = "repository", "Repository"
    LOAD_BALANCER = "load_balancer", "Load balancer"
    SERVERS = "servers", "Servers"


class CheckOutcome(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class FunctionalityCheck(models.TextChoices):
    """S12's six functionality tests. The first two are confirmed by a person; the others run
    automatically through the load balancer."""

    REQUIREMENTS = "requirements", "Pre-upgrade requirements met"
    TEST_MACHINE = "test_machine", "Tests via the test machine"
    LOGIN = "login", "Log-in works"
    NAVIGATION = "navigation", "Basic navigation"
    LAUNCH = "launch", "Applications launch"
    ADMIN_VERSION = "admin_version", "Admin interface reports the right version"


MANUAL_CHECKS = (FunctionalityCheck.REQUIREMENTS, FunctionalityCheck.TEST_MACHINE)
AUTOMATIC_CHECKS = (
    FunctionalityCheck.LOGIN, FunctionalityCheck.NAVIGATION, FunctionalityCheck.LAUNCH, FunctionalityCheck.ADMIN_VERSION,
)


class ProbeState(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class RunState(models.TextChoices):
    """The live upgrade; its moves are listed in upgrades.runflow."""

    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ABORTED = "aborted", "Aborted"


class StepState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting for confirmation"  # a person must confirm (checks, sign-off)
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    INTERRUPTED = "interrupted", "Interrupted"


class StepProcedure(models.TextChoices):
    UPGRADE = "upgrade", "Upgrade"
    ROLLBACK = "rollback", "Rollback"
    REBUILD = "rebuild", "Rebuild"


class RollbackMethod(models.TextChoices):
    """S15's methods; only those that apply to the run are offered."""

    RESTORE_DATABASE = "restore_database", "Restore the database from backup"
    RESTORE_SNAPSHOTS = "restore_snapshots", "Restore the VM snapshots"
    REINSTALL_PREVIOUS = "reinstall_previous", "Reinstall the previous version and reconnect to the database"


class ReadinessKind(models.TextChoices):
    """What S11 asks for immediately before the upgrade, recorded on the run before it starts."""

    SNAPSHOTS = "snapshots", "VM snapshots taken"
    BACKUP = "backup", "Full StreamDB backup taken"
    PREFLIGHT = "preflight", "Preflight passed"


class RollbackState(models.TextChoices):
    REQUESTED = "requested", "Waiting for the customer's authorisation"
    AUTHORISED = "authorised", "Authorised"
    REFUSED = "refused", "Refused"


class MessageVia(models.TextChoices):
    """How a message on an upgrade's conversation was written."""

    PAGE = "page", "the portal"
    MAIL = "mail", "e-mail"
