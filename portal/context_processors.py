from django.urls import reverse


def navigation(request) -> dict:
    """The menu of the base layout, by role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": []}
    if user.is_vendor:
        items = [("Organisations", reverse("organisation-list"))]
        if user.is_staff:
            items.append(("Admin", reverse("admin:index")))
    else:
        items = [("My organisation", reverse("my-organisation"))]
    items.append(("API", reverse("api:api-root")))
    current = request.path
    return {"nav": [{"label": label, "url": url, "current": current.startswith(url)} for label, url in items]}
