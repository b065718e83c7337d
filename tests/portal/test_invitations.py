"""A person gets an account by choosing their own password from an invitation: support or the
organisation's lead invites a contact, an administrator invites staff; the link works once and
for INVITATION_DAYS."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from portal.invitations import invitation_link
from portal.models import Contact, SecurityEvent
from playwright.sync_api import expect

from tests.conftest import log_in, save_screenshot, wait_for

User = get_user_model()
PASSWORD = "a-long-passphrase-of-mine"


@pytest.fixture
def newcomer(northwind):
    """A Northwind contact without an account."""
    return Contact.objects.get(organisation=northwind, email="priya.shah@northwind.example")


def _link(inbox) -> str:
    (message,) = inbox
    return "/" + re.search(r"https?://\S+/accounts/invitation/\S+/", message.get_payload()).group(0).split("/", 3)[3]


def _accept(client, link, password=PASSWORD):
    return client.post(link, {"new_password1": password, "new_password2": password})


def test_the_lead_invites_a_colleague_who_chooses_their_password_and_is_in(
        worker, client_for, client, customer, newcomer, inbox):
    answer = client_for(customer).post(reverse("contact-invite", args=[newcomer.pk]))
    assert answer.status_code == 302
    account = User.objects.get(contact=newcomer)
    assert not account.is_active and not account.has_usable_password()
    page = client_for(customer).get(reverse("organisation-detail", args=["northwind"])).content.decode()
    assert "invited" in page

    wait_for(lambda: len(inbox) == 1, timeout=20)
    link = _link(inbox)
    assert inbox[0]["To"] == newcomer.email and "Olivia Bennett invites you" in inbox[0].get_payload()
    assert b"Welcome, Priya Shah" in client.get(link).content

    opened = _accept(client, link)

    assert opened.status_code == 302
    account.refresh_from_db()
    assert account.is_active and account.check_password(PASSWORD)
    assert client.get(reverse("organisation-detail", args=["northwind"])).status_code == 200  # signed in
    again = _accept(client_for(customer), link, "another-long-passphrase")
    assert again.status_code == 410 and "has been used" in again.content.decode()
    assert list(SecurityEvent.objects.filter(user=account).values_list("kind", flat=True).order_by("pk"))[:2] == [
        "invitation_sent", "invitation_accepted"]


def test_an_invitation_expires(client_for, client, support, newcomer, inbox, settings):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client_for(support).post(reverse("contact-invite", args=[newcomer.pk]))
        link = "/" + invitation_link(User.objects.get(contact=newcomer)).split("/", 3)[3]
        traveller.shift(timedelta(days=settings.INVITATION_DAYS, minutes=1))

        answer = client.get(link)

    assert answer.status_code == 410 and "expired" in answer.content.decode()


def test_a_new_invitation_ends_the_earlier_link(client_for, client, support, newcomer):
    client_for(support).post(reverse("contact-invite", args=[newcomer.pk]))
    first = "/" + invitation_link(User.objects.get(contact=newcomer)).split("/", 3)[3]
    client_for(support).post(reverse("contact-invite", args=[newcomer.pk]))

    assert client.get(first).status_code == 410


def test_a_weak_password_is_refused_and_the_account_stays_closed(client_for, client, support, newcomer):
    client_for(support).post(reverse("contact-invite", args=[newcomer.pk]))
    link = "/" + invitation_link(User.objects.get(contact=newcomer)).split("/", 3)[3]

    answer = _accept(client, link, "123")

    assert answer.status_code == 400
    assert not User.objects.get(contact=newcomer).is_active


def test_only_support_and_the_lead_invite(client_for, colleague, outsider, newcomer):
    assert client_for(colleague).post(reverse("contact-invite", args=[newcomer.pk])).status_code == 403
    assert client_for(outsider).post(reverse("contact-invite", args=[newcomer.pk])).status_code == 404
    assert not User.objects.filter(contact=newcomer).exists()


def test_someone_with_an_account_is_not_invited_again(client_for, support, customer):
    answer = client_for(support).post(reverse("contact-invite", args=[customer.contact_id]), follow=True)

    assert "has an account already" in answer.content.decode()
    customer.refresh_from_db()
    assert customer.is_active and customer.has_usable_password()


def test_an_administrator_adds_staff_by_invitation_without_typing_a_password(client_for, admin_user):
    answer = client_for(admin_user).post(reverse("admin:portal_user_add"), {
        "email": "new.engineer@vendor.example", "full_name": "Sam Lee", "role": "engineer",
        "time_zone": "Europe/London"})

    assert answer.status_code == 302, answer.content.decode()[-2000:]
    staff = User.objects.get(email="new.engineer@vendor.example")
    assert not staff.is_active and not staff.has_usable_password()
    assert SecurityEvent.objects.filter(kind="invitation_sent", user=staff, actor=admin_user).exists()


@pytest.mark.browser
def test_support_invites_a_contact_who_opens_their_account_in_the_browser(page, worker, inbox, newcomer, settings,
                                                                         live_server):
    settings.SITE_URL = live_server.url
    log_in(page, "support@vendor.example")
    page.goto(reverse("organisation-detail", args=["northwind"]))
    row = page.get_by_role("row").filter(has_text="priya.shah@northwind.example")
    row.get_by_role("button", name="Invite", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Priya Shah is invited")
    expect(page.get_by_role("row").filter(has_text="priya.shah@northwind.example")).to_contain_text("invited")
    save_screenshot(page, "invitation-organisation")
    page.get_by_role("button", name="Log out").click()

    wait_for(lambda: len(inbox) == 1, timeout=20)
    page.goto(_link(inbox))
    expect(page.get_by_text("Welcome, Priya Shah")).to_be_visible()
    page.locator("input[name=new_password1]").fill(PASSWORD)
    page.locator("input[name=new_password2]").fill(PASSWORD)
    save_screenshot(page, "invitation-accept")
    page.get_by_role("button", name="Open my account").click()

    expect(page.get_by_role("banner")).to_contain_text("Priya Shah")
    expect(page.get_by_role("status")).to_contain_text("your account is open")
