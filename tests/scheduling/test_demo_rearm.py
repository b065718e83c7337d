"""Re-arming `make run`'s live upgrade demo is an administrator's explicit choice: a button on the
demo deployment's lab fleet page that asks for confirmation, or `manage.py demo --rearm`; never
what loading the demo again (every `make run` start) does."""

import socket

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from pghistory.models import Events

from portal.models import Deployment
from scheduling.choices import WindowState
from scheduling.demo import seed_live_upgrade
from scheduling.services.demo import demo_rearm
from tests.dates import FRIDAY
from upgrades.choices import RequestState, RunState
from upgrades.fleet import lab_specs
from upgrades.lab.control import LabControl
from upgrades.lab.fleet import running_fleet
from upgrades.models import Run, UpgradeRequest

pytestmark = pytest.mark.day(FRIDAY)  # at 00:30, a window opened five minutes before is on the same day

UPGRADED = {"cloudpaging_version": "10.0.0", "openjdk_version": "21.0.5", "tomcat_version": "10.1.31"}


@pytest.fixture(autouse=True)
def own_data_dir(monkeypatch, tmp_path):
    """Re-arming forgets the lab's saved state in the data folder: this test's, not `make run`'s."""
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))


@pytest.fixture
def finished_demo(world, tmp_path) -> Run:
    """The demo as a day's presentation leaves it: its run completed, its deployment on 10.0.0.
    Its load balancer on a port where nothing listens (a `make run` may serve the demo's)."""
    run = seed_live_upgrade(lab_dir=tmp_path)
    Deployment.objects.filter(pk=run.deployment_id).update(service_url=f"http://127.0.0.1:{_free_port()}")
    Run.objects.filter(pk=run.pk).update(state=RunState.COMPLETED)
    run.window.__class__.objects.filter(pk=run.window_id).update(state=WindowState.COMPLETED)
    UpgradeRequest.objects.filter(pk=run.request_id).update(state=RequestState.COMPLETED)
    Deployment.objects.filter(pk=run.deployment_id).update(**UPGRADED)
    return run


def demo_state(run: Run) -> tuple:
    deployment = Deployment.objects.get(pk=run.deployment_id)
    return (deployment.cloudpaging_version, UpgradeRequest.objects.filter(deployment=deployment).count(),
            Run.objects.filter(deployment=deployment).count())


def test_loading_the_demo_again_leaves_a_finished_demo_as_it_was(finished_demo, tmp_path):
    before = demo_state(finished_demo)

    call_command("prepare")
    call_command("demo")

    assert demo_state(finished_demo) == before == ("10.0.0", 1, 1)


def test_an_administrator_rearms_the_demo_after_confirming(client_for, admin_user, finished_demo):
    client = client_for(admin_user)
    lab_page = client.get(reverse("lab-fleet", args=[finished_demo.deployment_id])).content.decode()
    assert reverse("demo-rearm") in lab_page and "Re-arm the demo" in lab_page

    page = client.get(reverse("demo-rearm")).content.decode()
    assert "Put the live upgrade demo back at its start?" in page
    assert "on Cloudpaging 10.0.0" in page and "completed" in page
    assert demo_state(finished_demo) == ("10.0.0", 1, 1)  # asking changes nothing

    answer = client.post(reverse("demo-rearm"), follow=True)

    run = Run.objects.filter(deployment_id=finished_demo.deployment_id).latest("pk")
    assert answer.redirect_chain[-1][0] == reverse("run-live", args=[run.pk])
    assert "The demo is back at its start." in answer.content.decode()
    assert run.state == RunState.SCHEDULED and run.from_version == "9.4.2" and run.request.state == RequestState.APPROVED
    assert Deployment.objects.get(pk=run.deployment_id).cloudpaging_version == "9.4.2"
    assert Run.objects.get(pk=finished_demo.pk).state == RunState.COMPLETED  # the ended run and its report stay
    # The audit trail names who re-armed it.
    changes = Events.objects.tracks(Deployment.objects.get(pk=run.deployment_id)).filter(pgh_label="update")
    assert any(event.pgh_context and event.pgh_context.get("user") == admin_user.pk
               and event.pgh_context.get("source") == "demo_rearm" for event in changes)


def test_the_demo_is_not_rearmed_while_its_run_is_under_way(client_for, admin_user, world, tmp_path):
    run = seed_live_upgrade(lab_dir=tmp_path)
    Run.objects.filter(pk=run.pk).update(state=RunState.RUNNING)
    before = demo_state(run)

    answer = client_for(admin_user).post(reverse("demo-rearm"), follow=True)

    assert answer.redirect_chain[-1][0] == reverse("demo-rearm")
    assert "under way: abort its run" in answer.content.decode()
    assert demo_state(run) == before


@pytest.mark.parametrize("persona", ["customer", "support", "engineer"])
def test_only_administrators_see_the_page_or_the_button(request, client_for, persona, finished_demo):
    client = client_for(request.getfixturevalue(persona))

    assert client.get(reverse("demo-rearm")).status_code == 404
    assert client.post(reverse("demo-rearm")).status_code == 404
    if persona != "customer":
        assert "Re-arm the demo" not in client.get(reverse("lab-fleet", args=[finished_demo.deployment_id])).content.decode()
    assert demo_state(finished_demo) == ("10.0.0", 1, 1)


def test_the_page_takes_get_and_post_only(client_for, admin_user, world):
    assert client_for(admin_user).put(reverse("demo-rearm")).status_code == 405


def test_the_command_rearms_it_and_says_where_the_new_run_is(finished_demo, tmp_path, settings, capsys):
    call_command("demo", rearm=True)

    run = Run.objects.filter(deployment_id=finished_demo.deployment_id).latest("pk")
    assert run.pk != finished_demo.pk and run.state == RunState.SCHEDULED
    assert f"/runs/{run.pk}/" in capsys.readouterr().out


def test_the_command_says_why_it_refuses(world, tmp_path):
    run = seed_live_upgrade(lab_dir=tmp_path)
    Run.objects.filter(pk=run.pk).update(state=RunState.PAUSED)

    with pytest.raises(CommandError, match="under way"):
        call_command("demo", rearm=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_rearming_puts_the_running_lab_fleets_servers_back_on_942(finished_demo, admin_user, tmp_path):
    # The demo's own ports may be taken by a `make run` on this machine: free ones instead.
    deployment = Deployment.objects.get(pk=finished_demo.deployment_id)
    Deployment.objects.filter(pk=deployment.pk).update(service_url=f"http://127.0.0.1:{_free_port()}")
    for server in deployment.servers.all():
        server.__class__.objects.filter(pk=server.pk).update(port=_free_port())
    [spec] = lab_specs(deployment_ids=[deployment.pk])
    with running_fleet([spec], data_dir=tmp_path / "lab") as thread:
        hostname = spec.servers[0].hostname
        thread.fleet.deployments[spec.key].server(hostname).faults["fail_next"] = "left from the last demo"
        control = LabControl(f"http://127.0.0.1:{spec.lb_port}")
        assert control.member(hostname)["versions"]["cloudpaging"] == "10.0.0"

        rearmed = demo_rearm(by=admin_user)

        assert rearmed.lab == "The lab fleet's servers are back on 9.4.2."
        assert {member["versions"]["cloudpaging"] for member in control.status()["members"]} == {"9.4.2"}
        assert control.member(hostname)["faults"] == {}
