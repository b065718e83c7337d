from upgrades.models.availability import AvailabilityProbe, AvailabilitySample
from upgrades.models.checks import CheckResult
from upgrades.models.drivers import CommandTemplates
from upgrades.models.releases import Release
from upgrades.models.requests import ChecklistItem, ItemAttachment, RequestEvent, UpgradeRequest

__all__ = [
    "AvailabilityProbe", "AvailabilitySample", "CheckResult", "ChecklistItem", "CommandTemplates", "ItemAttachment",
    "Release", "RequestEvent", "UpgradeRequest",
]
