"""Bad input is a 4xx with a reason, never a server error: every URL pattern's parameters fed
hostile values (NUL, very long, odd characters, numbers beyond PostgreSQL's integers), by GET and
by POST, as staff and as a customer; and the API's JSON bodies nested too deeply, with NUL, huge
numbers and wrong types."""

from urllib.parse import quote

import pytest
from django.urls import converters, get_resolver

from portal.models import Contact

API = "/api/v1"
HOSTILE_TEXT = ["\x00", "a\x00b", "x" * 3000, "ü\u202e'\"<>;--"]
HUGE_NUMBER = str(10**20)


def _patterns():
    """(name, format string, converters) of every named URL of the pages and of the API."""
    resolver = get_resolver()
    found = []
    for namespace, prefix_resolver in [("", resolver), *(
        (name, resolver.namespace_dict[name][1]) for name in ("api",)
    )]:
        prefix = resolver.namespace_dict[namespace][0] if namespace else ""
        for name in prefix_resolver.reverse_dict:
            if not isinstance(name, str):
                continue
            for possibilities, _pattern, _defaults, converters_of in prefix_resolver.reverse_dict.getlist(name):
                for route, params in possibilities:
                    if params:
                        found.append((f"{namespace}:{name}" if namespace else name, prefix + route, params,
                                      converters_of))
    return found


def _hostile_urls():
    for name, route, params, converters_of in _patterns():
        # The API's routes are regular expressions: their parameters have no converter.
        texts = [param for param in params if type(converters_of.get(param)) in (converters.StringConverter,
                                                                                converters.PathConverter, type(None))]
        numbers = [param for param in params if type(converters_of.get(param)) in (converters.IntConverter, type(None))]
        plain = {param: "1" for param in params}
        for param in texts:
            for value in HOSTILE_TEXT:
                yield name, "/" + route % {**plain, param: quote(value, safe="")}
        for param in numbers:
            yield name, "/" + route % {**plain, param: HUGE_NUMBER}


URLS = sorted(set(_hostile_urls()))


def test_the_walk_reaches_the_patterns_with_text_and_numbers():
    names = {name for name, _ in URLS}
    assert {"release-detail", "cloud-plan", "deployment-changes", "request-detail", "api:contact-detail"} <= names


@pytest.mark.parametrize("persona", ["support", "customer"])
def test_no_hostile_address_is_a_server_error(request, client_for, persona):
    client = client_for(request.getfixturevalue(persona))
    errors = []
    for name, url in URLS:
        for method in ("get", "post"):
            status = getattr(client, method)(url).status_code
            if status >= 500:
                errors.append((name, method, url[:80], status))
    assert errors == []


def test_a_nul_in_an_address_says_why(client_for, support):
    response = client_for(support).get("/releases/%00/")

    assert response.status_code == 400
    assert "NUL" in response.content.decode()


DEEP = "[" * 5000 + "]" * 5000


def test_a_body_nested_too_deeply_is_a_400_even_before_log_in(client):
    body = '{"email": ' + DEEP + ', "password": "x"}'

    response = client.post(f"{API}/token/", body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        '{"name": ' + DEEP + "}",
        '{"name": "Jane\\u0000Doe"}',
        '{"phone": 1e400}',
        '{"roles": "lead"}',
        '{"roles": [' + HUGE_NUMBER + "]}",
        '{"time_zone": {"$ne": null}}',
        "[" + HUGE_NUMBER + "]",
    ],
)
def test_a_hostile_json_body_is_a_400_and_changes_nothing(client_for, customer, northwind, body):
    contact = northwind.contacts.get(email="daniel.reed@northwind.example")
    before = Contact.objects.filter(pk=contact.pk).values().get()

    response = client_for(customer).patch(f"{API}/contacts/{contact.pk}/", body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert Contact.objects.filter(pk=contact.pk).values().get() == before
