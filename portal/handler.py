"""The portal's ASGI handler: Django's, with four changes made for what the portal serves most.

- **The middleware and the view in one call.** Every view of the portal is synchronous (a test
  keeps them so: tests/portal/test_handler.py), as is most of its middleware. Django's ASGI
  handler builds an asynchronous middleware chain, and each step between a middleware that runs
  on the event loop and one that cannot moves the request from its thread to the loop and back;
  the request signals and the response's closing are further trips (each about as much CPU as
  the rest of a small API answer, a booking race's losing ones). This handler builds the chain
  Django builds for WSGI and runs it, the view, the log line of an error answer and the request
  signals in the request's thread at once (`serve`): `handle` is Django's with that one trip.
- **Threads kept between requests.** Django runs a request's synchronous part (the middleware
  and the view) in a thread of the request's own, started for it and joined after it: starting
  and joining that thread costs about as much CPU as a small view. This handler keeps the
  threads of finished requests and hands them to the next ones at their first sync call
  (`ThreadSensitiveContext(executor=...)`), so a request's sync work still runs on one thread
  of its own while it runs, as Django requires, without a new thread each time. Up to
  `KEEP_THREADS` idle ones wait for the next requests.
- **A few requests at once.** At most `WEB_REQUESTS_AT_ONCE` requests of a process are made at
  the same time, from their start until their response begins; the others wait their turn on
  the event loop, which costs nothing, and take no thread meanwhile. More threads only contend
  for the interpreter: the figures are in the setting's notes. An event stream's hours of
  sending, or a slow client's reading of a download, hold no place.
- **Event streams frame by frame.** A streaming response passes each chunk through several
  layers on its way out (Django's wrapper that turns it into bytes, the response's own
  iterator, the handler's chunking): nothing for one page, but a run's live events are sent
  once per event and per watcher, and with a thousand watchers those layers cost more than the
  sending itself. An `EventStream`'s frames go straight to the server.
"""

import asyncio
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import aclosing

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

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

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    def serve(self, request, scope):
        """What a request needs of its thread, in one call: the request_started signal, the
        middleware and the view, and, for a response whose content is already made, its closing
        (the request_finished signal, which gives the database connection back)."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        response = self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response

    async def handle(self, scope, receive, send):
        """Django's (`ASGIHandler.handle`), with one trip to the request's thread (`serve`) where
        Django makes three to five."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request():
            response = await sync_to_async(self.serve, thread_sensitive=True)(request, scope)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while it was sent
            return response

        # The client's going away ends the waiting (the view may still finish in its thread).
        tasks = [asyncio.create_task(self.listen_for_disconnect(receive)), asyncio.create_task(process_request())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            if response.streaming:
                await sync_to_async(response.close)()
        body_file.close()

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
