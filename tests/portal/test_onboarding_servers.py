"""The servers' step of setting up a customer corrects what was registered: each server has Edit
(the same form, filled in, the stored password never shown back) and Remove (asked first). The
groups stay numbered 1..N, as the procedure upgrades them. While the deployment is being
upgraded, its servers stay where they are; a server's past runs keep their story."""

import html
import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from portal import credentials, selectors, services
from portal.models import SecurityEvent, Server
from tests.factories import (DeploymentFactory, MaintenanceWindowFactory, RunFactory, ServerGroupFactory,
                             UpgradeRequestFactory)
from upgrades.choices import RequestState, RunState
from upgrades.runflow import FINISHED_RUN_STATES
from upgrades.services.events import event_emit

PASSWORD = "s3cret-pass"


@pytest.fixture
def campus(northwind):
    """Northwind's second deployment: two groups of an Admin/License and a Stream server, each
    logged in to with a stored password."""
    deployment = DeploymentFactory(organisation=northwind, name="Science park", server_groups=2,
                                   server_groups__servers__username="cpadmin")
    deployment.servers.update(secret_token=credentials.seal(PASSWORD))
    return deployment


def server_of(deployment, position: int, role: str = "stream") -> Server:
    return deployment.servers.get(group__position=position, role=role)


def form_of(server: Server, **changes) -> dict:
    """The edit form as it comes filled in, with `changes` typed over it."""
    return {"group": str(server.group_id), "role": server.role, "hostname": server.hostname,
            "address": server.address, "port": server.port or "", "driver": server.driver,
            "username": server.username, "secret": "", "host_key": server.host_key, **changes}


def positions(deployment) -> list[tuple[int, list[str]]]:
    return [(group.position, sorted(group.servers.values_list("hostname", flat=True)))
            for group in deployment.groups.order_by("position")]


def rows_with(page: str, text: str) -> list[str]:
    """The text of each table row of the page that holds `text`, as a reader sees it."""
    rows = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)]
    return [row for row in rows if text in row]


def run_of(deployment, state: str):
    request = UpgradeRequestFactory(deployment=deployment, state=RequestState.APPROVED)
    run = RunFactory(window=MaintenanceWindowFactory(request=request), state=state)
    if state in FINISHED_RUN_STATES:
        run.started_at, run.finished_at = timezone.now() - timedelta(hours=2), timezone.now() - timedelta(hours=1)
        run.save(update_fields=["started_at", "finished_at"])
    return run


# -- Edit ------------------------------------------------------------------------------------


def test_the_edit_form_comes_filled_in_and_never_shows_the_password(client_for, engineer, campus):
    server = server_of(campus, 2)

    answer = client_for(engineer).get(reverse("server-edit", args=[server.pk]))

    page = answer.content.decode()
    assert answer.status_code == 200
    assert f"Edit {server.hostname}" in page and f'value="{server.hostname}"' in page
    assert f'<option value="{server.group_id}" selected>Group 2</option>' in page
    assert "One is stored, encrypted, and never shown. Leave this empty to keep it." in page
    assert PASSWORD not in page and server.secret_token not in page
    assert "Add a server" not in page  # the edit form stands in its place


def test_a_server_is_corrected_and_keeps_its_password_when_the_field_is_left_empty(client_for, engineer, campus):
    server = server_of(campus, 1)
    client = client_for(engineer)

    answer = client.post(reverse("server-edit", args=[server.pk]), form_of(
        server, hostname="cpstream01.science.example", address="10.0.8.12", port="2222", username="svc-cp"))

    assert answer.status_code == 302 and answer["Location"] == reverse("deployment-servers", args=[campus.pk])
    page = client.get(answer["Location"]).content.decode()
    assert "cpstream01.science.example is saved in group 1." in page
    assert "10.0.8.12:2222" in page and "as svc-cp" in page
    server.refresh_from_db()
    assert (server.hostname, server.address, server.port, server.username, server.group.position) == (
        "cpstream01.science.example", "10.0.8.12", 2222, "svc-cp", 1)
    assert credentials.reveal(server.secret_token) == PASSWORD
    change = Events.objects.tracks(server).filter(pgh_label="update").get()
    assert change.pgh_context["user"] == engineer.pk and change.pgh_diff["address"] == ["127.0.0.1", "10.0.8.12"]
    assert not SecurityEvent.objects.filter(kind="server_credential_changed").exists()


