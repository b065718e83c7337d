"""A Server-Sent Events response whose frames are bytes already. The portal's ASGI handler
(`portal.handler`) sends its frames straight to the server; under any other handler (the test
client's) it is an ordinary streaming response."""

from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse


class EventStream(StreamingHttpResponse):
    def __init__(self, frames: AsyncIterator[bytes]):
        super().__init__(frames, content_type="text/event-stream")
        self.frames = frames
        self["Cache-Control"] = "no-cache"
        # A buffering proxy (nginx) would hold the events back.
        self["X-Accel-Buffering"] = "no"
