"""Personal API tokens: named, scoped, expiring, revocable, shown once and stored hashed; a new
password ends them. Each breach of the old tokens (one key per person, for ever, kept in clear)
has its story here."""

import hashlib
import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal import demo, services
from portal.models import ApiToken
from tests.conftest import reset_password_by_mail

API = "/api/v1"


def _log_in(**body):
    return Client().post(f"{API}/token/", {"email": "lead@northwind.example", "password": demo.PASSWORD, **body},
                         content_type="application/json")


def _get(key: str, path: str = "/organisations/", keyword: str = "Token"):
    return Client().get(f"{API}{path}", HTTP_AUTHORIZATION=f"{keyword} {key}")


def _json(client, method: str, path: str, body: dict):
    return getattr(client, method)(f"{API}{path}", json.dumps(body), content_type="application/json")


class TestTheLogInExchange:
    def test_two_log_ins_give_two_different_tokens(self, customer):
        first, second = _log_in(), _log_in()

        assert first.status_code == second.status_code == 200
        assert first.json()["token"] != second.json()["token"]
        assert ApiToken.objects.filter(user=customer).count() == 2

    def test_the_answer_names_the_token_and_when_it_expires(self, customer, settings):
        with time_machine.travel("2026-11-27 23:20Z", tick=False):
            answer = _log_in(name="Nightly inventory", scope="read", days=7).json()

        assert answer["name"] == "Nightly inventory"
        assert answer["scope"] == "read"
        assert answer["state"] == "active"
        assert answer["expires_at"].startswith("2026-12-04T23:20")
        assert answer["prefix"] == answer["token"][:10]

    def test_by_default_it_is_named_after_the_log_in_and_lasts_api_token_days(self, customer, settings):
        settings.API_TOKEN_DAYS = 30
        with time_machine.travel("2026-11-27 23:20Z", tick=False):
            answer = _log_in().json()

        assert answer["name"] == "API log-in, 27 Nov 2026 23:20"
        assert answer["scope"] == "write"
        assert answer["expires_at"].startswith("2026-12-27T23:20")

    def test_it_makes_no_token_longer_than_the_maximum(self, customer, settings):
        settings.API_TOKEN_MAX_DAYS = 365

        answer = _log_in(days=366)

        assert answer.status_code == 400
        assert "365 days" in answer.json()["days"][0]
        assert not ApiToken.objects.exists()


class TestTheKey:
    def test_the_database_holds_no_key(self, customer):
        key = _log_in().json()["token"]

        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM portal_apitoken")
            row = cursor.fetchone()
        assert key not in [str(value) for value in row]
        assert ApiToken.objects.get().key_hash == hashlib.sha256(key.encode()).hexdigest()

    def test_it_opens_the_api_as_token_or_bearer(self, customer):
        key = _log_in().json()["token"]

        assert _get(key).status_code == 200
        assert _get(key, keyword="Bearer").status_code == 200

    def test_an_unknown_token_is_401_with_a_reason(self, customer):
        answer = _get("pt_not-a-token")

        assert answer.status_code == 401
        assert "not known" in answer.json()["detail"]
        assert answer["WWW-Authenticate"].startswith("Token")

    def test_an_expired_token_is_refused(self, customer):
        with time_machine.travel("2026-11-01 09:00Z", tick=False):
            key = _log_in(days=1).json()["token"]
        with time_machine.travel("2026-11-02 09:01Z", tick=False):
            answer = _get(key)

        assert answer.status_code == 401
        assert "expired on 02 Nov 2026" in answer.json()["detail"]

    def test_a_disabled_account_s_token_is_refused(self, customer):
        key = _log_in().json()["token"]
        type(customer).objects.filter(pk=customer.pk).update(is_active=False)

        assert _get(key).status_code == 401

    def test_its_use_is_recorded_at_most_once_a_minute(self, customer):
        with time_machine.travel("2026-11-27 10:00Z", tick=False):
            key = _log_in().json()["token"]
            _get(key)
        with time_machine.travel("2026-11-27 10:00:30Z", tick=False):
            _get(key)
        assert ApiToken.objects.get().last_used_at.isoformat() == "2026-11-27T10:00:00+00:00"
        with time_machine.travel("2026-11-27 10:01:30Z", tick=False):
            _get(key)
        assert ApiToken.objects.get().last_used_at.isoformat() == "2026-11-27T10:01:30+00:00"


class TestScopes:
    def test_a_read_token_reads_but_may_not_write(self, customer):
        key = _log_in(scope="read").json()["token"]

        assert _get(key, "/contacts/").status_code == 200
        answer = Client().post(f"{API}/contacts/", json.dumps({"name": "Eve", "email": "eve@example.com"}),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")

        assert answer.status_code == 403
        assert "read-only" in answer.json()["detail"]

    def test_a_write_token_writes(self, customer, northwind):
        key = _log_in().json()["token"]
        answer = Client().post(
            f"{API}/contacts/",
            json.dumps({"organisation": "northwind", "name": "Eve Adams", "email": "eve@northwind.example",
                        "time_zone": "Europe/London"}),
            content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}",
        )

        assert answer.status_code == 201, answer.content


