"""The supervisor's watch over children of a test's choosing, as `make run` keeps its own once the
services are up: `python -m tests.portal.supervised SPEC`, SPEC being JSON
`{"children": {name: argv}, "preloaded": [names], "policy": {RestartPolicy's fields}}`, the children
named in "preloaded" forked from the fork server where Django is set up. Used by test_supervisor."""

import json
import signal
import sys

from portal import supervisor

TICK_SECONDS = 0.05


def main(spec: dict) -> int:
    signal.signal(signal.SIGINT, supervisor._raise_stop)
    signal.signal(signal.SIGTERM, supervisor._raise_stop)
    policy = supervisor.RestartPolicy(**spec["policy"])
    preloaded = set(spec.get("preloaded", []))
    running: list[supervisor.Running] = []
    try:
        if preloaded:
            supervisor._start_fork_server()
        for name, argv in spec["children"].items():
            running.append(supervisor.Running(supervisor.Child(name, argv, preloaded=name in preloaded)))
        return supervisor.keep_alive(running, policy=policy, tick=TICK_SECONDS)
    except supervisor.Stop as stop:
        supervisor.say(f"{stop}: stopping")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all(running)
        supervisor._stop_fork_server()
        supervisor.say("Stopped.")


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
