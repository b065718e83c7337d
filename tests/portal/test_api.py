"""The REST API, told by the people who use it: a customer keeps their contacts, support
registers customers, an engineer registers servers with their credentials, and nobody reaches
another organisation's rows."""

import logging

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal import credentials, demo
from portal.choices import ContactRole, ServerRole
from portal.models import Contact, Deployment, Organisation, Server, ServerGroup, User
from tests.conftest import BROWSER_ACCEPT
from tests.factories import ContactFactory, DeploymentFactory

API = "/api/v1"
SECRET = "correct horse battery staple"


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def new_contact(organisation: str = "northwind", **fields) -> dict:
    return {
        "organisation": organisation, "name": "Ada Lovelace", "email": "ada@northwind.example",
        "phone": "+44 20 7946 0001", "time_zone": "Europe/London", "roles": [ContactRole.NETWORK_ADMIN],
        **fields,
    }


def new_deployment(organisation: str = "northwind", **fields) -> dict:
    return {
        "organisation": organisation, "name": "Staging", "cloudpaging_version": "9.4.2",
        "openjdk_version": "17.0.10", "tomcat_version": "9.0.85", **fields,
    }


@pytest.fixture
def api_for(client_for):
    """A logged-in client that speaks JSON."""

    def make(user: User) -> Client:
        client = client_for(user)
        for method in ("post", "put", "patch"):
            send = getattr(client, method)
            setattr(client, method, lambda path, data=None, _send=send: _send(
                path, {} if data is None else data, content_type="application/json"
            ))
        return client

    return make


@pytest.fixture
def contoso_rows(contoso) -> dict:
    deployment = Deployment.objects.get(organisation=contoso)
    return {
        "contact": Contact.objects.filter(organisation=contoso).first().pk,
        "deployment": deployment.pk,
        "server": deployment.servers.first().pk,
        "group": deployment.groups.first().pk,
    }