def test_a_new_password_replaces_the_stored_one_and_the_security_log_says_who(client_for, engineer, campus):
    server = server_of(campus, 1)

    client_for(engineer).post(reverse("server-edit", args=[server.pk]), form_of(server, secret="n3w-pass"))

    server.refresh_from_db()
    assert credentials.reveal(server.secret_token) == "n3w-pass"
    (event,) = SecurityEvent.objects.filter(kind="server_credential_changed")
    assert event.actor == engineer and event.details == {
        "server": server.hostname, "deployment": campus.pk, "change": "replaced"}


def test_the_stored_password_is_removed_only_when_asked(client_for, engineer, campus):
    server = server_of(campus, 1)
    client = client_for(engineer)
    url = reverse("server-edit", args=[server.pk])

    both = client.post(url, form_of(server, secret="typed", clear_secret="on"))
    assert both.status_code == 400
    assert "Either type a new password or remove the stored one, not both." in both.content.decode()
    server.refresh_from_db()
    assert credentials.reveal(server.secret_token) == PASSWORD

    client.post(url, form_of(server, clear_secret="on"))
    server.refresh_from_db()
    assert not server.has_secret
    (row,) = rows_with(client.get(reverse("deployment-servers", args=[campus.pk])).content.decode(), server.hostname)
    assert "none as cpadmin" in row and "stored, encrypted" not in row
    assert SecurityEvent.objects.get(kind="server_credential_changed").details["change"] == "removed"


def test_a_second_server_of_one_role_in_a_group_is_refused_and_keeps_what_was_typed(client_for, support, campus):
    server = server_of(campus, 1)
    hostname = server.hostname

    answer = client_for(support).post(reverse("server-edit", args=[server.pk]), form_of(
        server, role="admin_license", hostname="renamed.science.example", address="10.0.8.99"))

    page = answer.content.decode()
    assert answer.status_code == 400
    assert "A group holds one Admin/License server and one Stream server." in page
    assert 'value="renamed.science.example"' in page and 'value="10.0.8.99"' in page
    assert f"Edit {server.hostname}" in page  # the form still names the server as it is stored
    server.refresh_from_db()
    assert (server.role, server.hostname, server.address) == ("stream", hostname, "127.0.0.1")


@pytest.mark.parametrize("typed, said", [
    ({"port": "70000"}, "A port is a number from 1 to 65535."),
    ({"hostname": "cp stream;rm -rf"}, "is not a host name"),
    ({"address": ""}, "This field is required."),
])
def test_bad_input_is_said_beside_its_field_and_changes_nothing(client_for, engineer, campus, typed, said):
    server = server_of(campus, 2)
    before = positions(campus), Server.objects.values_list("hostname", "address", "port").get(pk=server.pk)

    answer = client_for(engineer).post(reverse("server-edit", args=[server.pk]),
                                       form_of(server, username="typed-user", **typed))

    assert answer.status_code == 400
    assert said in answer.content.decode() and 'value="typed-user"' in answer.content.decode()
    assert (positions(campus), Server.objects.values_list("hostname", "address", "port").get(pk=server.pk)) == before


def test_posted_by_htmx_a_refusal_comes_back_as_the_servers_with_the_form_and_its_message(client_for, engineer, campus):
    server = server_of(campus, 2)

    answer = client_for(engineer).post(reverse("server-edit", args=[server.pk]), form_of(server, port="0"),
                                       HTTP_HX_REQUEST="true")

    page = answer.content.decode()
    assert answer.status_code == 400
    assert '<div id="fleet">' in page and "<html" not in page
    assert "A port is a number from 1 to 65535." in page and f"Edit {server.hostname}" in page


