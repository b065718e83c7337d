from scheduling.models.availability import Blackout, BusinessHours, Engineer, EngineerHours, LowUsageHours, SupportRegion, TimeOff
from scheduling.models.links import SchedulingLink
from scheduling.models.status import StatusPage, StatusSubscriber
from scheduling.models.windows import MaintenanceWindow

__all__ = [
    "Blackout", "BusinessHours", "Engineer", "EngineerHours", "LowUsageHours", "MaintenanceWindow", "SchedulingLink", "StatusPage",
    "StatusSubscriber", "SupportRegion", "TimeOff",
]