class TestACustomer:
    def test_it_lists_only_its_own_organisation(self, api_for, customer, northwind):
        api = api_for(customer)
        assert [row["slug"] for row in results(api.get(f"{API}/organisations/"))] == ["northwind"]
        assert {row["organisation"] for row in results(api.get(f"{API}/contacts/"))} == {"northwind"}
        deployments = results(api.get(f"{API}/deployments/"))
        assert {row["organisation"] for row in deployments} == {"northwind"}
        northwind_deployments = set(northwind.deployments.values_list("pk", flat=True))
        assert {row["deployment"] for row in results(api.get(f"{API}/servers/"))} == northwind_deployments
        assert {row["deployment"] for row in results(api.get(f"{API}/server-groups/"))} == northwind_deployments

    @pytest.mark.parametrize(
        "path",
        [
            "/organisations/contoso/",
            "/contacts/{contact}/",
            "/contacts/?organisation=contoso",
            "/deployments/{deployment}/",
            "/deployments/?organisation=contoso",
            "/servers/{server}/",
            "/servers/?deployment={deployment}",
            "/server-groups/{group}/",
            "/server-groups/?deployment={deployment}",
        ],
    )
    def test_it_finds_nothing_of_another_organisation(self, api_for, customer, contoso_rows, path):
        assert api_for(customer).get(API + path.format(**contoso_rows)).status_code == 404

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("patch", "/organisations/contoso/"),
            ("patch", "/contacts/{contact}/"),
            ("delete", "/contacts/{contact}/"),
            ("patch", "/deployments/{deployment}/"),
            ("patch", "/servers/{server}/"),
            ("delete", "/servers/{server}/"),
        ],
    )
    def test_it_cannot_change_another_organisations_rows_which_do_not_exist_for_it(
        self, api_for, customer, contoso_rows, method, path
    ):
        api, path = api_for(customer), API + path.format(**contoso_rows)
        response = api.delete(path) if method == "delete" else getattr(api, method)(path, {"name": "Mine now"})
        assert response.status_code == 404
        assert not Contact.objects.filter(name="Mine now").exists()
        assert Contact.objects.filter(pk=contoso_rows["contact"]).exists()

    def test_it_adds_edits_and_removes_a_contact_of_its_organisation(self, api_for, customer, northwind):
        api = api_for(customer)

        created = api.post(f"{API}/contacts/", new_contact())
        assert created.status_code == 201, created.content
        contact = Contact.objects.get(pk=created.json()["id"])
        assert contact.organisation == northwind
        assert created.json() == api.get(f"{API}/contacts/{contact.pk}/").json()

        edited = api.patch(f"{API}/contacts/{contact.pk}/", {"phone": "+44 20 7946 0002", "roles": ["lead", "network_admin"]})
        assert edited.status_code == 200, edited.content
        contact.refresh_from_db()
        assert (contact.phone, contact.roles) == ("+44 20 7946 0002", ["lead", "network_admin"])

        assert api.delete(f"{API}/contacts/{contact.pk}/").status_code == 204
        assert not Contact.objects.filter(pk=contact.pk).exists()

    def test_it_cannot_add_a_contact_to_another_organisation(self, api_for, customer, contoso):
        response = api_for(customer).post(f"{API}/contacts/", new_contact("contoso", email="ada@contoso.example"))
        assert response.status_code in (400, 404)
        assert not Contact.objects.filter(email="ada@contoso.example").exists()
        # The same answer as for an organisation that does not exist: nothing is given away.
        unknown = api_for(customer).post(f"{API}/contacts/", new_contact("no-such-customer"))
        assert response.json() == {"organisation": ["Object with slug=contoso does not exist."]}
        assert unknown.json() == {"organisation": ["Object with slug=no-such-customer does not exist."]}

    def test_it_cannot_move_a_contact_to_another_organisation(self, api_for, customer, northwind):
        contact = northwind.contacts.get(email="tom.hughes@northwind.example")
        response = api_for(customer).patch(f"{API}/contacts/{contact.pk}/", {"organisation": "contoso"})
        assert response.status_code == 200
        assert response.json()["organisation"] == "northwind"
        contact.refresh_from_db()
        assert contact.organisation == northwind

    def test_it_cannot_remove_itself(self, api_for, customer):
        response = api_for(customer).delete(f"{API}/contacts/{customer.contact_id}/")
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": ["You cannot remove yourself: ask a colleague or support."]}
        assert Contact.objects.filter(pk=customer.contact_id).exists()

    def test_a_colleague_keeps_the_same_contacts(self, api_for, colleague, customer):
        response = api_for(colleague).patch(f"{API}/contacts/{customer.contact_id}/", {"phone": "+44 1632 960000"})
        assert response.status_code == 200
        assert Contact.objects.get(pk=customer.contact_id).phone == "+44 1632 960000"

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("post", "/organisations/", {"slug": "acme", "name": "Acme", "time_zone": "UTC", "support_region": "europe"}),
            ("patch", "/organisations/northwind/", {"name": "Northwind Polytechnic"}),
            ("patch", "/deployments/{deployment}/", {"name": "Renamed"}),
            ("post", "/deployments/", new_deployment()),
            ("post", "/server-groups/", {"deployment": "{deployment}"}),
            ("patch", "/servers/{server}/", {"hostname": "renamed.northwind.example"}),
            ("delete", "/servers/{server}/", None),
        ],
    )
    def test_it_reads_its_fleet_but_may_not_change_it(self, api_for, customer, northwind, method, path, body):
        deployment = northwind.deployments.get()
        ids = {"deployment": deployment.pk, "server": deployment.servers.first().pk}
        if body and body.get("deployment") == "{deployment}":
            body = {"deployment": deployment.pk}
        before = (Organisation.objects.count(), Deployment.objects.count(), ServerGroup.objects.count(), Server.objects.count())

        api, path = api_for(customer), API + path.format(**ids)
        response = api.delete(path) if method == "delete" else getattr(api, method)(path, body)

        assert response.status_code == 403
        northwind.refresh_from_db()
        deployment.refresh_from_db()
        assert (northwind.name, deployment.name) == ("Northwind University", "Production")
        assert (Organisation.objects.count(), Deployment.objects.count(), ServerGroup.objects.count(), Server.objects.count()) == before


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "“Mars/Olympus_Mons” is not a known time zone (for example Europe/London)."),
        ({"email": "not-an-address"}, "email", "Enter a valid email address."),
        ({"email": "Grace.Liu@Northwind.example"}, "non_field_errors", "This organisation already has a contact with this e-mail address."),
        ({"roles": ["janitor"]}, "roles", None),
        ({"name": ""}, "name", "This field may not be blank."),
    ],
)
def test_bad_contact_details_are_refused_field_by_field_and_nothing_is_saved(api_for, customer, fields, field, message):
    before = Contact.objects.count()
    response = api_for(customer).post(f"{API}/contacts/", new_contact(**fields))
    assert response.status_code == 400
    assert list(response.json()) == [field]
    if message:
        assert response.json()[field] == [message]
    assert Contact.objects.count() == before


