"""The web server, as `make run`, the container image, docker-compose, the benches and the tests
start it: `python -m portal.web --bind HOST:PORT`.

A process's requests share one interpreter (`portal.handler` makes a few at once), so CPU-bound
work (a booking race) needs several processes to use every core. gunicorn's arbiter loads the
application once (`preload_app`) and forks `WEB_PROCESSES` uvicorn workers from it, each
listening on its own socket to the port (`Worker.init_process`), and replaces any that dies. The live pages' SSE streams work in every process alike: their events come through Redis.

Client addresses: uvicorn takes them from X-Forwarded-For only when the request comes from a
proxy named in FORWARDED_ALLOW_IPS; with none named (as under `make run`, where every client is
on loopback), from nobody: otherwise any client could choose the address that log-in throttling
counts and the audit records.
"""

import argparse
import errno
import gc
import importlib
import os
import socket

from gunicorn.app.base import BaseApplication
from gunicorn.util import parse_address
from uvicorn_worker import UvicornWorker

# Live pages keep connections open: on stop, do not wait for them for ever.
GRACEFUL_SECONDS = 5
# An idle client connection is kept this long: longer than a proxy's or load balancer's own idle
# timeout (60 s is common), so the proxy closes first and never sends on a connection just closed.
KEEP_ALIVE_SECONDS = 65
# What Celery imports when a process sends its first task.
BROKER_CLIENT = ("celery.app.amqp", "celery.backends.redis", "kombu.transport.redis")


def trusted_proxies() -> str:
    return os.environ.get("FORWARDED_ALLOW_IPS", "").strip()


def processes_default() -> int:
    """WEB_PROCESSES, or one per core. More would not serve CPU-bound work (a booking race on two
    cores: bench/booking_race.py) any faster, and each process warms its own caches."""
    configured = os.environ.get("WEB_PROCESSES", "").strip()
    return int(configured) if configured else os.cpu_count() or 1


class Worker(UvicornWorker):
    """A uvicorn worker for Django: no lifespan protocol (Django has none), proxy headers only
    from the proxies named."""

    CONFIG_KWARGS = {"loop": "auto", "http": "auto", "lifespan": "off", "proxy_headers": bool(trusted_proxies())}

    def init_process(self) -> None:
        """Listen on a socket of this process's own (SO_REUSEPORT), so that the kernel spreads
        new connections evenly across the processes. On the one socket they inherit, whichever
        process wakes first takes a whole burst: of 1,000 people opening a live page together,
        one process took 877 and sent every event to each of them while the other sat idle.

        The inherited socket (the arbiter's) keeps the port, and stops listening here, or it too
        would be dealt connections that no process accepts. A connection made in the moment
        between the arbiter's start and its first process's is refused."""
        own = []
        for inherited in self.sockets:
            if inherited.FAMILY not in (socket.AF_INET, socket.AF_INET6):
                own.append(inherited)  # a Unix socket: the processes share it
                continue
            listener = socket.socket(inherited.FAMILY, socket.SOCK_STREAM)
            for level, option in ((socket.SOL_SOCKET, socket.SO_REUSEADDR), (socket.SOL_SOCKET, socket.SO_REUSEPORT),
                                  (socket.IPPROTO_TCP, socket.TCP_NODELAY)):
                listener.setsockopt(level, option, 1)
            listener.bind(inherited.getsockname())
            listener.listen(self.cfg.backlog)
            listener.setblocking(False)
            own.append(listener)
            try:
                inherited.shutdown(socket.SHUT_RD)
            except OSError:
                pass  # stopped already, by a sibling
        self.sockets = own
        super().init_process()


class Server(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self):
        from portal.asgi import application

        warm_up()
        # What is loaded by now lives as long as the processes do: out of the garbage collector's
        # sight, so that a full collection in a process walks only what its requests made, not
        # the whole of Django (tens of milliseconds each time), and the forked pages stay shared.
        gc.freeze()
        return application


def warm_up() -> None:
    """What each process would otherwise do on its first request, done once before the fork
    (`preload_app`), so that a process answers its first requests as fast as the rest: import
    every app's URLs, views and API (and the modules they import), build the URL resolvers'
    tables that resolving and reversing read, load the holiday calendars (the first look at
    any country's holidays imports all 250 countries: 40 ms) and import the broker's client,
    which the first task sent would import."""
    import holidays
    from django.urls import get_resolver

    holidays.list_supported_countries()
    for module in BROKER_CLIENT:
        importlib.import_module(module)

    def build(resolver) -> None:
        resolver.reverse_dict  # noqa: B018 - built on first read
        for _, included in resolver.namespace_dict.values():
            build(included)

    build(get_resolver())


def options(*, bind: str, processes: int, access_log: bool) -> dict:
    return {
        "bind": bind,
        "workers": processes,
        "worker_class": "portal.web.Worker",
        "preload_app": True,
        # Each process listens on its own socket to the port (Worker.init_process).
        "reuse_port": True,
        "graceful_timeout": GRACEFUL_SECONDS,
        "keepalive": KEEP_ALIVE_SECONDS,
        "forwarded_allow_ips": trusted_proxies() or "127.0.0.1",
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "proc_name": "portal-web",
        # The arbiter's heartbeat files: in memory where there is /dev/shm (a container's /tmp may
        # be a disk that stalls).
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        # No control socket: several portals on one machine (tests, benches) would share its path.
        "control_socket_disable": True,
    }


def refuse_a_taken_port(bind: str) -> None:
    """Stop with a clear message when something listens on `bind` already. The processes listen
    with SO_REUSEPORT, with which a second portal started on the same port would not be refused
    but would silently share its connections with the first."""
    address = parse_address(bind)
    if not isinstance(address, tuple):
        return  # a Unix socket or an inherited descriptor
    host, port = address
    for family, kind, protocol, _, where in socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                                 flags=socket.AI_PASSIVE):
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(where)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise SystemExit(f"{bind} is in use: another program (a portal already running?) listens there.")
                raise
        return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m portal.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT to listen on (default %(default)s)")
    parser.add_argument("--processes", type=int, default=processes_default(),
                        help="worker processes (default: WEB_PROCESSES, or one per core: %(default)s)")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    arguments = parser.parse_args(argv)
    refuse_a_taken_port(arguments.bind)
    Server(options(bind=arguments.bind, processes=arguments.processes, access_log=arguments.access_log)).run()


if __name__ == "__main__":
    main()
