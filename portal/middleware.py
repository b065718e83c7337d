import zoneinfo

from django.conf import settings
from django.http import HttpResponseBadRequest
from django.utils import timezone

# Every asset is served from this origin (vendored under static/), and nothing is inline: no
# script, no style element or attribute.
DIRECTIVES = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'self'",
    "object-src 'none'",
]
POLICY = "; ".join(DIRECTIVES)
# The browsable API, its Swagger UI and Django's admin come with style attributes of their own
# (their scripts are files: the Swagger UI's set-up is served apart, SpectacularSwaggerSplitView).
THIRD_PARTY_POLICY = POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


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
        third_party = request.path.startswith(("/api/", "/admin/"))
        response.headers.setdefault("Content-Security-Policy", THIRD_PARTY_POLICY if third_party else POLICY)
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