def test_bad_input_on_an_edit_changes_nothing(api_for, customer):
    contact = Contact.objects.get(email="grace.liu@northwind.example")
    response = api_for(customer).patch(
        f"{API}/contacts/{contact.pk}/", {"name": "Grace L.", "email": "rahul.mehta@NORTHWIND.example"}
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["This organisation already has a contact with this e-mail address."]}
    contact.refresh_from_db()
    assert (contact.name, contact.email) == ("Grace Liu", "grace.liu@northwind.example")


class TestSupport:
    def test_it_registers_a_customer_and_its_deployment(self, api_for, support):
        api = api_for(support)

        organisation = api.post(
            f"{API}/organisations/",
            {"slug": "acme", "name": "Acme Polytechnic", "hosting": "cloud", "time_zone": "Europe/Dublin",
             "support_region": "europe"},
        )
        assert organisation.status_code == 201, organisation.content
        assert organisation.json() | {"created_at": None} == {
            "slug": "acme", "name": "Acme Polytechnic", "hosting": "cloud", "time_zone": "Europe/Dublin",
            "support_region": "europe", "requires_mfa": False, "created_at": None, "deployment_count": 0,
            "contact_count": 0,
        }

        deployment = api.post(
            f"{API}/deployments/",
            new_deployment("acme", load_balancer_vendor="A10", load_balancer_model="AX2500", min_tls_version="1.0"),
        )
        assert deployment.status_code == 201, deployment.content
        answer = deployment.json()
        assert Deployment.objects.get(pk=answer["id"]).organisation.slug == "acme"
        assert answer["flags_legacy_tls"] is True
        assert answer["topology_warning"].startswith("The load balancer has no health checks")
        assert (answer["groups"], answer["ungrouped_servers"]) == ([], [])
        assert api.get(f"{API}/organisations/acme/").json()["deployment_count"] == 1

    def test_it_renames_a_customer_but_its_slug_stays(self, api_for, support, northwind):
        response = api_for(support).patch(f"{API}/organisations/northwind/", {"name": "Northwind Poly", "slug": "nw"})
        assert response.status_code == 200
        northwind.refresh_from_db()
        assert (northwind.name, northwind.slug) == ("Northwind Poly", "northwind")

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"cloudpaging_version": "abc"}, "cloudpaging_version"),
            ({"min_tls_version": "0.9"}, "min_tls_version"),
            ({"service_url": "not a url"}, "service_url"),
            ({"organisation": "no-such-customer"}, "organisation"),
            ({"health_checks": True}, "non_field_errors"),
            ({"name": "Production"}, "non_field_errors"),
        ],
    )
    def test_a_bad_deployment_is_refused_field_by_field(self, api_for, support, fields, field):
        before = Deployment.objects.count()
        response = api_for(support).post(f"{API}/deployments/", new_deployment(**fields))
        assert response.status_code == 400
        assert list(response.json()) == [field]
        assert Deployment.objects.count() == before

    def test_a_duplicate_or_misnamed_organisation_is_refused(self, api_for, support):
        api = api_for(support)
        base = {"slug": "acme", "name": "Acme", "time_zone": "UTC", "support_region": "europe"}
        assert list(api.post(f"{API}/organisations/", base | {"slug": "northwind"}).json()) == ["slug"]
        assert list(api.post(f"{API}/organisations/", base | {"name": "NORTHWIND UNIVERSITY"}).json()) == ["non_field_errors"]
        assert list(api.post(f"{API}/organisations/", base | {"time_zone": "Europe/Atlantis"}).json()) == ["time_zone"]
        assert not Organisation.objects.filter(slug="acme").exists()

    def test_it_sees_a_deployment_with_its_groups_in_upgrade_order(self, api_for, support, contoso):
        deployment = contoso.deployments.get()
        answer = api_for(support).get(f"{API}/deployments/{deployment.pk}/").json()
        assert [group["position"] for group in answer["groups"]] == [1, 2, 3]
        assert [server["hostname"] for server in answer["groups"][0]["servers"]] == [
            "cpadmin01.contoso.example", "cpstream01.contoso.example",
        ]
        assert answer["topology_warning"] == ""
        assert answer["flags_legacy_tls"] is True  # S9: A10 allowing TLS 1.0
        assert "secret" not in str(answer).replace("has_secret", "")


