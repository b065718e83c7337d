"""Every operation of the published OpenAPI schema, fed generated requests (schemathesis) through
the Django WSGI application in this process, as an administrator and as a customer: nothing
answers a server error, and what is documented is what comes back.

Bounded for CI: a few examples per operation, derandomised, so a run is quick and repeatable.
"""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.validators import slug_re
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, reject, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import DataGenerationMethod
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from portal import services
from portal.models import Contact, Deployment, Organisation, Server, ServerGroup
from portal.timezones import time_zone_names


schema = schemathesis.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))),
    app=get_wsgi_application(),
    data_generation_methods=[DataGenerationMethod.positive, DataGenerationMethod.negative],
)

KEYS = {
    "organisations": lambda: Organisation.objects.values_list("slug", flat=True),
    "contacts": lambda: Contact.objects.values_list("pk", flat=True),
    "deployments": lambda: Deployment.objects.values_list("pk", flat=True),
    "servers": lambda: Server.objects.values_list("pk", flat=True),
    "server-groups": lambda: ServerGroup.objects.values_list("pk", flat=True),
    "time zones": time_zone_names,
}
REFERENCES = {
    "organisation": "organisations", "deployment": "deployments", "group": "server-groups", "time_zone": "time zones",
}


def _existing(kind: str, generated):
    """A real key in place of a well-formed generated one of the same type (path parameters
    come as strings), picked by the generated value so that runs repeat; anything else, the
    negative cases included, is left as it is."""
    if kind in ("organisations", "time zones"):
        well_formed = isinstance(generated, str) and slug_re.fullmatch(generated.replace("/", ""))
        pick = len(generated) if well_formed else None
    elif isinstance(generated, int) and not isinstance(generated, bool):
        pick = abs(generated)
    else:
        pick = int(generated) if isinstance(generated, str) and generated.isdigit() else None
    keys = sorted(KEYS[kind]()) if pick is not None and kind in KEYS else []
    if not keys:
        return generated
    key = keys[pick % len(keys)]
    return str(key) if isinstance(generated, str) else key


def aim_at_existing_rows(case) -> None:
    """Generated ids, slugs and time zones would almost all be 404s and 400s; put real ones in
    their place (rows of every organisation, the caller's or not) so that filters and writes
    reach the rows and the services."""
    resource = case.operation.path.split("/")[3]
    for name, value in (case.path_parameters or {}).items():
        case.path_parameters[name] = _existing(resource, value)
    for values in (case.query, case.body):
        if isinstance(values, dict):
            for field, kind in REFERENCES.items():
                if field in values:
                    values[field] = _existing(kind, values[field])


@pytest.fixture
def in_process(settings):
    """Requests go through the real WSGI handler in this thread: keep the test's transaction
    open across them, as Django's test client does."""
    settings.ALLOWED_HOSTS = ["localhost"]
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@pytest.mark.parametrize("persona", ["admin_user", "customer"])
def test_no_request_breaks_the_api(case, persona, request, world, in_process):
    if case.media_type == "multipart/form-data" and not isinstance(case.body, dict):
        reject()  # a form is named fields: schemathesis's WSGI transport cannot send a bare value as one
    _, key = services.token_create(by=request.getfixturevalue(persona))  # a case may revoke its own
    aim_at_existing_rows(case)
    case.call_and_validate(
        headers={"Authorization": f"Token {key}"},
        checks=(not_a_server_error, content_type_conformance, response_schema_conformance),
    )
