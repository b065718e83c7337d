"""A Server-Sent Events response whose frames are bytes already, and the way the portal's web
server sends them.

A streaming response passes each chunk through several layers on its way out (Django's wrapper
that turns it into bytes, the response's own iterator, the handler's chunking): nothing for one
page, but a run's live events are sent once per event and per watcher, and with a thousand
watchers those layers cost more than the sending itself. The portal's ASGI handler
(`portal.asgi`) sends an `EventStream`'s frames straight to the server instead. Under any
other handler (the test client's) it is an ordinary streaming response.
"""

from collections.abc import AsyncIterator
from contextlib import aclosing

from django.core.handlers.asgi import ASGIHandler
from django.http import StreamingHttpResponse


class EventStream(StreamingHttpResponse):
    def __init__(self, frames: AsyncIterator[bytes]):
        super().__init__(frames, content_type="text/event-stream")
        self.frames = frames
        self["Cache-Control"] = "no-cache"
        # A buffering proxy (nginx) would hold the events back.
        self["X-Accel-Buffering"] = "no"


class Handler(ASGIHandler):
    """Django's ASGI handler, which sends an `EventStream` frame by frame as it comes."""

    async def send_response(self, response, send):
        if not isinstance(response, EventStream):
            return await super().send_response(response, send)
        headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
        headers += [(b"Set-Cookie", cookie.output(header="").encode("ascii").strip())
                    for cookie in response.cookies.values()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async with aclosing(response.frames) as frames:
            async for frame in frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body"})