class TestAnEngineer:
    def test_it_registers_a_server_whose_secret_is_never_read_back(
        self, api_for, engineer, support, customer, northwind, caplog
    ):
        caplog.set_level(logging.DEBUG)
        deployment = northwind.deployments.get()
        group = api_for(engineer).post(f"{API}/server-groups/", {"deployment": deployment.pk})
        assert group.status_code == 201
        assert group.json()["position"] == 3  # after the two groups the demo registered

        created = api_for(engineer).post(
            f"{API}/servers/",
            {"deployment": deployment.pk, "group": group.json()["id"], "role": ServerRole.STREAM,
             "hostname": "cpstream03.northwind.example", "address": "10.0.3.11", "port": 22, "driver": "ssh",
             "username": "svc-upgrade", "secret": SECRET},
        )
        assert created.status_code == 201, created.content
        assert created.json()["has_secret"] is True
        assert "secret" not in created.json()

        server = Server.objects.get(pk=created.json()["id"])
        assert server.secret_token.startswith("gAAAAA")  # a Fernet token
        assert credentials.reveal(server.secret_token) == SECRET

        answers = [created]
        for user in (engineer, support, customer):
            api = api_for(user)
            answers += [
                api.get(f"{API}/servers/"),
                api.get(f"{API}/servers/?deployment={deployment.pk}"),
                api.get(f"{API}/servers/{server.pk}/"),
                api.get(f"{API}/server-groups/{group.json()['id']}/"),
                api.get(f"{API}/deployments/{deployment.pk}/"),
            ]
        answers.append(api_for(engineer).get(f"{API}/servers/{server.pk}/", HTTP_ACCEPT=BROWSER_ACCEPT))
        for answer in answers:
            assert answer.status_code in (200, 201)
            assert SECRET.encode() not in answer.content
            assert server.secret_token.encode() not in answer.content
            assert b'"secret"' not in answer.content
        assert SECRET not in caplog.text
        assert server.secret_token not in caplog.text

    def test_a_refused_server_logs_no_secret(self, api_for, engineer, northwind, caplog):
        caplog.set_level(logging.DEBUG)
        response = api_for(engineer).post(
            f"{API}/servers/",
            {"deployment": northwind.deployments.get().pk, "role": "stream", "hostname": "", "address": "10.0.0.1",
             "secret": SECRET},
        )
        assert response.status_code == 400
        assert SECRET.encode() not in response.content
        assert SECRET not in caplog.text

    def test_it_keeps_replaces_or_removes_a_secret(self, api_for, engineer, contoso):
        server = contoso.deployments.get().servers.first()
        api = api_for(engineer)
        original = server.secret_token

        assert api.patch(f"{API}/servers/{server.pk}/", {"username": "svc-cp"}).json()["has_secret"] is True
        server.refresh_from_db()
        assert server.secret_token == original

        assert api.patch(f"{API}/servers/{server.pk}/", {"secret": "new one"}).status_code == 200
        server.refresh_from_db()
        assert credentials.reveal(server.secret_token) == "new one"

        assert api.patch(f"{API}/servers/{server.pk}/", {"secret": ""}).json()["has_secret"] is False
        server.refresh_from_db()
        assert server.secret_token == ""

    def test_it_cannot_put_a_server_in_another_deployments_group(self, api_for, engineer, northwind, contoso):
        server = northwind.deployments.get().servers.first()
        foreign_group = contoso.deployments.get().groups.first()
        response = api_for(engineer).patch(f"{API}/servers/{server.pk}/", {"group": foreign_group.pk})
        assert response.status_code == 400
        assert response.json() == {"group": ["This group belongs to another deployment."]}
        server.refresh_from_db()
        assert server.group.deployment_id == server.deployment_id

    def test_a_group_holds_one_server_of_each_role(self, api_for, engineer, northwind):
        deployment = northwind.deployments.get()
        group = deployment.groups.get(position=1)
        response = api_for(engineer).post(
            f"{API}/servers/",
            {"deployment": deployment.pk, "group": group.pk, "role": ServerRole.STREAM,
             "hostname": "extra.northwind.example", "address": "10.0.0.9", "port": 70000},
        )
        assert response.status_code == 400
        assert list(response.json()) == ["port"]
        response = api_for(engineer).post(
            f"{API}/servers/",
            {"deployment": deployment.pk, "group": group.pk, "role": ServerRole.STREAM,
             "hostname": "extra.northwind.example", "address": "10.0.0.9"},
        )
        assert response.json() == {"non_field_errors": ["A group holds one Admin/License server and one Stream server."]}
        assert not Server.objects.filter(hostname="extra.northwind.example").exists()

    def test_it_removes_a_server(self, api_for, engineer, northwind):
        server = northwind.deployments.get().servers.first()
        assert api_for(engineer).delete(f"{API}/servers/{server.pk}/").status_code == 204
        assert not Server.objects.filter(pk=server.pk).exists()

    def test_it_may_not_register_customers(self, api_for, engineer):
        response = api_for(engineer).post(
            f"{API}/organisations/", {"slug": "acme", "name": "Acme", "time_zone": "UTC", "support_region": "europe"}
        )
        assert response.status_code == 403
        assert not Organisation.objects.filter(slug="acme").exists()


