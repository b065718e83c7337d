"""Each role starts where its work is: the customer's "My upgrades" offers what each deployment
can be upgraded to and says what each open request waits for; support's "Waiting for me" holds
everything waiting for the desk; the engineer lands on "My windows"; the menu counts what waits."""

import re
import socket
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.choices import NoticeState
from portal.models import Notice
from portal.notices import notice_deliver
from scheduling.choices import Cover
from scheduling.services.booking import window_book
from scheduling.services.links import link_issue
from tests.factories import DeploymentFactory, RunFactory, UpgradeRequestFactory
from tests.scheduling.stories import approve
from upgrades.choices import RequestState, RunState, StepState
from upgrades.models import UpgradeRequest
from upgrades.services import requests

pytestmark = pytest.mark.django_db


def _early_tomorrow_week():
    """07:00 UTC a week ahead: before Northwind's support hours, so out of hours (S7)."""
    return (timezone.now() + timedelta(days=7)).replace(hour=7, minute=0, second=0, microsecond=0)


def nav_count(page: str, label: str) -> str | None:
    """The count the menu shows beside `label`, if any."""
    found = re.search(rf">{re.escape(label)}\s*<span class=\"nav-count\"[^>]*>(\d+)</span>", page)
    return found and found.group(1)


# The customer ------------------------------------------------------------------------------


def test_the_customer_home_offers_the_newest_release_with_a_button_to_request_it(client_for, customer,
                                                                                  northwind_deployment, release):
    page = client_for(customer).get(reverse("home"), follow=True).content.decode()

    assert "Production" in page and "10.0.0 is available" in page
    action = reverse("request-create", args=[northwind_deployment.pk])
    assert f'action="{action}"' in page and f'name="release" value="{release.pk}"' in page
    assert "Request the upgrade to 10.0.0" in page


def test_the_request_button_opens_the_new_request(client_for, customer, northwind_deployment, release):
    response = client_for(customer).post(reverse("request-create", args=[northwind_deployment.pk]),
                                         {"release": release.pk})

    upgrade = UpgradeRequest.objects.get(deployment=northwind_deployment)
    assert response.status_code == 302 and response["Location"] == reverse("request-detail", args=[upgrade.pk])


def test_an_open_request_replaces_the_offer_and_says_what_it_waits_for(client_for, customer, support,
                                                                       northwind_deployment, release):
    draft = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    home = client_for(customer)

    page = home.get(reverse("request-list")).content.decode()
    assert "Request the upgrade to 10.0.0" not in page
    assert "Waiting for you" in page and "fill in the checklist" in page
    assert nav_count(page, "My upgrades") == "1"

    requests.request_withdraw(upgrade=draft, by=customer, reason="")
    upgrade = approve(northwind_deployment, by=customer, release=release)
    assert "Waiting for support" in (page := home.get(reverse("request-list")).content.decode())
    assert "to send your scheduling link" in page and nav_count(page, "My upgrades") is None

    link_issue(upgrade=upgrade, by=support)
    page = home.get(reverse("request-list")).content.decode()
    assert "Book the maintenance window" in page and nav_count(page, "My upgrades") == "1"

    window = window_book(upgrade=upgrade, start=_early_tomorrow_week(), engineer_ids=[_engineer().pk],
                         cover=Cover.OUT_OF_HOURS, by=customer)
    page = home.get(reverse("request-list")).content.decode()
    assert "to confirm your out-of-hours window" in page and nav_count(page, "My upgrades") is None
    assert reverse("window-detail", args=[window.pk]) in page


def test_the_customer_home_names_the_next_window_and_the_last_report(client_for, customer, northwind_deployment,
                                                                     release):
    run = RunFactory(window__request__deployment=northwind_deployment, window__request__release=release,
                     window__request__requested_by=customer,
                     window__start=timezone.now() + timedelta(days=3))
    page = client_for(customer).get(reverse("request-list")).content.decode()
    assert "Next window" in page and reverse("window-detail", args=[run.window_id]) in page

    finished = timezone.now() - timedelta(days=40)
    type(run).objects.filter(pk=run.pk).update(state=RunState.COMPLETED, finished_at=finished)
    UpgradeRequest.objects.filter(pk=run.request_id).update(state=RequestState.COMPLETED)
    page = client_for(customer).get(reverse("request-list")).content.decode()
    assert "Last report" in page and reverse("run-report", args=[run.pk]) in page


def test_a_cloud_customer_is_offered_no_request_button(client_for, fabrikam_lead):
    page = client_for(fabrikam_lead).get(reverse("request-list")).content.decode()

    assert "Request the upgrade" not in page
    assert "we plan it" in page


def test_the_release_page_offers_the_customer_to_request_it(client_for, customer, northwind_deployment, release):
    page = client_for(customer).get(reverse("release-detail", args=["10.0.0"])).content.decode()

    assert f'action="{reverse("request-create", args=[northwind_deployment.pk])}"' in page
    assert "Request the upgrade to 10.0.0" in page
    older = client_for(customer).get(reverse("release-detail", args=["9.4.2"])).content.decode()
    assert "Request the upgrade" not in older  # Production already runs it


