import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import timezone

from portal import sessions

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
# The API's Swagger UI and Django's admin come with style attributes of their own
# (their scripts are files: the Swagger UI's set-up is served apart, SpectacularSwaggerSplitView).
THIRD_PARTY_POLICY = POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def policy_allowing_forms_to(origins) -> str:
    """The policy with forms allowed to go to `origins` too (a form's redirects count): the log-in
    page's single sign-on goes on to the identity providers."""
    return POLICY.replace("form-action 'self'", " ".join(["form-action 'self'", *sorted(origins)]))


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


class SessionLifetimeMiddleware:
    """A signed-in session ends SESSION_MAX_HOURS after its log-in and SESSION_IDLE_MINUTES after
    its last request: the person is logged out and told why on the log-in page; an API call
    gets 401 (unless it brings a token of its own), an htmx request a redirect to log in."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if SESSION_KEY not in request.session:
            return self.get_response(request)
        reason = sessions.why_ended(request.session)
        if reason is None:
            return self.get_response(request)
        logout(request)
        if request.path.startswith("/api/"):
            if "HTTP_AUTHORIZATION" in request.META:
                return self.get_response(request)
            return JsonResponse({"detail": reason}, status=401)
        messages.info(request, reason)
        to_login = redirect_to_login(request.get_full_path() if request.method == "GET" else "/")
        if request.headers.get("HX-Request"):
            return HttpResponse(status=401, headers={"HX-Redirect": to_login.url})
        return to_login
