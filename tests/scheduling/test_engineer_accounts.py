"""Only vendor staff accounts can be engineers: the database holds it, whoever writes, and the
admin forms say so instead of failing (Marcus Johnson of Contoso was once saved as an engineer)."""

import pytest
from django.db import IntegrityError, transaction

from portal.choices import Role
from portal.models import Contact, User
from scheduling.models import Engineer, SupportRegion
from tests.factories import EngineerUserFactory

ADD = "/admin/scheduling/engineer/add/"


@pytest.fixture
def americas(world) -> SupportRegion:
    return SupportRegion.objects.get(code="americas")


@pytest.fixture
def new_engineer(world) -> User:
    return EngineerUserFactory(email="sam.lee@vendor.example", full_name="Sam Lee")


def test_the_database_refuses_a_customer_as_an_engineer(outsider, americas):
    with pytest.raises(IntegrityError, match="Only vendor staff accounts can be engineers"), transaction.atomic():
        Engineer.objects.create(user=outsider, home_region=americas, time_zone="America/New_York")

    assert not Engineer.objects.filter(user=outsider).exists()


def test_the_database_refuses_moving_an_engineer_profile_to_a_customer(engineer, outsider):
    with pytest.raises(IntegrityError, match="Only vendor staff accounts can be engineers"), transaction.atomic():
        Engineer.objects.filter(user=engineer).update(user=outsider)


def test_the_database_refuses_turning_an_engineers_account_into_a_customer(engineer, contoso):
    contact = Contact.objects.filter(organisation=contoso).exclude(user__isnull=False).first()

    with pytest.raises(IntegrityError, match="has an engineer profile"), transaction.atomic():
        User.objects.filter(pk=engineer.pk).update(role=Role.CUSTOMER, contact=contact)

    engineer.refresh_from_db()
    assert engineer.role == Role.ENGINEER


def test_any_vendor_staff_account_may_be_an_engineer(new_engineer, support, americas):
    Engineer.objects.create(user=new_engineer, home_region=americas, time_zone="America/Chicago")
    Engineer.objects.create(user=support, home_region=americas, time_zone="America/Chicago")

    assert Engineer.objects.filter(user__in=[new_engineer, support]).count() == 2


# The admin --------------------------------------------------------------------------------------


def test_the_admin_offers_only_vendor_staff(client_for, admin_user, outsider, new_engineer):
    form = client_for(admin_user).get(ADD).content.decode()

    users = form[form.index('name="user"'):]
    users = users[:users.index("</select>")]
    assert f'value="{new_engineer.pk}"' in users and "Sam Lee" in users
    assert f'value="{outsider.pk}"' not in users and "Marcus Johnson" not in users


def test_the_admin_refuses_a_customer_with_a_form_error(client_for, admin_user, outsider, americas):
    response = client_for(admin_user).post(ADD, _engineer_form(outsider, americas))

    assert response.status_code == 200
    assert "Only vendor staff accounts can be engineers" in response.content.decode()
    assert not Engineer.objects.filter(user=outsider).exists()


def test_the_admin_adds_a_vendor_engineer(client_for, admin_user, new_engineer, americas):
    response = client_for(admin_user).post(ADD, _engineer_form(new_engineer, americas))

    assert response.status_code == 302
    assert Engineer.objects.get(user=new_engineer).time_zone == "America/Chicago"


def test_the_user_admin_refuses_making_an_engineer_a_customer_with_a_form_error(client_for, admin_user, engineer, contoso):
    contact = Contact.objects.filter(organisation=contoso).exclude(user__isnull=False).first()
    url = f"/admin/portal/user/{engineer.pk}/change/"

    response = client_for(admin_user).post(url, {
        "email": engineer.email, "full_name": engineer.full_name, "role": Role.CUSTOMER, "contact": contact.pk,
        "time_zone": engineer.time_zone, "is_active": "on",
    })

    assert response.status_code == 200
    assert "has an engineer profile" in response.content.decode()
    engineer.refresh_from_db()
    assert engineer.role == Role.ENGINEER


def _engineer_form(user: User, region: SupportRegion) -> dict:
    """The add form with its two inlines empty."""
    data = {"user": user.pk, "home_region": region.pk, "time_zone": "America/Chicago"}
    for prefix in ("hours", "time_off"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
                 f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    return data
