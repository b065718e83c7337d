from functools import lru_cache

from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string

from portal import access
from portal.choices import Role


@lru_cache(maxsize=1)
def _counter(path: str):
    return import_string(path)


def _counts(user) -> dict[str, int]:
    """What waits for the person, by URL name: the apps above the portal count it, through the
    function settings.NAVIGATION_COUNTS names (the portal imports none of them)."""
    path = getattr(settings, "NAVIGATION_COUNTS", "")
    return _counter(path)(user=user) if path else {}


def navigation(request) -> dict:
    """The menu of the base layout, by role, with how much waits beside each person's work."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": []}
    if user.is_vendor:
        items = []
        if access.is_desk(user):
            items.append(("Waiting for me", "waiting-for-me"))
        items.append(("My windows" if user.role == Role.ENGINEER else "Coming windows", "my-windows"))
        items += [
            ("Requests", "request-list"),
            ("Windows", "windows"),
            ("Organisations", "organisation-list"),
            ("Releases", "release-list"),
            ("Admin", "admin:index"),
        ]
    else:
        items = [
            ("My upgrades", "request-list"),
            ("My organisation", "my-organisation"),
            ("Releases", "release-list"),
        ]
    items.append(("API", "api-docs"))
    counts = _counts(user)
    current = request.path
    nav = []
    for label, name in items:
        url = reverse(name)
        nav.append({"label": label, "url": url, "current": current.startswith(url), "count": counts.get(name, 0)})
    return {"nav": nav}
