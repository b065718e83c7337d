"""The portal's ASGI handler: Django's, with three changes made for what the portal serves most.

- **Threads kept between requests.** Django runs a request's synchronous part (the middleware
  and the view) in a thread of the request's own, started for it and joined after it: starting
  and joining that thread costs about as much CPU as a small view. This handler keeps the
  threads of finished requests and hands them to the next ones at their first sync call
  (`ThreadSensitiveContext(executor=...)`), so a request's sync work still runs on one thread
  of its own while it runs, as Django requires, without a new thread each time. Up to
  `KEEP_THREADS` idle ones wait for the next requests.
- **A few requests at once.** At most `WEB_REQUESTS_AT_ONCE` requests of a process are made at
  the same time, from their start until their response begins; the others wait their turn on
  the event loop, which costs nothing, and take no thread meanwhile. Threads beyond a handful
  only contend for the interpreter and the connection pool: 50 bookings at once on two cores
  cost 13 ms of CPU per answer with no limit, 9 with four at a time. An event stream's hours
  of sending, or a slow client's reading of a download, hold no place.
- **Event streams frame by frame.** A streaming response passes each chunk through several
  layers on its way out (Django's wrapper that turns it into bytes, the response's own
  iterator, the handler's chunking): nothing for one page, but a run's live events are sent
  once per event and per watcher, and with a thousand watchers those layers cost more than the
  sending itself. An `EventStream`'s frames go straight to the server.
"""

import asyncio
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import aclosing

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from portal.eventstream import EventStream

KEEP_THREADS = 16


class _RequestThread(Executor):
    """A request's one thread, taken from the kept ones (or started) at its first sync call.
    `submit` is called on the event loop's thread (asgiref's `run_in_executor`), as is
    everything of the handler's: the list of kept threads needs no lock."""

    def __init__(self, handler: "Handler"):
        self.handler = handler
        self.thread: ThreadPoolExecutor | None = None

    def submit(self, fn, /, *args, **kwargs):
        if self.thread is None:
            self.thread = self.handler.idle.pop() if self.handler.idle else ThreadPoolExecutor(1, "request")
        return self.thread.submit(fn, *args, **kwargs)


class _Sending:
    """The server's `send`, which gives up the request's place when the response begins."""

    def __init__(self, send, places: asyncio.Semaphore):
        self.send, self.places, self.holding = send, places, True

    def give_up_the_place(self) -> None:
        if self.holding:
            self.holding = False
            self.places.release()

    async def __call__(self, message) -> None:
        if message["type"] == "http.response.start":
            self.give_up_the_place()
        await self.send(message)


class Handler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self.idle: list[ThreadPoolExecutor] = []
        self._places = asyncio.Semaphore(settings.WEB_REQUESTS_AT_ONCE)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        await self._places.acquire()
        sending = _Sending(send, self._places)
        request_thread = _RequestThread(self)
        try:
            async with ThreadSensitiveContext(executor=request_thread):
                await self.handle(scope, receive, sending)
        except BaseException:
            # Cancelled, say: the view may still be running on the thread. Let it finish there.
            if request_thread.thread is not None:
                request_thread.thread.shutdown(wait=False)
            raise
        finally:
            sending.give_up_the_place()
        if request_thread.thread is not None:
            if len(self.idle) < KEEP_THREADS:
                self.idle.append(request_thread.thread)
            else:
                request_thread.thread.shutdown(wait=False)

    async def send_response(self, response, send):
        if not isinstance(response, EventStream):
            return await super().send_response(response, send)
        headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
        headers += [(b"Set-Cookie", cookie.output(header="").encode("ascii").strip())
                    for cookie in response.cookies.values()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        send = getattr(send, "send", send)  # the server's own, now that the place is given up
        async with aclosing(response.frames) as frames:
            async for frame in frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body"})
