"""Who may see what: every URL of the portal against every persona.

The matrix below must name every URL pattern; a new URL without an entry fails
`test_every_url_has_an_entry`, so nobody can add a page and forget its tenancy. The targets
are Northwind's rows: the Northwind customer sees them, the Contoso customer gets 404.
"""

from datetime import datetime, timezone

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from django.core.files.uploadedfile import SimpleUploadedFile

from portal import services as portal_services
from portal.credentials import seal
from portal.models import Contact, Deployment, Server, ServerGroup, WebhookEndpoint
from portal.webhooks import new_secret
from tests.conftest import pass_second_factor
from tests.factories import MaintenanceWindowFactory, RunFactory
from scheduling.services import status
from upgrades.services import checklist, requests

PERSONAS = ["anonymous", "customer", "outsider", "support", "engineer", "admin_user"]
STAFF = {"support": 200, "engineer": 200, "admin_user": 200}


def expect(anonymous, customer, outsider, staff=None, **overrides):
    row = {"anonymous": anonymous, "customer": customer, "outsider": outsider}
    row.update(STAFF if staff is None else {name: staff for name in STAFF})
    row.update(overrides)
    return row


LOGIN = 302  # to the log-in page
START = datetime(2027, 3, 9, 10, tzinfo=timezone.utc)  # of Northwind's window

