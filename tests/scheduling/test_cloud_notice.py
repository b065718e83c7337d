"""S3's two weeks' notice: once a cloud window is confirmed, beat's sweep writes its notice to
the outbox, one row per contact, exactly once, however often or concurrently it runs; the
worker mails each contact once."""

import threading
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from portal.choices import NoticeState
from portal.models import Contact, Notice
from portal.notices import notice_deliver
from scheduling.services import cloud
from scheduling.services.windows import window_confirm
from scheduling.tasks import cloud_notices_sweep
from tests.conftest import wait_for

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _fabrikam_contacts() -> set[str]:
    return {email.lower() for email in Contact.objects.filter(organisation__slug="fabrikam").values_list("email", flat=True)}


def _cloud_notices():
    """The two weeks' notices (the confirmation's calendar invite is another notice)."""
    return Notice.objects.filter(key__contains=":cloud-notice:")


def _confirmed_window(*, support, release):
    (window,) = cloud.cloud_plan_release(release=release, by=support).planned
    return window_confirm(window=window, by=support)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_a_confirmed_cloud_window_gets_its_notice_once_per_contact(frozen, support, release):
    window = _confirmed_window(support=support, release=release)

    first, second = cloud.cloud_notices_enqueue(), cloud.cloud_notices_enqueue()

    notices = _cloud_notices().filter(key=cloud.notice_key(window))
    assert (first, second) == (len(_fabrikam_contacts()), 0)
    assert set(notices.values_list("recipient", flat=True)) == _fabrikam_contacts()
    notice = notices.first()
    # In the customer's zone, with S6's wording for a major upgrade behind a load balancer.
    start = window.start.astimezone(ZoneInfo("Australia/Sydney"))
    assert f"{start:%H:%M}" in notice.body and "Australia/Sydney" in notice.body
    assert "Service at risk / limited capability" in notice.body
    assert "Service downtime from about" in notice.body
    assert "10.0.0" in notice.subject


def test_each_contact_reads_the_times_on_their_own_clock_and_forwards_the_organisations(frozen, support, release):
    travelling = Contact.objects.filter(organisation__slug="fabrikam").order_by("pk").first()
    Contact.objects.filter(pk=travelling.pk).update(time_zone="America/New_York")
    window = _confirmed_window(support=support, release=release)

    cloud.cloud_notices_enqueue()

    notices = {notice.recipient: notice for notice in _cloud_notices().filter(key=cloud.notice_key(window))}
    assert set(notices) == _fabrikam_contacts()
    theirs = notices.pop(travelling.email.lower())
    new_york, sydney = (window.start.astimezone(ZoneInfo(zone)) for zone in ("America/New_York", "Australia/Sydney"))
    assert f"When: {new_york:%A %d %B %Y, %H:%M}" in theirs.body and "(America/New_York)." in theirs.body
    assert f"{new_york:%d %B %Y}" in theirs.subject
    assert "with the times in Australia/Sydney." in theirs.body
    assert f"{sydney:%H:%M}" in theirs.body.split("---")[1]  # the part to forward: the organisation's clock
    for notice in notices.values():
        assert f"When: {sydney:%A %d %B %Y, %H:%M}" in notice.body and "with the times in" not in notice.body


def test_a_proposed_window_gets_no_notice(frozen, support, release):
    cloud.cloud_plan_release(release=release, by=support)

    assert cloud.cloud_notices_enqueue() == 0
    assert not _cloud_notices().exists()


def test_a_window_moved_after_its_notice_gets_a_new_one(frozen, support, release):
    window = _confirmed_window(support=support, release=release)
    cloud.cloud_notices_enqueue()
    later = window.start.date() + timedelta(days=28)
    target = cloud.move_slots(window=window, week_of=later)[0]

    cloud.cloud_window_move(window=window, start=target.start, by=support)
    cloud.cloud_notices_enqueue()

    keys = set(_cloud_notices().values_list("key", flat=True))
    assert keys == {f"{cloud.notice_key_prefix(window)}{window.start.isoformat()}",
                    f"{cloud.notice_key_prefix(window)}{target.start.isoformat()}"}
    assert _cloud_notices().count() == 2 * len(_fabrikam_contacts())


def test_the_plan_page_shows_the_notice_state(frozen, client_for, support, release):
    _confirmed_window(support=support, release=release)
    cloud.cloud_notices_enqueue()

    page = client_for(support).get(f"/releases/{release.version}/cloud-plan/").content.decode()

    assert f"{len(_fabrikam_contacts())} pending" in page  # the two weeks' notice, not yet sent


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_write_one_notice_per_contact(world, support, release):
    with time_machine.travel(NOW, tick=True):
        _confirmed_window(support=support, release=release)
        barrier = threading.Barrier(2)
        errors = []

        def sweep():
            try:
                barrier.wait()
                cloud.cloud_notices_enqueue()
            except Exception as error:  # noqa: BLE001 - the test reads it
                errors.append(error)
            finally:
                connection.close()  # each thread had a connection of its own

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert errors == []
    assert sorted(_cloud_notices().values_list("recipient", flat=True)) == sorted(_fabrikam_contacts())


def test_each_contact_gets_exactly_one_mail(worker, world, inbox, support, release):
    with time_machine.travel(NOW, tick=True):
        window = _confirmed_window(support=support, release=release)

        cloud_notices_sweep.delay()  # through the worker, as beat runs it
        contacts = _fabrikam_contacts()
        wait_for(lambda: _cloud_notices().filter(state=NoticeState.SENT).count() == len(contacts), timeout=30)
        cloud_notices_sweep()  # beat fires again
        for notice in _cloud_notices():  # a delivery message that arrives twice
            assert notice_deliver(notice_id=notice.pk) == NoticeState.SENT

    assert _cloud_notices().count() == len(contacts)
    notices = [message for message in inbox if "cloud service" in message["Subject"]]
    assert sorted(message["To"].lower() for message in notices) == sorted(contacts)
    mail = BytesParser(policy=policy.default).parsebytes(notices[0].as_bytes())
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "forward to your own service users" in text and "Service downtime from about" in text
    invite = next(part for part in mail.iter_attachments() if part.get_content_type() == "text/calendar")
    assert "METHOD:REQUEST" in invite.get_content() and str(window.uid) in invite.get_content()
