"""A slot as the API writes it: the serializer's own representation says what its fields say."""

from datetime import UTC, datetime

import pytest
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from scheduling.serializers import SlotSerializer
from scheduling.slots import Slot

SLOTS = [
    Slot(start=datetime(2027, 3, 9, 10, tzinfo=UTC), end=datetime(2027, 3, 9, 10, 55, tzinfo=UTC),
         engineer_ids=(4, 7), standard=True, low_usage=False),
    # New York's clocks go back at 06:00 UTC on 7 November 2027: an hour the clock shows twice.
    Slot(start=datetime(2027, 11, 7, 5, 30, tzinfo=UTC), end=datetime(2027, 11, 7, 6, 25, 30, tzinfo=UTC),
         engineer_ids=(7,), standard=False, low_usage=True),
]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("who", ["customer", "support"])
def test_each_slot_is_written_as_its_fields_write_it(customer, support, zone, who):
    web_request = APIRequestFactory().get("/")
    web_request.user = customer if who == "customer" else support
    context = {"request": web_request, "zone": zone}

    written = SlotSerializer(SLOTS, many=True, context=context).data

    field_by_field = [serializers.Serializer.to_representation(SlotSerializer(context=context), slot) for slot in SLOTS]
    assert [dict(slot) for slot in written] == [dict(slot) for slot in field_by_field]
    assert list(written[0]) == list(field_by_field[0])  # the same order of keys
    assert written[1]["end"] == "2027-11-07T06:25:30Z"
    assert (written[0]["engineer_ids"] is None) == (who == "customer")