# url name -> (how to build its arguments from Northwind's rows, status per persona)
MATRIX = {
    "home": (None, expect(LOGIN, 302, 302, 302)),
    "favicon": (None, expect(301, 301, 301, 301)),
    "login": (None, expect(200, 302, 302, 302)),
    "logout": (None, expect(405, 405, 405, 405)),
    "password_reset": (None, expect(200, 200, 200)),
    "password_reset_done": (None, expect(200, 200, 200)),
    "password_reset_confirm": (lambda w: {"uidb64": "MQ", "token": "bad-token"}, expect(200, 200, 200)),
    "password_reset_complete": (None, expect(200, 200, 200)),
    # An invitation's link answers for itself: a bad one is 410 for anyone.
    "invitation-accept": (lambda w: {"token": "bad-token"}, expect(410, 410, 410, 410)),
    "organisation-list": (None, expect(LOGIN, 404, 404)),
    "organisation-detail": (lambda w: {"slug": "northwind"}, expect(LOGIN, 200, 404)),
    "contact-create": (lambda w: {"slug": "northwind"}, expect(LOGIN, 200, 404)),
    # Setting up a customer: the desk registers organisations and deployments; every vendor role
    # registers servers; the desk and the organisation's lead invite its contacts.
    "organisation-create": (None, expect(LOGIN, 404, 404, engineer=403)),
    "deployment-create": (lambda w: {"slug": "northwind"}, expect(LOGIN, 403, 404, engineer=403)),
    "deployment-servers": (lambda w: {"pk": w["deployment"].pk}, expect(LOGIN, 403, 404)),
    # A server's form, filled in, and the question before its removal: as its deployment's step.
    "server-edit": (lambda w: {"pk": w["server"].pk}, expect(LOGIN, 403, 404)),
    "server-remove": (lambda w: {"pk": w["server"].pk}, expect(LOGIN, 403, 404)),
    "setup-contacts": (lambda w: {"slug": "northwind"}, expect(LOGIN, 200, 404, engineer=403)),
    "my-organisation": (None, expect(LOGIN, 302, 302, 404)),
    "contact-edit": (lambda w: {"pk": w["contact"].pk}, expect(LOGIN, 200, 404)),
    "contact-delete": (lambda w: {"pk": w["contact"].pk}, expect(405, 405, 405, 405)),
    "contact-invite": (lambda w: {"pk": w["contact"].pk}, expect(405, 405, 405, 405)),
    "deployment-detail": (lambda w: {"pk": w["deployment"].pk}, expect(LOGIN, 200, 404)),
    "healthz": (None, expect(200, 200, 200)),
    "healthz-web": (None, expect(200, 200, 200)),
    # The second factor (django-allauth): one's own only, so no organisation's rows to hide.
    "account_login": (None, expect(200, 302, 302, 302)),
    "account_logout": (None, expect(405, 405, 405, 405)),
    # Changing one's factors later than a few minutes after the log-in asks for the password or
    # a code again (302); the demo staff have an authenticator app, the customers none.
    "account_reauthenticate": (None, expect(LOGIN, 200, 200)),
    "mfa_index": (None, expect(LOGIN, 200, 200)),
    "mfa_authenticate": (None, expect(LOGIN, 302, 302, 302)),  # no log-in under way
    "mfa_reauthenticate": (None, expect(LOGIN, 302, 302)),
    "mfa_activate_totp": (None, expect(LOGIN, 302, 302, 302)),
    "mfa_deactivate_totp": (None, expect(LOGIN, 404, 404)),
    "mfa_view_recovery_codes": (None, expect(LOGIN, 404, 404, 404)),
    "mfa_generate_recovery_codes": (None, expect(LOGIN, 302, 302)),
    "mfa_download_recovery_codes": (None, expect(LOGIN, 404, 404, 404)),
    "mfa_list_webauthn": (None, expect(LOGIN, 200, 200)),
    "mfa_add_webauthn": (None, expect(LOGIN, 302, 302)),
    "mfa_reauthenticate_webauthn": (None, expect(LOGIN, 302, 302, 302)),
    "mfa_remove_webauthn": (lambda w: {"pk": 1}, expect(LOGIN, 302, 302, 404)),
    "mfa_edit_webauthn": (lambda w: {"pk": 1}, expect(LOGIN, 302, 302, 404)),
    # Single sign-on (portal.sign_on): the form posts only; the providers' ends are public (the
    # provider's answer is the credential) and know no provider here.
    "sign-on": (None, expect(405, 405, 405, 405)),
    **{name: (lambda w: {"provider_id": "northwind-sso"}, expect(404, 404, 404, 404))
       for name in ("openid_connect_login", "openid_connect_callback")},
    **{name: (lambda w: {"organization_slug": "northwind"}, expect(404, 404, 404, 404))
       for name in ("saml_login", "saml_finish_acs", "saml_sls", "saml_metadata")},
    # The assertion consumer keeps what was posted for its second step (saml_finish_acs).
    "saml_acs": (lambda w: {"organization_slug": "northwind"}, expect(302, 302, 302, 302)),
    # The schema and its docs describe the API, never data: public.
    "api-schema": (None, expect(200, 200, 200)),
    "api-docs": (None, expect(200, 200, 200)),
    "admin:index": (None, expect(LOGIN, LOGIN, LOGIN)),
    # A person's own tokens and sessions: nobody else's, staff included.
    "account-security": (None, expect(LOGIN, 200, 200)),
    # A person's own choice of notices: each sees only theirs.
    "account-notices": (None, expect(LOGIN, 200, 200)),
    "password-change": (None, expect(LOGIN, 200, 200)),
    "token-create": (None, expect(405, 405, 405, 405)),
    "token-revoke": (lambda w: {"pk": w["token"].pk}, expect(405, 405, 405, 405)),
    "session-revoke": (lambda w: {"pk": 1}, expect(405, 405, 405, 405)),
    "sessions-revoke-others": (None, expect(405, 405, 405, 405)),
    # The API: tenancy by the same selectors as the pages. Without a session or a token, 401.
    "api:apitoken-list": (None, expect(401, 200, 200)),
    "api:apitoken-detail": (lambda w: {"pk": w["token"].pk}, expect(401, 200, 404, 404)),
    "api:api-root": (None, expect(401, 200, 200)),
    "api:organisation-list": (None, expect(401, 200, 200)),
    "api:organisation-detail": (lambda w: {"slug": "northwind"}, expect(401, 200, 404)),
    "api:contact-list": (None, expect(401, 200, 200)),
    "api:contact-detail": (lambda w: {"pk": w["contact"].pk}, expect(401, 200, 404)),
    "api:deployment-list": (None, expect(401, 200, 200)),
    "api:deployment-detail": (lambda w: {"pk": w["deployment"].pk}, expect(401, 200, 404)),
    "api:server-list": (None, expect(401, 200, 200)),
    "api:server-detail": (lambda w: {"pk": w["server"].pk}, expect(401, 200, 404)),
    "api:servergroup-list": (None, expect(401, 200, 200)),
    "api:servergroup-detail": (lambda w: {"pk": w["group"].pk}, expect(401, 200, 404)),
    "api:token": (None, expect(405, 405, 405, 405)),
    # The upgrades API.
    "api:release-list": (None, expect(401, 200, 200)),
    "api:release-detail": (lambda w: {"version": "10.0.0"}, expect(401, 200, 200)),
    "api:release-publish": (lambda w: {"version": "10.0.0"}, expect(401, 405, 405, 405)),
    "api:upgraderequest-list": (None, expect(401, 200, 200)),
    "api:upgraderequest-detail": (lambda w: {"pk": w["request"].pk}, expect(401, 200, 404)),
    **{
        f"api:upgraderequest-{move}": (lambda w: {"pk": w["request"].pk}, expect(401, 405, 405, 405))
        for move in ("submit", "assign", "take-over", "schedule-check", "record-check", "approve", "refuse",
                     "withdraw", "reopen", "preflight", "issue-link")
    },
    "api:checklistitem-list": (None, expect(401, 200, 200)),
    "api:checklistitem-detail": (lambda w: {"pk": w["item"].pk}, expect(401, 200, 404)),
    **{
        f"api:checklistitem-{verdict}": (lambda w: {"pk": w["item"].pk}, expect(401, 405, 405, 405))
        for verdict in ("provide", "accept", "send-back")
    },
    "api:attachment-detail": (lambda w: {"pk": w["attachment"].pk}, expect(401, 200, 404)),
    "api:attachment-download": (lambda w: {"pk": w["attachment"].pk}, expect(401, 200, 404)),
    # Releases and upgrade requests.
    "release-list": (None, expect(LOGIN, 200, 200)),
    "release-detail": (lambda w: {"version": "10.0.0"}, expect(LOGIN, 200, 200)),
    "release-publish": (lambda w: {"version": "10.0.0"}, expect(405, 405, 405, 405)),
    "deployment-changes": (lambda w: {"pk": w["deployment"].pk, "version": "10.0.0"}, expect(LOGIN, 200, 404)),
    "request-create": (lambda w: {"pk": w["deployment"].pk}, expect(LOGIN, 200, 404)),
    "request-list": (None, expect(LOGIN, 200, 200)),
    "request-detail": (lambda w: {"pk": w["request"].pk}, expect(LOGIN, 200, 404)),
    "request-action": (lambda w: {"pk": w["request"].pk, "action": "submit"}, expect(405, 405, 405, 405)),
    "conversation-post": (lambda w: {"pk": w["request"].pk}, expect(405, 405, 405, 405)),
    "mail-inbound": (None, expect(405, 405, 405, 405)),
    "waiting-for-me": (None, expect(LOGIN, 404, 404, engineer=404)),
    # Without htmx, an item is shown in its request's page.
    "item-detail": (lambda w: {"pk": w["item"].pk}, expect(LOGIN, 302, 404, 302)),
    "item-provide": (lambda w: {"pk": w["item"].pk}, expect(405, 405, 405, 405)),
    "item-review": (lambda w: {"pk": w["item"].pk, "verdict": "accept"}, expect(405, 405, 405, 405)),
    "attachment-download": (lambda w: {"pk": w["attachment"].pk}, expect(LOGIN, 200, 404)),
    "attachment-delete": (lambda w: {"pk": w["attachment"].pk}, expect(405, 405, 405, 405)),
    # The lab fleet of a demo deployment: staff only, whether or not the lab is running.
    "lab-fleet": (lambda w: {"pk": w["deployment"].pk}, expect(LOGIN, 404, 404)),
    "lab-fault": (lambda w: {"pk": w["deployment"].pk}, expect(405, 405, 405, 405)),
    # Scheduling: the link of a request that is not approved opens nothing, for anyone.
    "book": (lambda w: {"token": "not-a-token"}, expect(LOGIN, 403, 403, 403)),
    # The cloud plan of a release is the vendor's own page (S3).
    "cloud-plan": (lambda w: {"version": "10.0.0"}, expect(LOGIN, 404, 404)),
    # Re-arming `make run`'s live upgrade demo: administrators only.
    "demo-rearm": (None, expect(LOGIN, 404, 404, 404, admin_user=200)),
    # Windows: the calendar is the vendor's; a window's page is for staff and its customer.
    "windows": (None, expect(LOGIN, 404, 404)),
    "my-windows": (None, expect(LOGIN, 404, 404)),
    "window-detail": (lambda w: {"pk": w["window"].pk}, expect(LOGIN, 200, 404)),
    "window-action": (lambda w: {"pk": w["window"].pk, "action": "confirm"}, expect(405, 405, 405, 405)),
    "window-notice": (lambda w: {"pk": w["window"].pk}, expect(LOGIN, 200, 404)),
    "window-ics": (lambda w: {"pk": w["window"].pk}, expect(LOGIN, 200, 404)),
    "low-usage-hours": (lambda w: {"slug": "northwind"}, expect(LOGIN, 200, 404)),
    # The status page for the customer's service users: its settings are the lead's and the
    # desk's (an engineer 404); the page, its feeds and subscriptions are public at their token.
    "status-settings": (lambda w: {"pk": w["deployment"].pk}, expect(LOGIN, 200, 404, engineer=404)),
    "status-rotate": (lambda w: {"pk": w["deployment"].pk}, expect(405, 405, 405, 405)),
    "status-page": (lambda w: {"token": w["status_page"].token}, expect(200, 200, 200, 200)),
    "status-feed": (lambda w: {"token": w["status_page"].token}, expect(200, 200, 200, 200)),
    "status-calendar": (lambda w: {"token": w["status_page"].token}, expect(200, 200, 200, 200)),
    "status-subscribe": (lambda w: {"token": w["status_page"].token}, expect(405, 405, 405, 405)),
    "status-confirm": (lambda w: {"token": w["subscriber"].token}, expect(200, 200, 200, 200)),
    "status-unsubscribe": (lambda w: {"token": w["subscriber"].token}, expect(200, 200, 200, 200)),
    # Webhooks: an organisation's are its lead's and the desk's (an engineer 404); the vendor's
    # own are the desk's; the moves take POST only.
    "organisation-webhooks": (lambda w: {"slug": "northwind"}, expect(LOGIN, 200, 404, engineer=404)),
    "vendor-webhooks": (None, expect(LOGIN, 404, 404, engineer=404)),
    "webhook-detail": (lambda w: {"pk": w["webhook"].pk}, expect(LOGIN, 200, 404, engineer=404)),
    **{
        f"webhook-{move}": (lambda w: {"pk": w["webhook"].pk}, expect(405, 405, 405, 405))
        for move in ("test", "rotate", "switch")
    },
    # A person's own calendar feed: its page is theirs alone; the feed opens with its key and
    # nothing else, so a key never made is 404 whoever is signed in (test_calendar_feeds has the rest).
    "calendar-settings": (None, expect(LOGIN, 200, 200)),
    "calendar-make": (None, expect(405, 405, 405, 405)),
    "calendar-revoke": (None, expect(405, 405, 405, 405)),
    "calendar-feed": (lambda w: {"key": "cal_not-a-key"}, expect(404, 404, 404, 404)),
    # The scheduling API: slots only for an approved request (this one is a draft: 409).
    "api:requestbooking-slots": (lambda w: {"id": w["request"].pk}, expect(401, 409, 404, 409)),
    "api:requestbooking-window": (lambda w: {"id": w["request"].pk}, expect(401, 405, 405, 405)),
    "api:window-list": (None, expect(401, 200, 200)),
    "api:window-detail": (lambda w: {"pk": w["window"].pk}, expect(401, 200, 404)),
    **{
        f"api:window-{move}": (lambda w: {"pk": w["window"].pk}, expect(401, 405, 405, 405))
        for move in ("confirm", "reschedule", "cancel", "plan")
    },
    # The live upgrade in the API: the run's organisation and staff see it; its moves take POST only.
    "api:run-list": (None, expect(401, 200, 200)),
    "api:run-detail": (lambda w: {"pk": w["run"].pk}, expect(401, 200, 404)),
    **{
        f"api:run-{move}": (lambda w: {"pk": w["run"].pk}, expect(401, 405, 405, 405))
        for move in ("snapshots", "backup", "preflight", "start", "confirm", "sign-off", "take", "retry", "fixed",
                     "skip", "continue", "abort", "rollback", "authorise", "refuse", "rebuild", "take-over")
    },
    # A run's live events: the stream and its polling answer, for staff and the run's customer.
    "run-events": (lambda w: {"pk": w["run"].pk}, expect(LOGIN, 200, 404)),
    "run-events-poll": (lambda w: {"pk": w["run"].pk}, expect(LOGIN, 200, 404)),
    # The live page and the report: one URL for staff and the run's customer, each their controls.
    "run-live": (lambda w: {"pk": w["run"].pk}, expect(LOGIN, 200, 404)),
    "run-action": (lambda w: {"pk": w["run"].pk, "action": "start"}, expect(405, 405, 405, 405)),
    "run-report": (lambda w: {"pk": w["run"].pk}, expect(LOGIN, 200, 404)),
    # The PDF is printed once the run has ended (this one is scheduled: 409).
    "run-report-pdf": (lambda w: {"pk": w["run"].pk}, expect(LOGIN, 409, 404, 409)),
    # The run's whole log: its pages, its search and its download, to whoever sees the live page.
    "run-log": (lambda w: {"pk": w["run"].pk}, expect(LOGIN, 200, 404)),
    "run-log-search": (lambda w: {"pk": w["run"].pk}, expect(LOGIN, 200, 404)),
    "run-log-download": (lambda w: {"pk": w["run"].pk}, expect(LOGIN, 200, 404)),
}

