"""A service with an event loop of its own, run in a thread."""

import asyncio
import threading


class ServiceThread:
    """`service` (anything with `async start()` and `async stop()`) in a thread with its own event
    loop: what the tests, the benches and `make run` use to serve a lab beside synchronous code."""

    def __init__(self, service, *, name: str = "service"):
        self.service = service
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            # As asyncio.run does: requests still being answered are cancelled, not abandoned.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.service.start()
        except BaseException as error:  # reported to the starting thread
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await self.service.stop()

    def start(self, timeout: float = 30) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"{self._thread.name} did not start in time")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._stopped is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=30)

    def run(self, coroutine):
        """Run a coroutine in the service's loop."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def call(self, function, *args):
        """Run `function(*args)` in the service's loop and return its result (for tests that look
        at or change the service's state directly)."""
        async def inside():
            return function(*args)

        return asyncio.run_coroutine_threadsafe(inside(), self.loop).result(timeout=10)
