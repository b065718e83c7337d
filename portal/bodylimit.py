"""Request bodies larger than the portal takes are refused before anything reads them. Django
under ASGI reads a whole body into a temporary file before any middleware or upload handler sees
it, so the limit wraps the ASGI application: a Content-Length over it is answered 413 at once,
and a body sent without one is cut off as soon as the bytes received pass it. The proxy in front
should cap bodies the same way (README: "Behind a proxy")."""

from django.conf import settings


def _refusal(limit: int) -> tuple[dict, dict]:
    body = (f"The request is larger than the portal takes ({limit // 1048576} MB): attach fewer or smaller "
            "files (up to 5 MB each, 20 MB at a time).\n").encode()
    start = {"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close")]}
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    def __init__(self, app, limit: int | None = None):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        limit = self.limit or settings.MAX_REQUEST_BYTES
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if length in (b"", b"0") and b"transfer-encoding" not in headers:
            # No body (a page, a live stream): nothing to limit, and nothing added to each send.
            return await self.app(scope, receive, send)
        if length.isdigit() and int(length) > limit:
            for message in _refusal(limit):
                await send(message)
            return
        received, over, answered = 0, False, False

        async def limited_receive():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def watched_send(message):
            nonlocal answered
            if not over:
                answered = True
                await send(message)

        await self.app(scope, limited_receive, watched_send)
        if over and not answered:
            for message in _refusal(limit):
                await send(message)
