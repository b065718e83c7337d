"""The lead (or the desk) switches the status page on, names the service, rotates the address,
from a page the deployment's page links to."""

import pytest
from django.urls import reverse

from scheduling.models import StatusPage


@pytest.fixture
def settings_url(northwind_deployment):
    return reverse("status-settings", args=[northwind_deployment.pk])


def test_the_deployment_page_links_the_lead_to_the_status_page_settings(client_for, customer, northwind_deployment,
                                                                        settings_url):
    page = client_for(customer).get(reverse("deployment-detail", args=[northwind_deployment.pk])).content.decode()

    assert settings_url in page


def test_the_lead_switches_the_page_on_with_the_name_their_users_know(client_for, customer, client, settings_url):
    response = client_for(customer).post(settings_url, {"service_name": "AppsAnywhere", "enabled": "on"}, follow=True)

    page = StatusPage.objects.get()
    assert "The status page is on." in response.content.decode()
    assert reverse("status-page", args=[page.token]) in response.content.decode()
    assert "AppsAnywhere" in client.get(reverse("status-page", args=[page.token])).content.decode()


def test_a_colleague_who_is_not_the_lead_may_not_change_it(client_for, colleague, settings_url):
    assert client_for(colleague).get(settings_url).status_code == 404
    assert client_for(colleague).post(settings_url, {"service_name": "X", "enabled": "on"}).status_code == 404
    assert not StatusPage.objects.exists()


def test_an_outsider_gets_404(client_for, outsider, settings_url):
    assert client_for(outsider).post(settings_url, {"service_name": "X", "enabled": "on"}).status_code == 404


def test_a_page_without_a_service_name_is_refused(client_for, customer, settings_url):
    response = client_for(customer).post(settings_url, {"service_name": "", "enabled": "on"})

    assert response.status_code == 400
    assert not StatusPage.objects.exists()


def test_rotating_takes_post_only_and_changes_the_address(client_for, customer, northwind_deployment, settings_url):
    lead = client_for(customer)
    lead.post(settings_url, {"service_name": "AppsAnywhere", "enabled": "on"})
    old = StatusPage.objects.get().token
    rotate = reverse("status-rotate", args=[northwind_deployment.pk])

    assert lead.get(rotate).status_code == 405
    response = lead.post(rotate, follow=True)

    assert "The status page has a new address" in response.content.decode()
    assert StatusPage.objects.get().token != old
