"""Support sets up a customer one page a step: organisation, deployment, groups and servers,
contacts invited to choose their own password. A refused step keeps what was typed and says why;
the organisation's page says what is still missing."""

from django.urls import reverse

from portal.models import Contact, Deployment, Notice, Organisation, Server, User
from tests.factories import OrganisationFactory

ORGANISATION = {"name": "Tailspin Academy", "slug": "", "hosting": "on_premises", "time_zone": "Europe/Dublin",
                "support_region": "europe"}
DEPLOYMENT = {"name": "Main campus", "cloudpaging_version": "9.4.2", "openjdk_version": "17.0.10",
              "tomcat_version": "9.0.85", "server_platform": "virtual", "load_balancer_vendor": "F5",
              "load_balancer_model": "BIG-IP", "health_checks": "on", "min_tls_version": "1.2",
              "service_url": "https://cloudpaging.tailspin.example/"}


def _server(group="new", **fields):
    return {"group": group, "role": "admin_license", "hostname": "cpadmin01.tailspin.example", "address": "10.0.4.11",
            "port": "", "driver": "ssh", "username": "cpadmin", "secret": "s3cret-pass", "host_key": "", **fields}


def test_support_registers_an_organisation_and_goes_on_to_its_deployment(client_for, support):
    answer = client_for(support).post(reverse("organisation-create"), ORGANISATION)

    organisation = Organisation.objects.get(name="Tailspin Academy")
    assert organisation.slug == "tailspin-academy" and organisation.time_zone == "Europe/Dublin"
    assert answer.status_code == 302 and answer["Location"] == reverse("deployment-create", args=[organisation.slug])


def test_a_refused_organisation_keeps_what_was_typed(client_for, support, northwind):
    answer = client_for(support).post(reverse("organisation-create"), {**ORGANISATION, "name": "northwind university"})

    page = answer.content.decode()
    assert answer.status_code == 400
    assert "An organisation with this name already exists." in page
    assert 'value="northwind university"' in page and "Europe/Dublin" in page
    assert not Organisation.objects.filter(name__iexact="northwind university").exclude(pk=northwind.pk).exists()


def test_only_the_desk_registers_customers(client_for, engineer, customer):
    assert client_for(engineer).post(reverse("organisation-create"), ORGANISATION).status_code == 403
    assert client_for(customer).post(reverse("organisation-create"), ORGANISATION).status_code == 404
    assert client_for(engineer).get(reverse("organisation-create")).status_code == 403
    assert not Organisation.objects.filter(name="Tailspin Academy").exists()


def test_the_wrong_method_is_refused(client_for, support, northwind):
    assert client_for(support).delete(reverse("deployment-create", args=["northwind"])).status_code == 405


def test_a_deployment_is_registered_and_servers_come_next(client_for, support):
    organisation = OrganisationFactory()

    answer = client_for(support).post(reverse("deployment-create", args=[organisation.slug]), DEPLOYMENT)

    deployment = Deployment.objects.get(organisation=organisation)
    assert answer.status_code == 302 and answer["Location"] == reverse("deployment-servers", args=[deployment.pk])
    assert deployment.health_checks and deployment.load_balancer_model == "BIG-IP"


def test_health_checks_without_a_load_balancer_are_refused_in_place(client_for, support):
    organisation = OrganisationFactory()

    answer = client_for(support).post(reverse("deployment-create", args=[organisation.slug]),
                                      {**DEPLOYMENT, "load_balancer_vendor": ""})

    assert answer.status_code == 400
    assert "Health checks need a load balancer: name its vendor." in answer.content.decode()
    assert 'value="Main campus"' in answer.content.decode()
    assert not Deployment.objects.filter(organisation=organisation).exists()


