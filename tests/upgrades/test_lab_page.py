"""The staff page of a deployment's lab fleet: its servers as the load balancer sees them, and
buttons that break them for demonstrations."""

from django.urls import reverse

from portal.models import Deployment
from tests.conftest import wait_for

ADMIN_1 = "cpadmin01.northwind.example"


def page(client, deployment, **headers):
    return client.get(reverse("lab-fleet", args=[deployment.pk]), headers=headers)


def fault(client, deployment, hostname, name):
    return client.post(reverse("lab-fault", args=[deployment.pk]), {"hostname": hostname, "fault": name}, follow=True)


def test_staff_see_the_servers_versions_and_health_as_the_load_balancer_sees_them(
    client_for, engineer, northwind_deployment, northwind_lab
):
    wait_for(lambda: northwind_lab.control.member(ADMIN_1)["healthy"])

    html = page(client_for(engineer), northwind_deployment).content.decode()

    assert ADMIN_1 in html and "Cloudpaging 9.4.2" in html and "Tomcat 9.0.85" in html
    assert "in the pool" in html and "every 0.05 s" in html
    assert "Crash" in html and "Break repository" in html


def test_the_page_refreshes_its_servers_as_an_htmx_partial(client_for, support, northwind_deployment, northwind_lab):
    html = page(client_for(support), northwind_deployment, HX_Request="true").content.decode()

    assert html.lstrip().startswith('<section id="lab-members"') and "<html" not in html


def test_a_crash_injected_from_the_page_takes_the_server_out_of_the_pool(
    client_for, engineer, northwind_deployment, northwind_lab
):
    client = client_for(engineer)

    response = fault(client, northwind_deployment, ADMIN_1, "crash")

    assert "Crash: done on cpadmin01.northwind.example" in response.content.decode()
    wait_for(lambda: not northwind_lab.control.member(ADMIN_1)["in_pool"])
    assert "out of the pool" in page(client, northwind_deployment).content.decode()


def test_faults_are_cleared_from_the_page(client_for, engineer, northwind_deployment, northwind_lab):
    client = client_for(engineer)
    fault(client, northwind_deployment, ADMIN_1, "fail_next")

    fault(client, northwind_deployment, ADMIN_1, "clear")

    assert northwind_lab.control.member(ADMIN_1)["faults"] == {}


def test_it_refuses_an_unknown_fault_or_a_server_of_another_deployment(
    client_for, engineer, northwind_deployment, northwind_lab
):
    client = client_for(engineer)

    unknown = fault(client, northwind_deployment, ADMIN_1, "explode").content.decode()
    foreign = fault(client, northwind_deployment, "cpadmin01.contoso.example", "crash").content.decode()

    assert "No fault is called" in unknown
    assert "is not a server of this deployment" in foreign
    assert northwind_lab.control.member(ADMIN_1)["faults"] == {}


def test_customers_cannot_see_or_break_the_lab(client_for, customer, northwind_deployment, northwind_lab):
    client = client_for(customer)

    assert page(client, northwind_deployment).status_code == 404
    assert fault(client, northwind_deployment, ADMIN_1, "crash").status_code == 404
    assert northwind_lab.control.member(ADMIN_1)["running"]


def test_faults_are_posted_not_got(client_for, engineer, northwind_deployment):
    response = client_for(engineer).get(reverse("lab-fault", args=[northwind_deployment.pk]))

    assert response.status_code == 405


def test_the_page_says_when_the_lab_fleet_is_not_running(client_for, engineer, northwind_deployment):
    Deployment.objects.filter(pk=northwind_deployment.pk).update(service_url="http://127.0.0.1:9")

    html = page(client_for(engineer), northwind_deployment).content.decode()

    assert "Is `manage.py labfleet` running?" in html


def test_a_deployment_outside_the_lab_is_said_so(client_for, engineer, contoso):
    deployment = Deployment.objects.get(organisation=contoso)

    html = page(client_for(engineer), deployment).content.decode()

    assert "not simulated by the lab fleet" in html
