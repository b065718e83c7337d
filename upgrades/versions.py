"""Cloudpaging versions and the kind of an upgrade between two of them (S1, S4).

A version is dot-separated numbers: major.minor[.patch[.build]]. Going from one version to a
higher one is a *major* upgrade when the major number changes (1.1 -> 2.0: the database schema
changes), *minor* when the minor number changes (1.1 -> 1.2) and a *patch* otherwise.
"""

import re

from upgrades.choices import UpgradeKind

VERSION = re.compile(r"^[0-9]+(\.[0-9]+){1,3}$")


class VersionError(ValueError):
    pass


def parse(version: str) -> tuple[int, ...]:
    if not VERSION.match(version or ""):
        raise VersionError(f"“{version}” is not a version: write numbers separated by dots, for example 9.4.2.")
    parts = tuple(int(part) for part in version.split("."))
    return parts + (0,) * (4 - len(parts))  # 9.4 == 9.4.0


def kind_between(current: str, target: str) -> UpgradeKind:
    """The kind of going from `current` to `target`; `target` must be higher."""
    old, new = parse(current), parse(target)
    if new <= old:
        raise VersionError(f"{target} is not newer than {current}.")
    if new[0] != old[0]:
        return UpgradeKind.MAJOR
    if new[1] != old[1]:
        return UpgradeKind.MINOR
    return UpgradeKind.PATCH
