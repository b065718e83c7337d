"""Demo support regions and engineers: business hours Monday to Friday, engineers in London
and Sydney so that out-of-hours cover exists for each customer (S7)."""

from datetime import time

import pghistory
from django.db import transaction

from portal.choices import SupportRegion as RegionCode
from portal.models import User
from portal.models import Organisation
from scheduling.models import BusinessHours, Engineer, EngineerHours, LowUsageHours, SupportRegion

REGIONS = [
    (RegionCode.EUROPE, "Europe/London", "GB", "ENG", (time(8), time(18))),
    (RegionCode.AMERICAS, "America/New_York", "US", "NY", (time(8), time(18))),
    (RegionCode.ASIA_PACIFIC, "Australia/Sydney", "AU", "NSW", (time(8), time(18))),
]
ENGINEERS = [
    ("engineer@vendor.example", RegionCode.EUROPE, "Europe/London", (time(7), time(19))),
    ("engineer.apac@vendor.example", RegionCode.ASIA_PACIFIC, "Australia/Sydney", (time(7), time(19))),
]
WEEKDAYS = range(5)
# Northwind's students are quietest early on weekdays (Northwind's clock).
LOW_USAGE = {"northwind": [(day, time(6), time(9)) for day in WEEKDAYS]}


def seed() -> None:
    with transaction.atomic(), pghistory.context(source="seed_demo"):
        regions = {}
        for code, zone, country, subdivision, (opens, closes) in REGIONS:
            region, created = SupportRegion.objects.get_or_create(
                code=code, defaults={"time_zone": zone, "country": country, "subdivision": subdivision}
            )
            regions[code] = region
            if created:
                BusinessHours.objects.bulk_create(
                    BusinessHours(region=region, weekday=day, starts=opens, ends=closes) for day in WEEKDAYS
                )
        for email, code, zone, (starts, ends) in ENGINEERS:
            user = User.objects.get(email=email)
            engineer, created = Engineer.objects.get_or_create(
                user=user, defaults={"home_region": regions[code], "time_zone": zone}
            )
            if created:
                EngineerHours.objects.bulk_create(
                    EngineerHours(engineer=engineer, weekday=day, starts=starts, ends=ends) for day in WEEKDAYS
                )
        for slug, spans in LOW_USAGE.items():
            organisation = Organisation.objects.filter(slug=slug).first()
            if organisation is not None and not organisation.low_usage_hours.exists():
                LowUsageHours.objects.bulk_create(
                    LowUsageHours(organisation=organisation, weekday=weekday, starts=starts, ends=ends)
                    for weekday, starts, ends in spans
                )
