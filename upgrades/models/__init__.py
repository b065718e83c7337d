from upgrades.models.availability import AvailabilityProbe, AvailabilitySample
from upgrades.models.checks import CheckResult
from upgrades.models.conversation import Message
from upgrades.models.drivers import CommandTemplates
from upgrades.models.releases import Release
from upgrades.models.requests import ChecklistItem, ItemAttachment, RequestEvent, UpgradeRequest
from upgrades.models.runs import LiveEvent, Readiness, ReportPdf, RollbackDecision, Run, SignOff, Step

__all__ = [
    "AvailabilityProbe", "AvailabilitySample", "CheckResult", "ChecklistItem", "CommandTemplates", "ItemAttachment", "Message",
    "Readiness", "Release", "ReportPdf", "RequestEvent", "RollbackDecision", "Run", "LiveEvent", "SignOff", "Step", "UpgradeRequest",
]
