"""The outbox: a notice leaves over SMTP once, through a real Celery worker, and a failing SMTP
server leads to retries, a visible failed state, and no loss or duplicate once it recovers."""

import socket
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from portal import notices
from portal.choices import NoticeState
from portal.models import Notice
from tests.conftest import wait_for


def _enqueue(key="test:1", recipients=("ops@northwind.example",)):
    with transaction.atomic():
        return notices.notice_enqueue(
            key=key, topic="tests:1", recipients=list(recipients), subject="Window confirmed", body="See you then."
        )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


def test_a_notice_is_delivered_by_the_worker_exactly_once(worker, inbox):
    _enqueue()

    wait_for(lambda: len(inbox) == 1)
    notice = Notice.objects.get()
    wait_for(lambda: Notice.objects.get().state == NoticeState.SENT)
    assert inbox[0]["Subject"] == "Window confirmed" and inbox[0]["To"] == "ops@northwind.example"
    assert notices.notice_deliver(notice_id=notice.pk) == NoticeState.SENT  # a duplicated task message
    assert len(inbox) == 1


def test_the_same_cause_never_mails_the_same_person_twice(db):
    _enqueue(recipients=["a@northwind.example", "A@northwind.example"])
    _enqueue(recipients=["a@northwind.example", "b@northwind.example"])

    assert sorted(Notice.objects.values_list("recipient", flat=True)) == ["a@northwind.example", "b@northwind.example"]


def test_a_rolled_back_change_mails_nobody(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                notices.notice_enqueue(key="k", topic="t", recipients=["x@northwind.example"], subject="s", body="b")
                raise RuntimeError("the change failed")

    assert callbacks == [] and not Notice.objects.exists()


def test_a_failing_smtp_server_is_retried_and_recovers_without_duplicates(db, settings, inbox):
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = _closed_port()
    (notice,) = _enqueue()

    assert notices.notice_deliver(notice_id=notice.pk) == NoticeState.FAILED
    notice.refresh_from_db()
    assert notice.state == NoticeState.FAILED and notice.attempts == 1
    assert "ConnectionRefusedError" in notice.last_error
    assert notice.next_attempt_at > timezone.now()

    # Not due yet: a second task message or sweep does nothing.
    assert notices.notices_due() == []
    assert notices.notice_deliver(notice_id=notice.pk) == NoticeState.FAILED
    notice.refresh_from_db()
    assert notice.attempts == 1

    settings.EMAIL_PORT = working_port
    Notice.objects.filter(pk=notice.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert notices.notices_due() == [notice.pk]
    assert notices.notice_deliver(notice_id=notice.pk) == NoticeState.SENT
    assert notices.notice_deliver(notice_id=notice.pk) == NoticeState.SENT
    assert len(inbox) == 1
    notice.refresh_from_db()
    assert (notice.attempts, notice.last_error) == (2, "")


def test_a_notice_claimed_by_a_worker_that_died_is_picked_up_again(db, inbox):
    (notice,) = _enqueue()
    stale = timezone.now() - notices.CLAIM_EXPIRES - timedelta(seconds=1)
    Notice.objects.filter(pk=notice.pk).update(state=NoticeState.SENDING, claimed_at=stale, attempts=1)

    assert notices.notices_due() == [notice.pk]
    assert notices.notice_deliver(notice_id=notice.pk) == NoticeState.SENT
    assert len(inbox) == 1


def test_a_notice_being_sent_is_not_sent_again_by_a_second_worker(db, inbox):
    (notice,) = _enqueue()
    Notice.objects.filter(pk=notice.pk).update(state=NoticeState.SENDING, claimed_at=timezone.now(), attempts=1)

    assert notices.notice_deliver(notice_id=notice.pk) == NoticeState.SENDING
    assert inbox == []
