"""The customer states when their users are quietest; bad input changes nothing."""

from datetime import time

from django.urls import reverse

from scheduling.models import LowUsageHours

URL = reverse("low-usage-hours", args=["northwind"])


def _form(**days) -> dict:
    data = {f"{edge}_{weekday}": "" for weekday in range(7) for edge in ("starts", "ends")}
    data.update(days)
    return data


def test_the_customer_states_their_quiet_hours(client_for, customer, northwind):
    response = client_for(customer).post(URL, _form(starts_0="06:00", ends_0="08:30", starts_5="00:00", ends_5="00:00"))

    assert response.status_code == 302
    spans = list(LowUsageHours.objects.filter(organisation=northwind).values_list("weekday", "starts", "ends"))
    assert spans == [(0, time(6), time(8, 30)), (5, time(0), time(0))]
    page = client_for(customer).get(reverse("organisation-detail", args=["northwind"])).content.decode()
    assert "06:00–08:30" in page


def test_saving_again_replaces_the_hours(client_for, customer, northwind):
    client = client_for(customer)
    client.post(URL, _form(starts_0="06:00", ends_0="08:30"))
    client.post(URL, _form(starts_2="20:00", ends_2="00:00"))

    assert list(LowUsageHours.objects.filter(organisation=northwind).values_list("weekday", "starts", "ends")) == [
        (2, time(20), time(0))
    ]
    # The form shows what is saved.
    assert 'value="20:00"' in client.get(URL).content.decode()


def test_half_a_span_or_a_backwards_one_is_refused_and_nothing_changes(client_for, customer, northwind):
    LowUsageHours.objects.filter(organisation=northwind).delete()  # the demo's
    LowUsageHours.objects.create(organisation=northwind, weekday=1, starts=time(5), ends=time(7))

    response = client_for(customer).post(URL, _form(starts_0="06:00", starts_3="09:00", ends_3="08:00"))

    assert response.status_code == 400
    page = response.content.decode()
    assert "Give both times for Monday, or neither." in page
    assert "Thursday: the quiet hours must end after they start." in page
    assert 'value="09:00"' in page  # what was typed is still there
    assert list(LowUsageHours.objects.filter(organisation=northwind).values_list("weekday", flat=True)) == [1]


def test_an_outsider_gets_404_and_changes_nothing(client_for, outsider, northwind):
    before = list(LowUsageHours.objects.values_list("pk", flat=True))
    assert client_for(outsider).post(URL, _form(starts_0="06:00", ends_0="08:00")).status_code == 404
    assert list(LowUsageHours.objects.values_list("pk", flat=True)) == before


def test_the_page_takes_only_get_and_post(client_for, customer):
    assert client_for(customer).put(URL).status_code == 405