def test_saved_by_htmx_the_servers_come_back_with_the_news_and_the_page_address(client_for, engineer, campus):
    server = server_of(campus, 2)

    answer = client_for(engineer).post(reverse("server-edit", args=[server.pk]),
                                       form_of(server, address="10.0.8.22"), HTTP_HX_REQUEST="true")

    page = answer.content.decode()
    assert answer.status_code == 200
    assert answer["HX-Push-Url"] == reverse("deployment-servers", args=[campus.pk])
    assert f"{server.hostname} is saved in group 2." in page and "10.0.8.22" in page and "Add a server" in page
    assert Server.objects.get(pk=server.pk).address == "10.0.8.22"


def test_moving_the_last_server_of_a_group_into_a_new_group_keeps_the_groups_numbered(client_for, engineer, campus):
    moved = server_of(campus, 1, "admin_license")
    server_of(campus, 1).delete()

    answer = client_for(engineer).post(reverse("server-edit", args=[moved.pk]), form_of(moved, group="new"),
                                       follow=True)

    assert (f"{moved.hostname} is saved in group 2. Group 1 had no server left and is removed; the groups after it "
            "move up one.") in answer.content.decode()
    assert [position for position, _ in positions(campus)] == [1, 2]
    assert Server.objects.get(pk=moved.pk).group.position == 2


# -- Remove ----------------------------------------------------------------------------------


def test_a_server_is_removed_once_confirmed(client_for, engineer, campus):
    server, other = server_of(campus, 2), server_of(campus, 2, "admin_license")
    client = client_for(engineer)
    url = reverse("server-remove", args=[server.pk])

    asked = client.get(url).content.decode()
    assert f"Remove {server.hostname}?" in asked and "this Stream (Paging) server of group 2" in asked
    assert Server.objects.filter(pk=server.pk).exists()  # asking removes nothing

    answer = client.post(url, follow=True)

    assert f"{server.hostname} is removed." in answer.content.decode()
    assert not Server.objects.filter(pk=server.pk).exists()
    assert positions(campus)[1] == (2, [other.hostname])
    assert Events.objects.tracks(server).get(pgh_label="delete").pgh_context["user"] == engineer.pk


def test_removing_the_last_server_of_a_group_removes_the_group_and_the_later_ones_move_up(
        client_for, support, campus):
    ServerGroupFactory(deployment=campus, position=3)
    ServerGroupFactory(deployment=campus, position=4)
    leaving = server_of(campus, 1, "admin_license")
    server_of(campus, 1).delete()
    later = [hostnames for _, hostnames in positions(campus)[1:]]
    client = client_for(support)
    url = reverse("server-remove", args=[leaving.pk])

    asked = client.get(url).content.decode()
    assert "Group 1 has no other server, so it goes too, and groups 2, 3 and 4 move up one." in asked

    page = client.post(url, follow=True).content.decode()

    assert (f"{leaving.hostname} is removed. Group 1 had no server left and is removed; the groups after it "
            "move up one.") in page
    assert positions(campus) == [(1, later[0]), (2, later[1]), (3, later[2])]
    assert "Group 4" not in page


def test_removed_by_htmx_the_servers_come_back_without_it(client_for, engineer, campus):
    server = server_of(campus, 2)

    answer = client_for(engineer).post(reverse("server-remove", args=[server.pk]), HTTP_HX_REQUEST="true")

    page = answer.content.decode()
    assert answer.status_code == 200 and answer["HX-Push-Url"] == reverse("deployment-servers", args=[campus.pk])
    assert f"{server.hostname} is removed." in page and f"<td>{server.hostname}</td>" not in page


