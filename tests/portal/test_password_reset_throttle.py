"""Password-reset mails are throttled: one per address in 15 minutes, however often it is asked
for (and the page says the same either way), and a client asking for many is refused."""

from datetime import timedelta

import time_machine
from django.urls import reverse
from django.utils import timezone


def _ask(client, email, **extra):
    return client.post(reverse("password_reset"), {"email": email}, **extra)


def test_three_requests_for_one_address_send_one_mail(client, customer, inbox):
    answers = [_ask(client, customer.email) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [302, 302, 302]  # the same answer each time
    assert len(inbox) == 1


def test_the_address_may_ask_again_after_a_quarter_of_an_hour(client, customer, inbox):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _ask(client, customer.email)
        traveller.shift(timedelta(minutes=16))
        _ask(client, customer.email)

    assert len(inbox) == 2


def test_a_client_asking_for_many_addresses_is_refused_with_a_reason(client, world, inbox, settings):
    settings.PASSWORD_RESET_CLIENT_RATE = (3, 3600)
    for number in range(3):
        assert _ask(client, f"someone{number}@nowhere.example").status_code == 302

    refused = _ask(client, "lead@northwind.example")

    assert refused.status_code == 429
    assert "Too many reset requests from your address" in refused.content.decode()
    assert inbox == []
    # Another client is not held back by this one.
    assert _ask(client, "lead@northwind.example", REMOTE_ADDR="192.0.2.7").status_code == 302
    assert len(inbox) == 1
