"""The prerequisite check is announced once to each person, with its calendar entry, and each
copy reads the time on its reader's clock: the London engineer's in London, Contoso's people's
in New York. Read back from a real SMTP server."""

from datetime import datetime, timedelta, timezone

import pytest

from portal.models import Deployment, User
from scheduling.services.booking import check_book
from scheduling.services.windows import window_reschedule
from tests.conftest import deliver_outbox, mail_text
from tests.factories import UpgradeRequestFactory

START = datetime(2027, 3, 9, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York, 15:00 in London
MARCUS = "marcus.johnson@contoso.example"


@pytest.fixture(autouse=True)
def before_the_check(time_machine):
    time_machine.move_to(START - timedelta(days=10), tick=False)


@pytest.fixture
def contoso_in_review(contoso, support, release):
    return UpgradeRequestFactory(in_review=True, deployment=Deployment.objects.get(organisation=contoso),
                                 release=release, requested_by=User.objects.get(email="lead@contoso.example"),
                                 assignee=support)


def _to(inbox, address: str) -> list:
    return [message for message in inbox if message["To"] == address]


def test_each_person_gets_one_announcement_of_the_check_on_their_own_clock(inbox, support, engineer,
                                                                             contoso_in_review):
    check_book(upgrade=contoso_in_review, start=START, engineer_ids=[engineer.pk], by=support)

    deliver_outbox(inbox)
    (to_engineer,) = _to(inbox, engineer.email)
    assert "Tuesday 9 March 2027, 15:00 GMT" in mail_text(to_engineer) and "EST" not in mail_text(to_engineer)
    (to_marcus,) = _to(inbox, MARCUS)
    assert "Tuesday 9 March 2027, 10:00 EST" in mail_text(to_marcus)
    assert any(part.get_content_type() == "text/calendar" for part in to_marcus.walk())  # the calendar entry


def test_a_moved_check_is_announced_once_more_on_each_clock(inbox, support, engineer, contoso_in_review):
    check = check_book(upgrade=contoso_in_review, start=START, engineer_ids=[engineer.pk], by=support)
    deliver_outbox(inbox).clear()

    window_reschedule(window=check, start=START + timedelta(hours=1), engineer_ids=[engineer.pk],
                      cover=check.cover, by=support)

    deliver_outbox(inbox)
    (to_engineer,) = _to(inbox, engineer.email)
    assert "moved" in to_engineer["Subject"] and "Tuesday 9 March 2027, 16:00 GMT" in mail_text(to_engineer)
    (to_marcus,) = _to(inbox, MARCUS)
    assert "Tuesday 9 March 2027, 11:00 EST" in mail_text(to_marcus)
