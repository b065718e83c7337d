"""Demo releases (S1): the current 9.4.2, a minor 9.5.0, a major 10.0.0 and a draft 10.1.0."""

from datetime import date

import pghistory
from django.db import transaction
from django.utils import timezone

from upgrades.choices import ReleaseState
from upgrades.models import Release
from upgrades.services.releases import kind_of_new_version

# `make run`'s live upgrade demo is Northwind's deployment of this name (scheduling/demo.py).
LIVE_DEMO_NAME = "Upgrade demo (lab)"
LIVE_DEMO_ORGANISATION = "northwind"

# What each demo release no longer offers, as its notes say.
DROPS_TLS = {"10.0.0": ["1.0", "1.1"]}

RELEASES = [
    ("9.4.2", date(2026, 3, 10), "17.0.10", "9.0.85", ReleaseState.PUBLISHED, """\
## Fixes
- Launching an application from a package that was republished while a user streamed it no longer fails.
- The admin interface shows the correct licence count after a server restarts.
"""),
    ("9.5.0", date(2026, 7, 14), "17.0.12", "9.0.91", ReleaseState.PUBLISHED, """\
## What's new
- **Faster first launch**: the stream server prefetches the launch blocks of popular applications.
- Publishing status is shown per application in the admin interface.

## Components
- OpenJDK 17.0.12, Apache Tomcat 9.0.91.

No database changes: a load-balanced deployment is upgraded without downtime.
"""),
    ("10.0.0", date(2026, 11, 3), "21.0.5", "10.1.31", ReleaseState.PUBLISHED, """\
## A major release
Cloudpaging Server 10 moves to **Java 21** and **Tomcat 10.1**, and changes the StreamDB schema.

- The database upgrade command runs once, on the first server group.
- Expect about 15 minutes of downtime, starting about 5 minutes into the window.
- TLS 1.0 and 1.1 are no longer offered: older A10 load balancers must allow TLS 1.2.

## Before you upgrade
Take a full StreamDB backup and VM snapshots; validate the repository (no moved `.stp` files).
"""),
    ("10.1.0", date(2027, 2, 16), "21.0.6", "10.1.34", ReleaseState.DRAFT, """\
## Planned
- Per-group health status in the admin interface.
"""),
]


def seed() -> None:
    with transaction.atomic(), pghistory.context(source="seed_demo"):
        for version, released, jdk, tomcat, state, notes in RELEASES:
            if Release.objects.filter(version=version).exists():
                continue
            Release.objects.create(
                version=version, release_date=released, openjdk_version=jdk, tomcat_version=tomcat, notes=notes,
                state=state, published_at=timezone.now() if state == ReleaseState.PUBLISHED else None,
                kind=kind_of_new_version(version), drops_tls=DROPS_TLS.get(version, []),
            )
