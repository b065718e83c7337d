from django.urls import reverse

from portal import access
from portal.choices import Role


def navigation(request) -> dict:
    """The menu of the base layout, by role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": []}
    if user.is_vendor:
        items = []
        if access.is_desk(user):
            items.append(("Waiting for me", reverse("waiting-for-me")))
        items.append(("My windows" if user.role == Role.ENGINEER else "Coming windows", reverse("my-windows")))
        items += [
            ("Requests", reverse("request-list")),
            ("Windows", reverse("windows")),
            ("Organisations", reverse("organisation-list")),
            ("Releases", reverse("release-list")),
            ("Admin", reverse("admin:index")),
        ]
    else:
        items = [
            ("My upgrades", reverse("request-list")),
            ("My organisation", reverse("my-organisation")),
            ("Releases", reverse("release-list")),
        ]
    items.append(("API", reverse("api-docs")))
    current = request.path
    return {"nav": [{"label": label, "url": url, "current": current.startswith(url)} for label, url in items]}
