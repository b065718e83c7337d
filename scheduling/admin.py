from django.contrib import admin

from portal.admin import ReadOnlyAdmin
from portal.choices import VENDOR_ROLES
from portal.models import User

from scheduling.models import (
    Blackout, BusinessHours, Engineer, EngineerHours, LowUsageHours, MaintenanceWindow, SupportRegion, TimeOff,
)


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


@admin.register(SupportRegion)
class SupportRegionAdmin(admin.ModelAdmin):
    list_display = ["code", "time_zone", "country", "subdivision"]
    inlines = [BusinessHoursInline]


class EngineerHoursInline(admin.TabularInline):
    model = EngineerHours
    extra = 0


class TimeOffInline(admin.TabularInline):
    model = TimeOff
    extra = 0


STAFF_ONLY = "Only vendor staff accounts can be engineers: choose a support, engineer or administrator account."


@admin.register(Engineer)
class EngineerAdmin(admin.ModelAdmin):
    list_display = ["user", "home_region", "time_zone"]
    list_select_related = ["user", "home_region"]
    inlines = [EngineerHoursInline, TimeOffInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # The database refuses anyone else (scheduling_engineer_is_vendor_staff); the form says it first.
            kwargs["queryset"] = User.objects.filter(role__in=VENDOR_ROLES).order_by("full_name")
            kwargs["error_messages"] = {"invalid_choice": STAFF_ONLY}
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Blackout)
class BlackoutAdmin(admin.ModelAdmin):
    list_display = ["reason", "period", "organisation", "region"]
    list_select_related = ["organisation", "region"]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(ReadOnlyAdmin):
    """Read-only: windows are booked, rescheduled and cancelled through the scheduling services."""

    list_display = ["__str__", "engineer", "cover", "state"]
    list_select_related = ["request__deployment__organisation", "engineer"]
    list_filter = ["state", "cover"]


@admin.register(LowUsageHours)
class LowUsageHoursAdmin(admin.ModelAdmin):
    list_display = ["organisation", "weekday", "starts", "ends"]
    list_select_related = ["organisation"]