# Django admin guards its own pages (vendor staff only, then model permissions); one entry
# above stands for the whole namespace.
COVERED_NAMESPACES = {"admin"}


def _names(resolver: URLResolver, prefix: str = "") -> set[str]:
    names = set()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            namespace = pattern.namespace
            if namespace in COVERED_NAMESPACES:
                continue
            names |= _names(pattern, f"{prefix}{namespace}:" if namespace else prefix)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(prefix + pattern.name)
    return names


def test_every_url_has_an_entry():
    names = _names(get_resolver())
    assert names - set(MATRIX) == set(), "URLs without a tenancy entry"
    assert {name for name in set(MATRIX) - names if not name.startswith("admin:")} == set(), "stale entries"


@pytest.fixture
def northwind_rows(northwind, customer, engineer, release):
    deployment = Deployment.objects.get(organisation=northwind)
    request = requests.request_create(deployment=deployment, release=release, by=customer)
    item = request.items.get(key="remote_access")
    checklist.item_provide(
        item=item, by=customer, text="VPN", files=[SimpleUploadedFile("vpn.txt", b"Northwind VPN profile")]
    )
    rows = {
        "request": request,
        "item": item,
        "attachment": item.attachments.get(),
        "contact": Contact.objects.filter(organisation=northwind).first(),
        "deployment": deployment,
        "server": Server.objects.filter(deployment=deployment).first(),
        "group": ServerGroup.objects.filter(deployment=deployment).first(),
        "window": MaintenanceWindowFactory(request=request, engineer=engineer, start=START),
    }
    rows["run"] = RunFactory(window=rows["window"])
    rows["token"], _ = portal_services.token_create(by=customer, name="Inventory script")
    rows["status_page"] = status.status_page_save(deployment=deployment, by=customer, service_name="AppsAnywhere",
                                                  enabled=True)
    rows["subscriber"] = status.subscriber_add(page=rows["status_page"], email="student@example.org")
    rows["webhook"] = WebhookEndpoint.objects.create(
        organisation=northwind, name="Northwind service desk", url_sealed=seal("https://hooks.northwind.example/x"),
        url_hint="https://hooks.northwind.example/x", event_types=["run.started"], secret_sealed=seal(new_secret()))
    return rows


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_who_sees_what(name, persona, request, northwind_rows, client):
    arguments, statuses = MATRIX[name]
    if persona != "anonymous":
        user = request.getfixturevalue(persona)
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        pass_second_factor(client, user)
    url = reverse(name, kwargs=arguments(northwind_rows) if arguments else None)

    response = client.get(url)

    assert response.status_code == statuses[persona], f"{persona} GET {url}"
    if statuses[persona] == 200 and persona == "outsider":
        assert b"Northwind" not in response.content, f"{url} shows Northwind to a Contoso user"
