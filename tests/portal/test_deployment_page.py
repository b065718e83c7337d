"""The deployment page: versions, load balancer, groups and the warnings a customer must see."""

import re

from django.urls import reverse

from portal import services
from portal.models import Deployment, Server


def _page(client, deployment) -> str:
    return client.get(reverse("deployment-detail", args=[deployment.pk])).content.decode()


def test_it_lists_the_groups_in_upgrade_order_with_their_servers(client_for, customer, northwind):
    deployment = Deployment.objects.get(organisation=northwind)

    page = _page(client_for(customer), deployment)

    assert page.index("Group 1") < page.index("Group 2")
    for hostname in Server.objects.filter(deployment=deployment).values_list("hostname", flat=True):
        assert hostname in page
    assert "No zero-downtime upgrade possible" not in page


def test_it_warns_when_fewer_than_two_groups_sit_behind_the_load_balancer(client_for, support, northwind):
    deployment = Deployment.objects.get(organisation=northwind)
    deployment.groups.get(position=2).delete()

    page = _page(client_for(support), deployment)

    assert "No zero-downtime upgrade possible" in page
    assert "Only 1 server group behind the load balancer" in page
    assert "Not in a group" in page  # the servers of the removed group are still listed


def test_it_warns_when_the_load_balancer_has_no_health_checks(client_for, support, northwind):
    deployment = Deployment.objects.get(organisation=northwind)
    services.deployment_update(deployment=deployment, by=support, health_checks=False)

    page = _page(client_for(support), deployment)

    assert "The load balancer has no health checks" in page


def test_an_a10_allowing_tls_1_0_is_flagged_for_support(client_for, outsider, contoso):
    page = _page(client_for(outsider), Deployment.objects.get(organisation=contoso))

    assert "A10 load balancer allowing TLS 1.0" in page


def test_a_change_to_a_server_appears_in_the_deployments_history(client_for, engineer, northwind):
    deployment = Deployment.objects.get(organisation=northwind)
    server = deployment.servers.first()

    services.server_update(server=server, by=engineer, address="127.0.0.2")

    page = _page(client_for(engineer), deployment)
    assert f"Server {server.hostname}" in page
    assert "127.0.0.2" in page and "Erin Walsh" in page


def test_rule_codes_are_for_staff_customers_read_the_sentence(client_for, outsider, support, contoso):
    """The vendor's process rules (S1-S17) are how staff work; a customer reads plain words."""
    url = reverse("deployment-detail", args=[Deployment.objects.get(organisation=contoso).pk])

    for_customer = client_for(outsider).get(url).content.decode()
    for_support = client_for(support).get(url).content.decode()

    assert "support must know before the upgrade." in for_customer
    assert not re.search(r"\(S\d+\)", for_customer)
    assert "support must know before the upgrade (S9)." in for_support