class TestTheTokensApi:
    def test_the_list_shows_the_tokens_but_never_a_key(self, client_for, customer):
        _, key = services.token_create(by=customer, name="Inventory script")

        answer = client_for(customer).get(f"{API}/tokens/")

        assert answer.status_code == 200
        (row,) = answer.json()["results"]
        assert row["name"] == "Inventory script"
        assert row["prefix"] == key[:10]
        assert key not in answer.content.decode()
        assert "token" not in row

    def test_making_one_answers_its_key_once(self, client_for, customer):
        client = client_for(customer)

        made = _json(client, "post", "/tokens/", {"name": "CI", "scope": "read", "days": 30})

        assert made.status_code == 201
        key = made.json()["token"]
        assert _get(key).status_code == 200
        assert key not in client.get(f"{API}/tokens/{made.json()['id']}/").content.decode()

    @pytest.mark.parametrize("body", [{"days": 0}, {"days": 10_000}, {"scope": "admin"}, {"name": "x" * 101}])
    def test_bad_input_is_400_and_makes_nothing(self, client_for, customer, body):
        answer = _json(client_for(customer), "post", "/tokens/", body)

        assert answer.status_code == 400
        assert not ApiToken.objects.exists()

    def test_revoking_one_closes_the_api_to_it(self, client_for, customer):
        token, key = services.token_create(by=customer)

        assert client_for(customer).delete(f"{API}/tokens/{token.pk}/").status_code == 204

        answer = _get(key)
        assert answer.status_code == 401
        assert "revoked" in answer.json()["detail"]
        assert client_for(customer).get(f"{API}/tokens/{token.pk}/").json()["state"] == "revoked"

    @pytest.mark.parametrize("persona", ["outsider", "colleague", "support", "admin_user"])
    def test_nobody_else_sees_or_revokes_someone_s_token(self, request, client_for, customer, persona):
        token, key = services.token_create(by=customer)
        client = client_for(request.getfixturevalue(persona))

        assert client.get(f"{API}/tokens/{token.pk}/").status_code == 404
        assert client.delete(f"{API}/tokens/{token.pk}/").status_code == 404
        assert client.get(f"{API}/tokens/").json()["results"] == []
        assert _get(key).status_code == 200

    def test_a_read_token_may_not_revoke(self, customer):
        token, key = services.token_create(by=customer, scope="read")

        answer = Client().delete(f"{API}/tokens/{token.pk}/", HTTP_AUTHORIZATION=f"Token {key}")

        assert answer.status_code == 403
        assert ApiToken.objects.get().revoked_at is None


class TestTheAccountPage:
    def test_the_user_s_name_leads_to_it(self, client_for, customer):
        page = client_for(customer).get(reverse("organisation-detail", args=["northwind"]))

        assert reverse("account-security").encode() in page.content

    def test_a_token_made_on_the_page_shows_its_key_once(self, client_for, customer):
        client = client_for(customer)

        made = client.post(reverse("token-create"), {"name": "Inventory script", "scope": "write", "days": "30"})

        assert made.status_code == 200
        key = made.context["new_key"]
        assert key.encode() in made.content
        assert _get(key).status_code == 200
        again = client.get(reverse("account-security"))
        assert b"Inventory script" in again.content
        assert key.encode() not in again.content
        assert key[:10].encode() in again.content

    @pytest.mark.parametrize("form", [{"scope": "write", "days": "0"}, {"scope": "write", "days": "366"},
                                      {"scope": "root", "days": "30"}, {"scope": "write", "days": "soon"}])
    def test_bad_input_is_said_and_makes_nothing(self, client_for, customer, form):
        page = client_for(customer).post(reverse("token-create"), form)

        assert page.status_code == 400
        assert b'class="errorlist"' in page.content
        assert not ApiToken.objects.exists()

    def test_revoked_and_expired_tokens_are_shown_as_such(self, client_for, customer):
        with time_machine.travel(timezone.now() - timedelta(days=10), tick=False):
            services.token_create(by=customer, name="Old one", days=1)
        revoked, _ = services.token_create(by=customer, name="Leaked one")
        services.token_revoke(token=revoked, by=customer)

        page = client_for(customer).get(reverse("account-security")).content.decode()

        assert "Expired" in page
        assert "Revoked" in page

    def test_revoking_on_the_page_closes_the_api_to_it(self, client_for, customer):
        token, key = services.token_create(by=customer, name="Inventory script")

        page = client_for(customer).post(reverse("token-revoke", args=[token.pk]), follow=True)

        assert "was revoked" in page.content.decode()
        assert _get(key).status_code == 401

    def test_an_outsider_cannot_revoke_someone_s_token(self, client_for, customer, outsider):
        token, key = services.token_create(by=customer)

        assert client_for(outsider).post(reverse("token-revoke", args=[token.pk])).status_code == 404
        assert _get(key).status_code == 200


class TestANewPassword:
    def test_a_reset_revokes_every_token(self, client, customer, inbox):
        _, key = services.token_create(by=customer)

        reset_password_by_mail(client, inbox, customer.email, "a-new-long-passphrase")

        assert _get(key).status_code == 401
        assert "revoked" in _get(key).json()["detail"]

    def test_django_admin_s_password_change_revokes_them(self, client_for, admin_user, customer):
        _, key = services.token_create(by=customer)

        answer = client_for(admin_user).post(
            reverse("admin:auth_user_password_change", args=[customer.pk]),
            {"password1": "a-new-long-passphrase", "password2": "a-new-long-passphrase", "usable_password": "true"},
        )

        assert answer.status_code == 302, answer.content[:2000]
        assert _get(key).status_code == 401
