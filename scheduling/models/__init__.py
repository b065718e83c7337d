from scheduling.models.availability import Blackout, BusinessHours, Engineer, EngineerHours, SupportRegion, TimeOff
from scheduling.models.links import SchedulingLink
from scheduling.models.windows import MaintenanceWindow

__all__ = [
    "Blackout", "BusinessHours", "Engineer", "EngineerHours", "MaintenanceWindow", "SchedulingLink", "SupportRegion",
    "TimeOff",
]
