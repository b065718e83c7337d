"""The line of communication on an upgrade (issue: "an engineer will keep you informed"): both
sides write on the request and on the run; a message on a run reaches its watchers as a live
event; an internal note is the vendor's alone, wherever messages are shown; the report keeps the
conversation; bad input is refused with a message and saves nothing."""

import smtplib
import socket
from datetime import UTC, datetime
from zoneinfo import ZoneInfo
from email.message import EmailMessage

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.urls import reverse
from django.utils import timezone

from portal.mailsink import KeepAndForwardReplies
from tests.conftest import deliver_outbox, mail_text, wait_for
from tests.upgrades.runs import open_run
from upgrades.choices import RunState
from upgrades.models import LiveEvent, Message, Run
from upgrades.services.conversation import message_post, reply_address

HTMX = {"HX-Request": "true"}


@pytest.fixture
def run(northwind_deployment, release, customer):
    run = open_run(deployment=northwind_deployment, release=release, by=customer, plan_event=False)
    Run.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=timezone.now())
    run.refresh_from_db()
    return run


def post(client, run, *, on_run=True, **data):
    if on_run:
        data["run"] = run.pk
    return client.post(reverse("conversation-post", args=[run.request_id]), data, headers=HTMX)


def page(client, name, pk) -> str:
    return client.get(reverse(name, args=[pk])).content.decode()


def test_the_customer_writes_on_the_request_and_the_desk_reads_it(client_for, run, customer, support):
    answer = post(client_for(customer), run, on_run=False, body="Can we keep the old admin console open?")

    assert answer.status_code == 200
    assert "Can we keep the old admin console open?" in answer.content.decode()  # appended to the list
    [message] = Message.objects.filter(upgrade=run.request)
    assert (message.author, message.run, message.internal, message.from_vendor) == (customer, None, False, False)
    assert "Can we keep the old admin console open?" in page(client_for(support), "request-detail", run.request_id)
    assert not LiveEvent.objects.filter(run=run, kind="message").exists()  # not on the run: no live event


def test_a_message_on_the_run_reaches_its_watchers_as_a_live_event(client_for, run, engineer, customer):
    answer = post(client_for(engineer), run, note="Going to plan so far.")

    assert answer.status_code == 200
    event = LiveEvent.objects.get(run=run, kind="message")
    assert event.text == "Going to plan so far." and event.actor == engineer
    polled = client_for(customer).get(reverse("run-events-poll", args=[run.pk]), {"after": event.seq - 1}).json()
    [shown] = [message for message in polled["events"] if message["kind"] == "message"]
    assert 'hx-swap-oob="beforeend:#conversation-messages"' in shown["html"]
    assert "Going to plan so far." in shown["html"] and "Erin Walsh" in shown["html"]


def test_the_engineer_posts_a_progress_note_with_one_click(client_for, run, engineer, customer):
    live = page(client_for(engineer), "run-live", run.pk)
    first = run.steps.order_by("position").first()

    assert f'name="note" value="Starting: {first.action}"' in live
    assert 'name="note"' not in page(client_for(customer), "run-live", run.pk)  # the customer writes their own


def test_an_internal_note_is_never_shown_to_the_customer(client_for, run, engineer, support, customer):
    post(client_for(engineer), run, body="LB admin slow to answer, chase at 10:30", internal="yes")

    assert Message.objects.get().internal
    assert not LiveEvent.objects.filter(run=run, kind="message").exists()
    for name, pk in (("request-detail", run.request_id), ("run-live", run.pk), ("run-report", run.pk)):
        assert "LB admin slow to answer" not in page(client_for(customer), name, pk), name
        assert "LB admin slow to answer" in page(client_for(support), name, pk), name


def test_a_customer_cannot_write_an_internal_note(client_for, run, customer):
    answer = post(client_for(customer), run, body="Psst", internal="yes")

    assert answer.status_code == 403
    assert not Message.objects.exists()


@pytest.mark.parametrize("body, said", [
    ("   ", "Write the message first."),
    ("x" * 4001, "A message holds up to 4000 characters; this one has 4001."),
])
def test_bad_input_is_refused_on_the_form_and_keeps_what_was_typed(client_for, run, customer, body, said):
    answer = post(client_for(customer), run, body=body)

    assert answer.status_code == 400
    text = answer.content.decode()
    assert said in text and 'role="alert"' in text
    assert body.strip()[:50] in text
    assert not Message.objects.exists()


def test_a_message_is_plain_text(client_for, run, customer, engineer):
    post(client_for(customer), run, on_run=False, body="<script>alert(1)</script>\x07 done\nnext line")

    shown = page(client_for(engineer), "request-detail", run.request_id)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; done<br>next line" in shown
    assert "<script>alert(1)" not in shown
    assert "\x07" not in Message.objects.get().body


def test_an_outsider_can_neither_read_nor_write(client_for, run, customer, outsider):
    message_post(upgrade=run.request, by=customer, body="Only for us")

    assert post(client_for(outsider), run, body="Hello").status_code == 404
    assert Message.objects.count() == 1


def test_the_report_keeps_the_conversation(client_for, run, engineer, customer):
    message_post(upgrade=run.request, by=customer, body="Please start with group 2 if you can")
    message_post(upgrade=run.request, run=run, by=engineer, body="Starting group 2 now")

    report = page(client_for(customer), "run-report", run.pk)

    conversation = report[report.index(">Conversation</h2>"):]
    assert conversation.index("Please start with group 2") < conversation.index("Starting group 2 now")
    assert "Olivia Bennett" in conversation and "Erin Walsh" in conversation


