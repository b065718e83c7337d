"""Server credentials are encrypted at rest, rotate to a new key, and never leave the server:
not in a page, an API answer, the admin, the history tables or a log line."""

import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.urls import reverse

from portal import credentials, services
from portal.models import Deployment, Server

SECRET = "correct-horse-battery-staple-7731"


@pytest.fixture
def server(engineer, northwind):
    deployment = Deployment.objects.get(organisation=northwind)
    return services.server_create(
        deployment=deployment, by=engineer, secret=SECRET,
        role="stream", hostname="cpstream09.northwind.example", address="10.0.0.9", driver="ssh", username="svc",
    )


def test_the_secret_is_stored_as_a_token_that_only_the_key_opens(server):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_token FROM portal_server WHERE id = %s", [server.pk])
        (stored,) = cursor.fetchone()

    assert SECRET not in stored
    assert credentials.reveal(stored) == SECRET


def test_a_new_key_put_in_front_takes_over_after_rotation(server, rotated_keys):
    rotated_keys()

    server.refresh_from_db()
    assert credentials.reveal(server.secret_token) == SECRET


def test_a_token_under_an_unknown_key_is_a_clear_error(server, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    credentials._fernet.cache_clear()
    try:
        with pytest.raises(credentials.CredentialError, match="cannot be decrypted"):
            credentials.reveal(server.secret_token)
    finally:
        credentials._fernet.cache_clear()


def test_the_secret_appears_in_no_response(server, client_for, engineer, admin_user, caplog):
    caplog.set_level(logging.DEBUG)
    urls = [
        reverse("deployment-detail", args=[server.deployment_id]),
        reverse("organisation-detail", args=["northwind"]),
        reverse("api:server-detail", args=[server.pk]),
        reverse("api:server-list"),
        reverse("api:deployment-detail", args=[server.deployment_id]),
        reverse("admin:portal_server_change", args=[server.pk]),
        reverse("admin:portal_server_changelist"),
    ]
    for user in (engineer, admin_user):
        client = client_for(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            body = response.content.decode()
            assert SECRET not in body, url
            assert server.secret_token not in body, url
    assert SECRET not in caplog.text and server.secret_token not in caplog.text


def test_the_history_tables_never_hold_the_secret(server, engineer):
    services.server_update(server=server, by=engineer, secret="another-secret-4242")

    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(event)::text FROM portal_serverevent AS event")
        rows = " ".join(row[0] for row in cursor.fetchall())
    assert rows and "secret_token" not in rows
    assert SECRET not in rows and "another-secret-4242" not in rows


def test_the_admin_registers_a_server_with_its_secret_sealed_and_leaves_corrections_to_the_setup_page(
        server, client_for, admin_user):
    client = client_for(admin_user)
    form = {
        "deployment": server.deployment_id, "group": "", "role": "stream", "hostname": "cpstream10.northwind.example",
        "address": "10.0.0.10", "port": "", "driver": "ssh", "username": "svc", "host_key": "",
        "secret": "typed-in-the-admin-99",
    }

    assert client.post(reverse("admin:portal_server_add"), form).status_code == 302
    added = Server.objects.get(hostname="cpstream10.northwind.example")
    assert credentials.reveal(added.secret_token) == "typed-in-the-admin-99"
    assert "typed-in-the-admin" not in added.secret_token

    # Corrections and removals are the setup page's: the admin shows the server and changes nothing.
    changed = client.post(reverse("admin:portal_server_change", args=[server.pk]), {**form, "address": "10.0.0.11"})
    deleted = client.post(reverse("admin:portal_server_delete", args=[server.pk]), {"post": "yes"})
    assert changed.status_code == 403 and deleted.status_code == 403
    assert Server.objects.filter(pk=server.pk, address="10.0.0.9").exists()