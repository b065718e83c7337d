import zoneinfo

from django.conf import settings
from django.http import HttpResponseBadRequest
from django.utils import timezone

# Every asset is served from this origin (vendored under static/); nothing inline but styles
# htmx sets on swapped elements.
POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)


class RefuseNulMiddleware:
    """A NUL character in the address is refused with a 400 before any view (PostgreSQL stores no
    NUL in text; forms and the API refuse it in fields themselves)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = (value for values in request.GET.lists() for value in [values[0], *values[1]])
        if "\x00" in request.path or any("\x00" in value for value in query):
            return HttpResponseBadRequest("A NUL character is not accepted in an address.", content_type="text/plain")
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # The browsable API and Swagger UI ship inline scripts of their own.
        if not request.path.startswith(("/api/", "/admin/")):
            response.headers.setdefault("Content-Security-Policy", POLICY)
        if not settings.DEBUG:
            response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class TimeZoneMiddleware:
    """Times are shown and entered in the user's own zone; everything inside is UTC."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
        else:
            timezone.deactivate()
        return self.get_response(request)
