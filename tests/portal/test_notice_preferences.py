"""Each person chooses which notices that follow a run they get (/account/notices/), within what
their role must receive: what is mandatory is shown switched on, with why, and a forged request
to switch it off changes nothing and says so."""

import re

import pytest
from django.urls import reverse

from portal.choices import NoticeKind
from portal.models import NoticePreference

URL = reverse("account-notices")


def _page(client) -> str:
    return client.get(URL).content.decode()


def test_the_lead_sees_what_is_always_sent_to_them_and_why(client_for, customer):
    page = _page(client_for(customer))

    assert "A step failed and the run is paused" in page
    assert 'name="run_paused" value="none" disabled' in page
    assert "Always sent to you: The lead contact is available for the whole window" in page
    assert "Always sent to you: Only the lead contact can authorise or refuse a rollback" in page
    assert 'name="run_started" value="none" disabled' not in page
    assert not re.search(r"\(S\d+\)", page)  # the vendor's rule codes are for staff; a customer reads the sentence


def test_a_person_switches_a_notice_off_and_on_again(client_for, colleague):
    client = client_for(colleague)

    response = client.post(URL, {"run_started": "none", "message": "email"})
    assert response.status_code == 302
    assert NoticePreference.objects.get(user=colleague, kind=NoticeKind.RUN_STARTED).wanted is False
    page = client.get(URL, follow=True).content.decode()
    assert 'name="run_started" value="none" checked' in page

    client.post(URL, {"run_started": "email"})
    assert NoticePreference.objects.get(user=colleague, kind=NoticeKind.RUN_STARTED).wanted is True


def test_a_forged_request_cannot_switch_off_what_the_lead_must_receive(client_for, customer):
    response = client_for(customer).post(URL, {"run_started": "none", "run_paused": "none"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "“A step failed and the run is paused” cannot be switched off: The lead contact is available" in page
    assert not NoticePreference.objects.filter(user=customer).exists()  # not even the choice that was allowed


def test_support_cannot_switch_off_the_escalation(client_for, support):
    response = client_for(support).post(URL, {"failure_escalated": "none"})

    assert response.status_code == 400
    assert "cannot be switched off: A failure nobody has taken is the support desk" in response.content.decode()
    assert not NoticePreference.objects.filter(user=support).exists()


@pytest.mark.parametrize("choice", [{"run_started": "sms"}, {"failure_escalated": "none"}])
def test_bad_choices_are_refused_with_a_message(client_for, customer, choice):
    """A value that is not a choice, or a notice the lead's role is never sent."""
    response = client_for(customer).post(URL, choice)

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not NoticePreference.objects.filter(user=customer).exists()


def test_the_page_answers_only_get_and_post(client_for, customer):
    assert client_for(customer).put(URL).status_code == 405


def test_an_administrator_is_sent_none_of_them(client_for, admin_user):
    assert "None of the notices that follow a run are sent to your role." in _page(client_for(admin_user))


def test_the_account_menu_links_to_the_page(client_for, engineer):
    assert f'href="{URL}"' in client_for(engineer).get(reverse("account-security")).content.decode()
