"""The line of communication on an upgrade (issue: "an engineer will keep you informed"): both
sides write on the request and on the run; a message on a run reaches its watchers as a live
event; an internal note is the vendor's alone, wherever messages are shown; the report keeps the
conversation; bad input is refused with a message and saves nothing."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.upgrades.runs import open_run
from upgrades.choices import RunState
from upgrades.models import LiveEvent, Message, Run
from upgrades.services.conversation import message_post

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
