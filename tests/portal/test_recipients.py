"""One person, one mail: a contact who logs in with another address than their contact's (the
demo's Marcus Johnson, Contoso's lead, logs in as lead@contoso.example) is mailed once, at the
contact's address. Read back from a real SMTP server."""

from datetime import datetime, timedelta, timezone

import pytest

from portal.models import Deployment, User
from scheduling.choices import Cover
from scheduling.services.booking import window_book
from tests.conftest import deliver_outbox
from tests.factories import UpgradeRequestFactory
from upgrades.services.requests import request_refuse

START = datetime(2027, 3, 9, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York
MARCUS = "marcus.johnson@contoso.example"


@pytest.fixture(autouse=True)
def before_the_window(time_machine):
    time_machine.move_to(START - timedelta(days=10), tick=False)


@pytest.fixture
def marcus(contoso) -> User:
    return User.objects.get(email="lead@contoso.example")


@pytest.fixture
def contoso_deployment(contoso) -> Deployment:
    return Deployment.objects.get(organisation=contoso)


def _to(inbox, address: str) -> list[str]:
    return [message["Subject"] for message in inbox if message["To"] == address]


def test_the_lead_whose_log_in_differs_gets_one_mail_of_the_window_he_booked(inbox, marcus, engineer, contoso_deployment,
                                                                          release):
    upgrade = UpgradeRequestFactory(approved=True, deployment=contoso_deployment, release=release, requested_by=marcus)

    window_book(upgrade=upgrade, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=marcus)

    deliver_outbox(inbox)
    assert _to(inbox, MARCUS) == ["[Contoso College] Maintenance: Production upgrade to 10.0.0 confirmed"]
    assert _to(inbox, marcus.email) == []


def test_the_lead_gets_one_mail_of_a_move_of_his_request(inbox, marcus, support, contoso_deployment, release):
    upgrade = UpgradeRequestFactory(in_review=True, deployment=contoso_deployment, release=release,
                                    requested_by=marcus, assignee=support)

    request_refuse(upgrade=upgrade, by=support, reason="The load balancer is out of support.")

    deliver_outbox(inbox)
    assert _to(inbox, MARCUS) == ["[Contoso College] Upgrade request refused"]
    assert _to(inbox, marcus.email) == []