class TestTokens:
    def test_a_token_opens_the_api_without_a_session(self, world):
        client = Client()
        response = client.post(
            f"{API}/token/", {"email": "Lead@Northwind.example", "password": demo.PASSWORD}, content_type="application/json"
        )
        assert response.status_code == 200
        token = response.json()["token"]

        answer = Client().get(f"{API}/organisations/", HTTP_AUTHORIZATION=f"Token {token}")
        assert [row["slug"] for row in results(answer)] == ["northwind"]
        assert Client().get(f"{API}/organisations/", HTTP_AUTHORIZATION="Token not-a-token").status_code == 401

    def test_a_wrong_password_gets_no_token_and_repeated_failures_lock_the_account_out(self, world, settings):
        client = Client()

        def log_in(password):
            return client.post(f"{API}/token/", {"email": "support@vendor.example", "password": password},
                               content_type="application/json")

        assert log_in("guess").status_code == 400
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            log_in("guess")
        locked = log_in(demo.PASSWORD)
        assert locked.status_code == 429
        assert b"token" not in locked.content

    def test_it_takes_well_formed_credentials_only(self, world):
        response = Client().post(f"{API}/token/", {"email": "nobody", "password": ""}, content_type="application/json")
        assert response.status_code == 400
        assert set(response.json()) == {"email", "password"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/organisations/northwind/"),
        ("delete", "/deployments/{deployment}/"),
        ("put", "/server-groups/{group}/"),
        ("delete", "/server-groups/{group}/"),
        ("get", "/token/"),
        ("put", "/contacts/"),
    ],
)
def test_a_method_an_endpoint_does_not_have_is_405(api_for, admin_user, contoso_rows, method, path):
    response = getattr(api_for(admin_user), method)(API + path.format(**contoso_rows))
    assert response.status_code == 405


