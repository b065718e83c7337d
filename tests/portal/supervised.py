"""The supervisor's watch over children of a test's choosing, as `make run` keeps its own once the
services are up: `python -m tests.portal.supervised SPEC`, SPEC being JSON
`{"children": {name: argv}, "policy": {RestartPolicy's fields}}`. Used by test_supervisor."""

import json
import signal
import sys

from portal import supervisor

TICK_SECONDS = 0.05


def main(spec: dict) -> int:
    signal.signal(signal.SIGINT, supervisor._raise_stop)
    signal.signal(signal.SIGTERM, supervisor._raise_stop)
    policy = supervisor.RestartPolicy(**spec["policy"])
    running: list[supervisor.Running] = []
    try:
        for name, argv in spec["children"].items():
            running.append(supervisor.Running(supervisor.Child(name, argv)))
        return supervisor.keep_alive(running, policy=policy, tick=TICK_SECONDS)
    except supervisor.Stop as stop:
        supervisor.say(f"{stop}: stopping")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all(running)
        supervisor.say("Stopped.")


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
