"""Server host names and addresses, and contacts' e-mail addresses, are checked where they are
entered (the API and the pages alike): a bad one is refused with a reason and nothing is saved."""

import pytest
from django.urls import reverse

from portal.choices import ServerRole
from portal.models import Contact, Server

API = "/api/v1"


def _server(deployment, **overrides):
    return {"deployment": deployment.pk, "role": ServerRole.STREAM, "hostname": "cpstream09.northwind.example",
            "address": "10.0.3.19", "port": 22, "driver": "ssh", "username": "svc-upgrade", **overrides}


@pytest.mark.parametrize("field, value", [
    ("hostname", "cp stream09"), ("hostname", "cpstream09;reboot"), ("hostname", "https://cpstream09.example/"),
    ("hostname", "-cpstream09"), ("hostname", "a" * 64 + ".example"), ("hostname", "cpstream09.<b>"),
    ("address", "10.0.3.19 && rm -rf /"), ("address", "10.0.3"), ("address", "fe80::1%eth0 x"),
    ("address", ""),
])
def test_a_server_with_a_bad_host_name_or_address_is_refused(client_for, engineer, northwind, field, value):
    deployment = northwind.deployments.get()
    before = Server.objects.count()

    answer = client_for(engineer).post(f"{API}/servers/", _server(deployment, **{field: value}),
                                       content_type="application/json")

    assert answer.status_code == 400
    assert field in answer.json()
    assert Server.objects.count() == before


@pytest.mark.parametrize("field, value", [
    ("hostname", "cpstream09"), ("hostname", "CPSTREAM09.Northwind.example."), ("address", "10.0.3.19"),
    ("address", "2001:db8::19"), ("address", "cpstream09.northwind.example"),
])
def test_good_host_names_and_addresses_are_taken(client_for, engineer, northwind, field, value):
    answer = client_for(engineer).post(f"{API}/servers/", _server(northwind.deployments.get(), **{field: value}),
                                       content_type="application/json")

    assert answer.status_code == 201, answer.content


@pytest.mark.parametrize("email", ["not-an-address", "jane@", "jane doe@northwind.example", "jane@northwind",
                                   "jane@northwind.example\nBcc: all@example.com", "<jane@northwind.example>",
                                   "jane@localhost", "jane@[127.0.0.1]"])
def test_a_contact_with_a_bad_email_address_is_refused_on_the_page_and_the_api(client_for, customer, northwind,
                                                                                email):
    before = Contact.objects.count()
    page = client_for(customer).post(reverse("contact-create", args=["northwind"]), {
        "name": "Jane Doe", "email": email, "time_zone": "Europe/London"})
    api = client_for(customer).post(f"{API}/contacts/", {
        "organisation": "northwind", "name": "Jane Doe", "email": email, "time_zone": "Europe/London"},
        content_type="application/json")

    assert page.status_code == 400
    assert "valid email address" in page.content.decode() or "address at a domain" in page.content.decode()
    assert api.status_code == 400 and "email" in api.json()
    assert Contact.objects.count() == before