def test_a_forged_session_cookie_is_no_session_and_no_server_error(world):
    client = Client()
    client.cookies["sessionid"] = "0\x00\x80forged-key"
    assert client.get(f"{API}/organisations/").status_code in (401, 403)


@pytest.mark.parametrize("path", ["/", "/organisations/", "/contacts/", "/deployments/", "/servers/", "/server-groups/"])
def test_nobody_unauthenticated_gets_in(world, path):
    answer = Client().get(API + path)
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Token")


def test_the_api_root_lists_every_endpoint(api_for, customer):
    endpoints = api_for(customer).get(f"{API}/").json()
    assert sorted(endpoints) == [
        "checklist-items", "contacts", "deployments", "organisations", "releases", "requests", "runs",
        "server-groups", "servers", "token", "tokens", "windows",
    ]


def test_the_schema_documents_the_api_but_no_stored_secret(api_for, customer):
    response = api_for(customer).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert {path.removeprefix("/api/v1") for path in schema["paths"]} >= {
        "/organisations/", "/organisations/{slug}/", "/contacts/", "/contacts/{id}/", "/deployments/",
        "/deployments/{id}/", "/servers/", "/servers/{id}/", "/server-groups/", "/server-groups/{id}/", "/token/",
    }
    assert "secret_token" not in response.content.decode()
    assert schema["components"]["schemas"]["ServerRequest"]["properties"]["secret"]["writeOnly"] is True
    assert "secret" not in schema["components"]["schemas"]["Server"]["properties"]


def _grow_world_to(count: int) -> None:
    """More customers, each with a contact and a deployment of two grouped servers."""
    for _ in range(Organisation.objects.count(), count):
        deployment = DeploymentFactory(name="Production", server_groups=1,
                                       server_groups__servers__secret_token=credentials.seal("s3cret"))
        ContactFactory(organisation=deployment.organisation)


LISTS = ["/organisations/", "/contacts/", "/deployments/", "/servers/", "/server-groups/"]


@pytest.mark.parametrize("persona", ["admin_user", "customer"])
def test_a_list_costs_the_same_queries_for_3_or_30_customers(api_for, request, persona):
    api = api_for(request.getfixturevalue(persona))

    def queries_per_list() -> dict[str, int]:
        counts = {}
        for path in LISTS:
            with CaptureQueriesContext(connection) as queries:
                assert api.get(API + path).status_code == 200
            counts[path] = len(queries)
        return counts

    assert Organisation.objects.count() == 3
    with_3 = queries_per_list()
    _grow_world_to(30)
    with_30 = queries_per_list()

    assert with_30 == with_3
    if persona == "admin_user":
        assert len(results(api.get(f"{API}/servers/"))) == 50  # a full page: the growth is seen


def test_a_browser_gets_json_and_the_menu_leads_to_the_api_docs(client_for, customer):
    """The API answers JSON to a browser too; people read and try it in its Swagger UI."""
    client = client_for(customer)

    answer = client.get(f"{API}/requests/", HTTP_ACCEPT=BROWSER_ACCEPT)
    menu = client.get("/releases/").context["nav"]

    assert answer["Content-Type"] == "application/json"
    assert answer.json()["results"] == []
    assert [item["url"] for item in menu if item["label"] == "API"] == ["/api/docs/"]
