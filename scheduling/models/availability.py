"""Who is available when (S7): support regions with their business hours and holidays,
engineers with their own hours and time off, and blackout periods."""

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import DateTimeRangeField
from django.db import models
from django.db.models import F, Q

from portal.choices import SupportRegion as RegionCode
from portal.models.customers import Organisation, audited
from portal.timezones import validate_time_zone

WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"), (6, "Sunday")]


@pghistory.track(*audited())
class SupportRegion(models.Model):
    code = models.CharField(max_length=20, choices=RegionCode.choices, unique=True)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    country = models.CharField(max_length=2, help_text="ISO country code whose public holidays close the region.")
    subdivision = models.CharField(max_length=10, blank=True, help_text="State or nation within the country, if holidays differ.")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.get_code_display()


class _Span(models.Model):
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    starts = models.TimeField()
    ends = models.TimeField(help_text="00:00 means midnight at the end of the day.")

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(ends__gt=F("starts")) | Q(ends="00:00"), name="%(app_label)s_%(class)s_ends_after_start",
                violation_error_message="Hours must end after they start.",
            ),
        ]


@pghistory.track(*audited())
class BusinessHours(_Span):
    """The hours a support region answers in, by its own clock: a slot inside them is standard
    cover, any other needs an engineer who works then and support's confirmation (S7)."""

    region = models.ForeignKey(SupportRegion, on_delete=models.CASCADE, related_name="hours")

    class Meta(_Span.Meta):
        ordering = ["region", "weekday", "starts"]
        verbose_name_plural = "business hours"


@pghistory.track(*audited())
class Engineer(models.Model):
    """A vendor engineer as the scheduler sees them. Only vendor staff accounts can be one: the
    constraint trigger `scheduling_engineer_is_vendor_staff` (migration 0004) holds it for the
    profile and for its account's role."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="engineer")
    home_region = models.ForeignKey(SupportRegion, on_delete=models.PROTECT, related_name="engineers")
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])

    class Meta:
        ordering = ["user__full_name"]

    def __str__(self) -> str:
        return self.user.full_name


@pghistory.track(*audited())
class EngineerHours(_Span):
    """The hours an engineer works, by the engineer's clock."""

    engineer = models.ForeignKey(Engineer, on_delete=models.CASCADE, related_name="hours")

    class Meta(_Span.Meta):
        ordering = ["engineer", "weekday", "starts"]
        verbose_name_plural = "engineer hours"


@pghistory.track(*audited())
class TimeOff(models.Model):
    engineer = models.ForeignKey(Engineer, on_delete=models.CASCADE, related_name="time_off")
    period = DateTimeRangeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["engineer", "period"]
        verbose_name_plural = "time off"


@pghistory.track(*audited())
class Blackout(models.Model):
    """No upgrade in this period: for one customer, one region (a closure), or the whole vendor
    (when both are empty)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, null=True, blank=True, related_name="blackouts")
    region = models.ForeignKey(SupportRegion, on_delete=models.CASCADE, null=True, blank=True, related_name="closures")
    period = DateTimeRangeField()
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["period"]
        constraints = [
            models.CheckConstraint(
                condition=Q(organisation__isnull=True) | Q(region__isnull=True),
                name="scheduling_blackout_one_scope",
                violation_error_message="A blackout is for a customer, a region, or everyone: not both.",
            ),
        ]

    def __str__(self) -> str:
        return self.reason


@pghistory.track(*audited())
class LowUsageHours(_Span):
    """When the customer's own users use the service least, by the organisation's clock: slots
    inside these hours are highlighted (the process document recommends upgrading then)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="low_usage_hours")

    class Meta(_Span.Meta):
        ordering = ["organisation", "weekday", "starts"]
        verbose_name_plural = "low-usage hours"