# -- Who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["server-edit", "server-remove"])
def test_the_customers_contacts_see_the_servers_but_change_none_and_outsiders_do_not_see_them(
        client_for, customer, colleague, outsider, campus, name):
    server = server_of(campus, 1)
    url = reverse(name, args=[server.pk])

    for person, answer in ((customer, 403), (colleague, 403), (outsider, 404)):
        assert client_for(person).get(url).status_code == answer
        assert client_for(person).post(url, form_of(server, address="10.9.9.9")).status_code == answer
    assert Server.objects.filter(pk=server.pk, address="127.0.0.1").exists()


@pytest.mark.parametrize("name", ["server-edit", "server-remove"])
def test_the_wrong_method_is_refused(client_for, engineer, campus, name):
    server = server_of(campus, 1)

    assert client_for(engineer).delete(reverse(name, args=[server.pk])).status_code == 405
    assert Server.objects.filter(pk=server.pk).exists()


def test_the_services_refuse_a_customer(customer, campus):
    server = server_of(campus, 1)

    with pytest.raises(PermissionDenied):
        services.server_update(server=server, by=customer, address="10.9.9.9")
    with pytest.raises(PermissionDenied):
        services.server_remove(server=server, by=customer)
    assert Server.objects.filter(pk=server.pk, address="127.0.0.1").exists()


# -- While the deployment is being upgraded ---------------------------------------------------


@pytest.mark.parametrize("state", [RunState.RUNNING, RunState.PAUSED])
def test_during_a_run_a_server_is_neither_moved_readdressed_nor_removed(client_for, engineer, campus, state):
    run_of(campus, state)
    server = server_of(campus, 2)
    client = client_for(engineer)
    before = positions(campus), list(Server.objects.filter(deployment=campus).values_list("address", "port"))

    readdressed = client.post(reverse("server-edit", args=[server.pk]), form_of(server, address="10.0.8.22"))
    moved = client.post(reverse("server-edit", args=[server.pk]), form_of(server, group="new"))
    removed = client.post(reverse("server-remove", args=[server.pk]))
    added = client.post(reverse("deployment-servers", args=[campus.pk]), {
        "group": "new", "role": "admin_license", "hostname": "cpadmin03.science.example", "address": "10.0.8.31",
        "port": "", "driver": "ssh", "username": "", "secret": "", "host_key": ""})

    said = f"Science park is being upgraded now (its run is {state})"
    assert readdressed.status_code == 409 and moved.status_code == 409 and removed.status_code == 409
    assert (f"{said}: the address of {server.hostname} cannot change until the run has ended. Its user name, "
            "password and SSH host key can.") in readdressed.content.decode()
    assert 'value="10.0.8.22"' in readdressed.content.decode()  # what was typed is kept
    assert f"{said}: the group of {server.hostname} cannot change" in moved.content.decode()
    assert f"{said}: {server.hostname} cannot be removed until the run has ended." in removed.content.decode()
    assert added.status_code == 400 and f"{said}: a server is registered once the run has ended" in \
        added.content.decode()
    assert "Being upgraded now." in client.get(reverse("deployment-servers", args=[campus.pk])).content.decode()
    assert (positions(campus), list(Server.objects.filter(deployment=campus).values_list("address", "port"))) == before
    assert campus.groups.count() == 2


def test_during_a_run_the_admin_registers_no_server_and_says_why(client_for, admin_user, campus):
    run_of(campus, RunState.RUNNING)

    answer = client_for(admin_user).post(reverse("admin:portal_server_add"), {
        "deployment": campus.pk, "group": "", "role": "stream", "hostname": "cpstream09.science.example",
        "address": "10.0.8.39", "port": "", "driver": "ssh", "username": "", "host_key": "", "secret": ""})

    assert answer.status_code == 200  # the form again, with the reason
    assert ("Science park is being upgraded now (its run is running): a server is registered once the run has "
            "ended") in html.unescape(answer.content.decode())
    assert not Server.objects.filter(hostname="cpstream09.science.example").exists()


