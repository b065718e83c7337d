"""A loopback SMTP server that keeps every message it receives, for `make run`.

`python -m portal.mailsink` listens on 127.0.0.1:$MAIL_SINK_PORT (8025 by default) and adds each
message to the Maildir `mail/` in the data folder, where any mail reader (or `mailbox.Maildir`)
can open it. Nothing is relayed anywhere. SIGINT or SIGTERM stops it.
"""

import os
import signal

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from portal.embedded import data_dir

HOST = "127.0.0.1"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def port() -> int:
    return int(os.environ.get("MAIL_SINK_PORT", "8025"))


def main() -> None:
    folder = data_dir() / "mail"
    controller = Controller(Mailbox(folder), hostname=HOST, port=port())
    # The server runs in a thread of its own; block the stop signals there and wait for them here.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    controller.start()
    print(f"SMTP sink listening on {HOST}:{controller.port}, keeping messages in {folder}", flush=True)
    signal.sigwait(STOP_SIGNALS)
    controller.stop()


if __name__ == "__main__":
    main()
