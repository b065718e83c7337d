"""The free slots are computed once per state of the calendar and kept (scheduling.slot_cache):
those who lost a race share one computation, and whatever changes the calendar, from any
process, is seen by the next answer. Another process is played by a thread with a connection
of its own: it changes the database only, never what this process keeps."""

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as django_timezone

from portal.models import User
from scheduling import selectors, slot_cache
from scheduling.choices import WindowState
from scheduling.models import Blackout, EngineerHours, MaintenanceWindow, TimeOff
from scheduling.selectors import slot_at, slots_for
from scheduling.services.booking import SlotNotFree, slot_book

from tests.scheduling.stories import more_deployments, race
from tests.scheduling.test_api import TAKEN, api_for, approve, book

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
# 10:00 in London: the London engineer alone is free then.
START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def nothing_kept():
    slot_cache.forget()
    yield
    slot_cache.forget()


def elsewhere(change) -> None:
    """`change()` made and committed by another process: its own connection, nothing shared."""
    failure = []

    def run():
        try:
            change()
        except Exception as error:  # noqa: BLE001 - raised again below, in the test
            failure.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if failure:
        raise failure[0]


def starts(upgrade) -> set[datetime]:
    return {slot.start for slot in slots_for(upgrade=upgrade)}


def london(engineer_email: str = "engineer@vendor.example") -> User:
    return User.objects.get(email=engineer_email)


def test_the_free_slots_are_computed_once_for_everybody_who_asks_meanwhile(world, customer, northwind, release):
    first, second = (approve(deployment, customer=customer, release=release) for deployment in more_deployments(northwind, 2))
    slots_for(upgrade=first)

    with CaptureQueriesContext(connection) as queries:
        again = slots_for(upgrade=second)

    assert again == slots_for(upgrade=first)
    # The version and the window's length; none of the engine's inputs is read again.
    assert not [query for query in queries.captured_queries if "scheduling_engineerhours" in query["sql"]]


def test_those_who_ask_at_once_wait_for_one_computation_and_share_it(world, customer, northwind, release,
                                                                     monkeypatch):
    upgrades = [approve(deployment, customer=customer, release=release) for deployment in more_deployments(northwind, 6)]
    computed = []
    compute = selectors._free_slots

    def slow_compute(**inputs):
        computed.append(inputs)
        time.sleep(0.3)  # long enough for every one of them to ask meanwhile
        return compute(**inputs)

    monkeypatch.setattr(selectors, "_free_slots", slow_compute)

    answers = race([lambda upgrade=upgrade: slots_for(upgrade=upgrade) for upgrade in upgrades])

    assert len(computed) == 1
    assert answers[0] and all(answer == answers[0] for answer in answers)


def test_a_window_cancelled_in_another_process_frees_its_time_at_once(world, customer, northwind, release):
    booker, other = (approve(deployment, customer=customer, release=release) for deployment in more_deployments(northwind, 2))
    window, _ = slot_book(upgrade=booker, start=START, by=customer)
    assert START not in starts(other)

    elsewhere(lambda: MaintenanceWindow.objects.filter(pk=window.pk).update(
        state=WindowState.CANCELLED, cancelled_at=django_timezone.now(),
    ))

    assert START in starts(other)
    assert slot_at(upgrade=other, start=START) is not None


def test_a_window_booked_in_another_process_is_never_offered_again(world, customer, northwind, release):
    booker, other = (approve(deployment, customer=customer, release=release) for deployment in more_deployments(northwind, 2))
    assert START in starts(other)

    elsewhere(lambda: slot_book(upgrade=booker, start=START, by=customer))

    assert START not in starts(other)
    with pytest.raises(SlotNotFree):
        slot_book(upgrade=other, start=START, by=customer)


def _hours_gone():
    EngineerHours.objects.filter(engineer__user=london(), weekday=START.weekday()).delete()


def _time_off():
    TimeOff.objects.create(engineer=london().engineer, period=DateTimeTZRange(START - timedelta(hours=2), START + timedelta(hours=4)))


def _blackout():
    Blackout.objects.create(period=DateTimeTZRange(START - timedelta(hours=1), START + timedelta(hours=3)), reason="Freeze")


def _account_closed():
    engineer = london()
    engineer.is_active = False
    engineer.save()


@pytest.mark.parametrize("change", [_hours_gone, _time_off, _blackout, _account_closed],
                         ids=["hours", "time off", "blackout", "account closed"])
def test_what_an_administrator_changes_elsewhere_is_seen_by_the_next_answer(world, approved, change):
    assert START in starts(approved)

    elsewhere(change)

    assert START not in starts(approved)


def test_a_transaction_sees_its_own_changes_and_keeps_none_of_them(world, customer, northwind, release):
    booker, other = (approve(deployment, customer=customer, release=release) for deployment in more_deployments(northwind, 2))
    window, _ = slot_book(upgrade=booker, start=START, by=customer)
    assert START not in starts(other)

    with transaction.atomic():
        MaintenanceWindow.objects.filter(pk=window.pk).update(state=WindowState.CANCELLED, cancelled_at=django_timezone.now())
        assert START in starts(other)  # its own uncommitted change
        transaction.set_rollback(True)

    assert START not in starts(other)  # rolled back: nothing of it was kept


def test_no_loser_of_a_race_is_offered_a_slot_that_is_taken(world, customer, northwind, release):
    contenders = [approve(deployment, customer=customer, release=release) for deployment in more_deployments(northwind, 6)]
    clients = [api_for(customer) for _ in contenders]

    responses = race([
        (lambda client=client, upgrade=upgrade: book(client, upgrade, START))
        for client, upgrade in zip(clients, contenders)
    ])

    assert sorted(response.status_code for response in responses) == [201] + [409] * 5
    slot_cache.forget()  # what the calendar says now, computed afresh
    for response in responses:
        if response.status_code == 409:
            assert response.json()["detail"].startswith(TAKEN)
            offered = [datetime.fromisoformat(slot["start"]) for slot in response.json()["slots"]]
            assert offered and START not in offered
            assert all(slot_at(upgrade=contenders[0], start=start) is not None for start in offered)