def test_during_a_run_the_credentials_can_still_be_corrected(client_for, engineer, campus):
    run_of(campus, RunState.PAUSED)
    server = server_of(campus, 2)

    answer = client_for(engineer).post(reverse("server-edit", args=[server.pk]),
                                       form_of(server, username="svc-upgrade", secret="rotated-pass"))

    assert answer.status_code == 302
    server.refresh_from_db()
    assert server.username == "svc-upgrade" and credentials.reveal(server.secret_token) == "rotated-pass"


def test_a_run_still_to_come_plans_again_at_its_start_so_the_servers_may_change(client_for, engineer, campus):
    run_of(campus, RunState.SCHEDULED)
    server = server_of(campus, 2)

    answer = client_for(engineer).post(reverse("server-remove", args=[server.pk]))

    assert answer.status_code == 302 and not Server.objects.filter(pk=server.pk).exists()


# -- History ----------------------------------------------------------------------------------


def test_a_server_with_past_runs_is_removed_and_its_runs_keep_their_story(client_for, engineer, support, campus):
    """A server taken out of service must not hold up the next upgrade (its preflight would ask it),
    so past runs do not keep it: they name their servers by host name in their own rows, and the
    audit trail keeps the server's row as it was."""
    run = run_of(campus, RunState.COMPLETED)
    server = server_of(campus, 2)
    event_emit(run=run, kind="log", step=run.steps.order_by("position").first(),
               text=f"{server.hostname}: Cloudpaging Server 10.0.0 installed")

    answer = client_for(engineer).post(reverse("server-remove", args=[server.pk]))

    assert answer.status_code == 302 and not Server.objects.filter(pk=server.pk).exists()
    report = client_for(support).get(reverse("run-report", args=[run.pk])).content.decode()
    assert f"{server.hostname}: Cloudpaging Server 10.0.0 installed" in report
    assert run.live_events.filter(text__startswith=server.hostname).exists()
    history = client_for(support).get(reverse("deployment-detail", args=[campus.pk])).content.decode()
    (removal,) = rows_with(history, f"Server {server.hostname} deleted")
    assert engineer.full_name in removal
    assert Events.objects.tracks(server).get(pgh_label="delete").pgh_data["address"] == "127.0.0.1"


# -- The API ----------------------------------------------------------------------------------


def test_the_api_removes_through_the_same_service_and_keeps_the_groups_numbered(client_for, engineer, campus):
    leaving = server_of(campus, 1, "admin_license")
    server_of(campus, 1).delete()
    later = positions(campus)[1]

    answer = client_for(engineer).delete(f"/api/v1/servers/{leaving.pk}/")

    assert answer.status_code == 204
    assert positions(campus) == [(1, later[1])]


def test_the_api_refuses_a_change_during_a_run_with_its_reason(client_for, engineer, campus):
    run_of(campus, RunState.RUNNING)
    server = server_of(campus, 2)
    api, url = client_for(engineer), f"/api/v1/servers/{server.pk}/"

    moved = api.patch(url, {"address": "10.0.8.22"}, content_type="application/json")
    removed = api.delete(url)
    renamed_user = api.patch(url, {"username": "svc-upgrade"}, content_type="application/json")

    assert moved.status_code == 409 and "the address of" in moved.json()["detail"]
    assert removed.status_code == 409 and "cannot be removed until the run has ended" in removed.json()["detail"]
    assert renamed_user.status_code == 200
    assert Server.objects.filter(pk=server.pk, address="127.0.0.1", username="svc-upgrade").exists()


def test_the_portal_knows_the_runs_under_way_as_the_upgrades_app_does():
    assert set(selectors.RUN_NOT_FINISHED) == set(RunState.values) - FINISHED_RUN_STATES
    assert set(selectors.RUN_UNDER_WAY) == set(RunState.values) - FINISHED_RUN_STATES - {RunState.SCHEDULED}