# -- Replies by e-mail, through a real SMTP server on loopback --------------------------------

SECRET = "inbound-secret-for-tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def reply_sink(settings, live_server, tmp_path):
    """`make run`'s mail sink, forwarding replies to the live server's inbound endpoint."""
    settings.INBOUND_MAIL_SECRET = SECRET
    settings.REPLY_MAIL_DOMAIN = "replies.vendor.example"
    forwarding = KeepAndForwardReplies(tmp_path / "mail", reply_domain="replies.vendor.example",
                                       inbound_url=live_server.url + reverse("mail-inbound"), secret=SECRET)
    controller = Controller(forwarding, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


def reply(sink, *, sender: str, to: str, text: str) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, "Re: Your upgrade to 10.0.0"
    mail.set_content(text)
    with smtplib.SMTP(sink.hostname, sink.port) as client:
        client.send_message(mail)


def test_a_reply_by_mail_joins_the_conversation_without_its_quoted_mail(
        transactional_db, reply_sink, run, customer, client_for):
    address = reply_address(run.request)
    contact_address = customer.contact.email  # the lead's contact address, not her log-in
    reply(reply_sink, sender=f"Olivia Bennett <{contact_address}>", to=address,
          text="Fine by us, go ahead at 10:00.\n\nOn Tue, 1 Dec 2026, Erin Walsh wrote:\n> Shall we start?\n")

    message = wait_for(lambda: Message.objects.filter(upgrade=run.request).first(), timeout=10)
    assert (message.author, message.via, message.body) == (customer, "mail", "Fine by us, go ahead at 10:00.")
    assert message.run == run  # the run under way: its watchers see it live
    assert LiveEvent.objects.filter(run=run, kind="message", text="Fine by us, go ahead at 10:00.").exists()
    assert "by e-mail" in page(client_for(customer), "run-live", run.pk)


def test_a_reply_from_a_stranger_or_to_a_made_up_address_is_refused(transactional_db, reply_sink, run, customer):
    with pytest.raises(smtplib.SMTPDataError, match="not someone of this upgrade"):
        reply(reply_sink, sender="someone@elsewhere.example", to=reply_address(run.request), text="Hello")
    made_up = reply_address(run.request).replace(f"reply+{run.request_id}.", f"reply+{run.request_id + 1}.")
    with pytest.raises(smtplib.SMTPDataError, match="not the reply address of any upgrade"):
        reply(reply_sink, sender=customer.email, to=made_up, text="Hello")
    assert not Message.objects.exists()


def test_the_inbound_endpoint_wants_its_secret(client, settings, run, customer):
    settings.INBOUND_MAIL_SECRET = SECRET
    mail = EmailMessage()
    mail["From"], mail["To"] = customer.email, reply_address(run.request)
    mail.set_content("Hello")

    answer = client.post(reverse("mail-inbound"), mail.as_bytes(), content_type="message/rfc822",
                         headers={"Authorization": "Bearer wrong"})

    assert answer.status_code == 403
    assert not Message.objects.exists()


# -- The other side is told, once per person, and answers by replying -------------------------


def test_the_customer_is_told_of_the_engineers_message_once_in_their_zone_and_answers_by_replying(
        transactional_db, inbox, reply_sink, run, engineer, customer):
    with time_machine.travel(datetime(2026, 7, 1, 9, 5, tzinfo=UTC), tick=False):  # 10:05 in London (BST)
        message_post(upgrade=run.request, run=run, by=engineer, body="Group 1 is upgraded; starting group 2.")
    received = deliver_outbox(inbox)

    [mail] = received  # Olivia Bennett asked for the upgrade and leads: one mail, at her contact address
    assert mail["To"] == customer.contact.email and customer.contact.email != customer.email
    assert mail["Reply-To"] == reply_address(run.request)
    zone = ZoneInfo(customer.contact.time_zone)
    assert f"Erin Walsh wrote at {datetime(2026, 7, 1, 9, 5, tzinfo=UTC).astimezone(zone):%H:%M}" in mail_text(mail)
    assert "starting group 2" in mail_text(mail)

    reply(reply_sink, sender=customer.contact.email, to=mail["Reply-To"],
          text=f"Thanks, carry on.\n\nOn 1 Jul 2026, Erin Walsh wrote:\n> {mail_text(mail)}")
    answer = wait_for(lambda: Message.objects.filter(author=customer).first(), timeout=10)
    assert answer.body == "Thanks, carry on." and answer.run == run


def test_the_engineer_is_told_of_the_customers_message_and_nobody_of_an_internal_note(
        inbox, run, engineer, customer, support):
    message_post(upgrade=run.request, by=support, body="Chase the LB admin", internal=True)
    message_post(upgrade=run.request, by=customer, body="Is it going well?")

    received = deliver_outbox(inbox)

    assert {mail["To"] for mail in received} == {engineer.email}  # the window's engineer; the writer never
    assert "Is it going well?" in mail_text(received[0])


def test_an_engineer_who_switched_off_messages_is_not_mailed_them(client_for, inbox, run, engineer, customer):
    assert client_for(engineer).post(reverse("account-notices"), {"message": "none"}).status_code == 302

    message_post(upgrade=run.request, by=customer, body="Is it going well?")

    assert deliver_outbox(inbox) == []
    assert Message.objects.filter(body="Is it going well?").exists()  # written all the same, on the page
