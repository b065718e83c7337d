"""Releases (S1): staff write and publish them; the kind follows from the version."""

from datetime import date

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from portal import access
from portal.models import User
from upgrades import versions
from upgrades.choices import ReleaseState, UpgradeKind
from upgrades.models import Release


PG_INTEGER_MAX = 2**31 - 1


def kind_of_new_version(version: str, *, exclude_pk: int | None = None) -> UpgradeKind:
    """Against the release just below it; the first release is judged by its own numbers
    (x.0 major, x.y minor, x.y.z patch)."""
    parts = versions.parse(version)
    lower = [
        release.version for release in Release.objects.exclude(pk=exclude_pk).only("version")
        if versions.parse(release.version) < parts
    ]
    if lower:
        return versions.kind_between(max(lower, key=versions.parse), version)
    if parts[1:] == (0, 0, 0):
        return UpgradeKind.MAJOR
    return UpgradeKind.MINOR if parts[2:] == (0, 0) else UpgradeKind.PATCH


def _refresh_kinds() -> None:
    """Kinds depend on neighbours: a release added below another may change the other's kind."""
    ordered = sorted(Release.objects.only("pk", "version", "kind"), key=lambda r: versions.parse(r.version))
    for previous, release in zip([None, *ordered], ordered):
        kind = versions.kind_between(previous.version, release.version) if previous else kind_of_new_version(release.version, exclude_pk=release.pk)
        if kind != release.kind:
            Release.objects.filter(pk=release.pk).update(kind=kind)


def _check_unique_version(version: str, *, exclude_pk: int | None = None) -> None:
    """9.4.2, 9.04.2 and 9.4.2.0 are one version: refuse a second spelling of it."""
    try:
        parts = versions.parse(version)
    except versions.VersionError as error:
        raise ValidationError({"version": str(error)}) from None
    if max(parts) > PG_INTEGER_MAX:
        # version_key holds the parts as PostgreSQL integers.
        raise ValidationError({"version": f"Each number of a version must be at most {PG_INTEGER_MAX}."})
    for release in Release.objects.exclude(pk=exclude_pk).only("version"):
        if versions.parse(release.version) == parts:
            raise ValidationError({"version": f"This is the same version as the release {release.version}."})


def _tls_versions(drops_tls) -> list[str]:
    """Each version once, in order; unknown ones are left for the model's validation to name."""
    return sorted(set(drops_tls))


def release_create(*, by: User, version: str, release_date: date, openjdk_version: str, tomcat_version: str,
                   notes: str, drops_tls: list[str] = ()) -> Release:
    if not access.may_manage_customers(by):
        raise PermissionDenied
    _check_unique_version(version)
    with transaction.atomic(), pghistory.context(user=by.pk):
        release = Release(
            version=version, release_date=release_date, openjdk_version=openjdk_version,
            tomcat_version=tomcat_version, notes=notes, kind=kind_of_new_version(version),
            drops_tls=_tls_versions(drops_tls),
        )
        release.full_clean()
        release.save()
        _refresh_kinds()
        release.refresh_from_db()
        return release


def release_update(*, release: Release, by: User, **fields) -> Release:
    if not access.may_manage_customers(by):
        raise PermissionDenied
    if "version" in fields and fields["version"] != release.version and release.upgrade_requests.exists():
        raise ValidationError({"version": "Upgrades were requested to this release: its version cannot change."})
    if "version" in fields:
        _check_unique_version(fields["version"], exclude_pk=release.pk)
    if "drops_tls" in fields:
        fields["drops_tls"] = _tls_versions(fields["drops_tls"])
    with transaction.atomic(), pghistory.context(user=by.pk):
        for name, value in fields.items():
            setattr(release, name, value)
        release.full_clean(exclude=["kind"])
        release.save()
        _refresh_kinds()
        release.refresh_from_db()
        return release


def release_publish(*, release: Release, by: User) -> Release:
    if not access.may_manage_customers(by):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        updated = Release.objects.filter(pk=release.pk, state=ReleaseState.DRAFT).update(
            state=ReleaseState.PUBLISHED, published_at=timezone.now()
        )
        if updated == 0:
            raise ValidationError("This release is already published.")
        release.refresh_from_db()
        return release
