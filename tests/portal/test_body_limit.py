"""A body larger than the portal takes is refused before it is read: the ASGI application the web
servers run (portal.asgi) answers 413 from the Content-Length alone, and cuts a body sent without
one off as soon as it passes the limit."""

import asyncio

import pytest
from django.urls import reverse

from portal.asgi import application

MB = 1024 * 1024


def _call(*, path: str = "/requests/1/items/1/", method: str = "POST", length: int | None, chunks: int,
          chunk: int = MB) -> tuple[list[dict], int]:
    """The messages the application sends, and how many body chunks it asked for."""
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"multipart/form-data; boundary=x")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    else:  # HTTP/1.1: a body without a length comes in chunks, or it is empty
        headers.append((b"transfer-encoding", b"chunked"))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    read, sent = 0, []

    async def receive():
        nonlocal read
        if read >= chunks:
            await asyncio.sleep(3600)  # the client waits for the answer
        read += 1
        return {"type": "http.request", "body": b"x" * chunk, "more_body": read < chunks}

    async def send(message):
        sent.append(message)

    asyncio.run(asyncio.wait_for(application(scope, receive, send), timeout=30))
    return sent, read


def test_a_60_mb_upload_is_refused_from_its_length_without_reading_it(settings):
    sent, read = _call(length=60 * MB, chunks=60)

    assert read == 0
    assert sent[0]["status"] == 413
    assert b"larger than the portal takes (21 MB)" in sent[1]["body"]


def test_a_body_without_a_length_is_cut_off_once_it_passes_the_limit(settings):
    sent, read = _call(length=None, chunks=60)

    assert read == 22  # 21 MB taken, the 22nd passes the limit: nothing more is read
    assert [message["status"] for message in sent if message["type"] == "http.response.start"] == [413]


@pytest.mark.django_db
def test_a_body_within_the_limit_reaches_the_portal(settings):
    # An anonymous POST of 2 MB: the portal itself answers (the CSRF check refuses it).
    sent, read = _call(path=reverse("login"), length=2 * MB, chunks=2)

    assert read == 2
    assert sent[0]["status"] == 403