# Support's inbox --------------------------------------------------------------------------


def _engineer():
    from portal.models import User

    return User.objects.get(email="engineer@vendor.example")


def test_an_out_of_hours_window_waits_in_the_inbox_with_a_count_in_the_menu(client_for, customer, support,
                                                                            northwind_deployment, release):
    upgrade = approve(northwind_deployment, by=customer, release=release)
    link_issue(upgrade=upgrade, by=support)
    window = window_book(upgrade=upgrade, start=_early_tomorrow_week(), engineer_ids=[_engineer().pk],
                         cover=Cover.OUT_OF_HOURS, by=customer)

    page = client_for(support).get(reverse("home"), follow=True).content.decode()

    assert "Out-of-hours windows to confirm" in page
    assert reverse("window-detail", args=[window.pk]) in page
    assert nav_count(page, "Waiting for me") == "1"


def test_the_inbox_holds_checks_to_run_approvals_and_links_to_issue(client_for, customer, support, northwind,
                                                                    release):
    from tests.scheduling.stories import more_deployments

    first, second, third = more_deployments(northwind, 3)
    UpgradeRequestFactory(deployment=first, release=release, requested_by=customer, assignee=support,
                          state=RequestState.CHECK_SCHEDULED, check_at=timezone.now() - timedelta(hours=1))
    UpgradeRequestFactory(deployment=second, release=release, requested_by=customer, assignee=support,
                          state=RequestState.CHECK_SCHEDULED, check_at=timezone.now() - timedelta(days=1),
                          check_outcome="passed")
    approve(third, by=customer, release=release)

    page = client_for(support).get(reverse("waiting-for-me")).content.decode()

    for heading in ("Checks to run", "To approve", "Scheduling links to send"):
        section = page.split(f">{heading}", 1)[1].split("</section>", 1)[0]
        assert "Northwind University" in section, heading
    assert nav_count(page, "Waiting for me") == "3"


def test_a_failed_notice_and_a_failure_nobody_took_wait_in_the_inbox(client_for, settings, customer, support,
                                                                     northwind_deployment, release):
    # A notice the mail server would not take: support's "submitted" mail, through a closed port.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed, 2
    draft = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    requests.request_submit(upgrade=draft, by=customer)
    notice = Notice.objects.filter(topic=f"upgrades.upgraderequest:{draft.pk}").first()
    assert notice_deliver(notice_id=notice.pk) == NoticeState.FAILED

    run = RunFactory(state=RunState.PAUSED, window__request__deployment=DeploymentFactory(server_groups=2))
    run.steps.filter(position=run.steps.order_by("position").first().position).update(
        state=StepState.FAILED, error="Service did not start")

    page = client_for(support).get(reverse("waiting-for-me")).content.decode()

    notices = page.split(">Notices that failed", 1)[1].split("</section>", 1)[0]
    assert notice.recipient in notices and reverse("request-detail", args=[draft.pk]) in notices
    failures = page.split(">Failures nobody has taken", 1)[1].split("</section>", 1)[0]
    assert reverse("run-live", args=[run.pk]) in failures


def test_the_inbox_is_the_desks_alone(client_for, engineer, customer):
    assert client_for(engineer).get(reverse("waiting-for-me")).status_code == 404
    assert client_for(customer).get(reverse("waiting-for-me")).status_code == 404
    assert client_for(customer).post(reverse("waiting-for-me")).status_code == 405


# The engineer ------------------------------------------------------------------------------


def test_the_engineer_lands_on_my_windows_counted_in_the_menu(client_for, engineer, customer, northwind_deployment,
                                                              release):
    RunFactory(window__request__deployment=northwind_deployment, window__request__release=release,
               window__request__requested_by=customer, window__engineer=engineer,
               window__start=timezone.now() + timedelta(days=2))

    response = client_for(engineer).get(reverse("home"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("my-windows")
    assert nav_count(response.content.decode(), "My windows") == "1"


# The counts stay cheap ---------------------------------------------------------------------


def test_the_menu_counts_take_one_query_each_however_much_waits(django_assert_max_num_queries, support, engineer,
                                                                customer, northwind, release):
    from tests.scheduling.stories import more_deployments

    from upgrades.selectors_homes import navigation_counts

    for deployment in more_deployments(northwind, 4):
        approve(deployment, by=customer, release=release)
    with django_assert_max_num_queries(4):
        counts = navigation_counts(user=support)
    assert counts["waiting-for-me"] == 4
    with django_assert_max_num_queries(1):
        assert navigation_counts(user=engineer) == {"my-windows": 0}
    assert customer.contact.organisation.name  # every page's header reads it anyway
    with django_assert_max_num_queries(1):
        assert navigation_counts(user=customer) == {"request-list": 0}  # approved, the link not sent yet