def test_servers_go_into_new_and_existing_groups_and_their_credential_is_sealed(client_for, engineer):
    deployment = Deployment.objects.create(organisation=OrganisationFactory(), **{
        k: v for k, v in DEPLOYMENT.items() if k not in ("health_checks",)})
    client = client_for(engineer)
    url = reverse("deployment-servers", args=[deployment.pk])

    client.post(url, _server())
    group = deployment.groups.get()
    page = client.get(url).content.decode()
    client.post(url, _server(group=str(group.pk), role="stream", hostname="cpstream01.tailspin.example",
                             address="10.0.4.12"))

    assert f'<option value="{group.pk}" selected>Group 1</option>' in page  # its missing half comes next
    assert list(group.servers.values_list("hostname", "role")) == [
        ("cpadmin01.tailspin.example", "admin_license"), ("cpstream01.tailspin.example", "stream")]
    server = Server.objects.get(hostname="cpadmin01.tailspin.example")
    assert server.has_secret and "s3cret-pass" not in server.secret_token
    assert "s3cret-pass" not in client.get(url).content.decode()
    assert "stored, encrypted" in client.get(url).content.decode()


def test_a_bad_host_name_is_refused_and_leaves_no_empty_group(client_for, support, northwind_deployment):
    url = reverse("deployment-servers", args=[northwind_deployment.pk])
    groups = northwind_deployment.groups.count()

    answer = client_for(support).post(url, _server(hostname="cp admin;rm -rf"))

    page = answer.content.decode()
    assert answer.status_code == 400
    assert "is not a host name" in page and 'value="10.0.4.11"' in page
    assert "s3cret-pass" not in page  # the credential is never shown back
    assert northwind_deployment.groups.count() == groups


def test_a_second_server_of_one_role_in_a_group_is_refused(client_for, support, northwind_deployment):
    group = northwind_deployment.groups.get(position=1)

    answer = client_for(support).post(reverse("deployment-servers", args=[northwind_deployment.pk]),
                                      _server(group=str(group.pk)))

    assert answer.status_code == 400
    assert "A group holds one Admin/License server and one Stream server." in answer.content.decode()


def test_a_contact_is_added_and_invited_at_once(client_for, support, world):
    organisation = OrganisationFactory()

    answer = client_for(support).post(reverse("setup-contacts", args=[organisation.slug]), {
        "name": "Ada Lovelace", "email": "ada@tailspin.example", "phone": "", "time_zone": "Europe/Dublin",
        "roles": ["lead"]})

    assert answer.status_code == 302
    contact = Contact.objects.get(organisation=organisation)
    assert contact.roles == ["lead"]
    account = User.objects.get(contact=contact)
    assert not account.is_active and not account.has_usable_password()
    assert Notice.objects.filter(recipient="ada@tailspin.example", topic="invitation").exists()


def test_a_contact_who_cannot_be_invited_is_not_added_either(client_for, support, world):
    organisation = OrganisationFactory()

    answer = client_for(support).post(reverse("setup-contacts", args=[organisation.slug]), {
        "name": "Olivia Again", "email": "lead@northwind.example", "phone": "", "time_zone": "Europe/Dublin",
        "roles": ["lead"]})

    assert answer.status_code == 400
    assert "is the log-in of another account" in answer.content.decode()
    assert 'value="Olivia Again"' in answer.content.decode()
    assert not Contact.objects.filter(organisation=organisation).exists()


def test_the_organisation_page_says_what_is_missing(client_for, support, customer):
    organisation = OrganisationFactory()
    url = reverse("organisation-detail", args=[organisation.slug])

    page = client_for(support).get(url).content.decode()
    assert "No deployment yet" in page and "No contacts yet" in page
    assert reverse("deployment-create", args=[organisation.slug]) in page
    assert reverse("setup-contacts", args=[organisation.slug]) in page

    deployment = Deployment.objects.create(organisation=organisation, **{
        k: v for k, v in DEPLOYMENT.items() if k != "health_checks"})
    page = client_for(support).get(url).content.decode()
    assert "No deployment yet" not in page and "No servers in Main campus" in page
    assert reverse("deployment-servers", args=[deployment.pk]) in page
    assert "New customer" in client_for(support).get(reverse("organisation-list")).content.decode()


def test_a_set_up_organisation_lacks_nothing(client_for, support, northwind):
    page = client_for(support).get(reverse("organisation-detail", args=["northwind"])).content.decode()

    assert "Not fully set up yet" not in page
