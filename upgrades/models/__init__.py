from upgrades.models.releases import Release
from upgrades.models.requests import ChecklistItem, ItemAttachment, RequestEvent, UpgradeRequest

__all__ = ["ChecklistItem", "ItemAttachment", "Release", "RequestEvent", "UpgradeRequest"]
