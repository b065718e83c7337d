"""A loopback SMTP server that keeps every message it receives, for `make run`.

`python -m portal.mailsink` listens on 127.0.0.1:$MAIL_SINK_PORT (8025 by default) and adds each
message to the Maildir `mail/` in the data folder, where any mail reader (or `mailbox.Maildir`)
can open it. Nothing is relayed anywhere, but for one thing: a message to the reply domain
(REPLY_MAIL_DOMAIN: replies to the mails about an upgrade's conversation) is also posted whole to
INBOUND_MAIL_URL with INBOUND_MAIL_SECRET, as a real mail server's pipe would. SIGINT or SIGTERM
stops it.
"""

import asyncio
import logging
import os
import signal
import urllib.error
import urllib.request

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from portal.embedded import data_dir

HOST = "127.0.0.1"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def port() -> int:
    return int(os.environ.get("MAIL_SINK_PORT", "8025"))


log = logging.getLogger(__name__)


class KeepAndForwardReplies(Mailbox):
    """Keeps every message; posts those addressed to the reply domain to the portal."""

    def __init__(self, folder, *, reply_domain: str, inbound_url: str, secret: str):
        super().__init__(folder)
        self.reply_domain, self.inbound_url, self.secret = reply_domain.lower(), inbound_url, secret

    async def handle_DATA(self, server, session, envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        replies = [address for address in envelope.rcpt_tos if address.lower().endswith("@" + self.reply_domain)]
        if replies and self.inbound_url:
            return await asyncio.to_thread(self.forward, envelope.original_content, replies)
        return answer

    def forward(self, content: bytes, recipients: list[str]) -> str:
        request = urllib.request.Request(self.inbound_url, data=content, method="POST", headers={
            "Authorization": f"Bearer {self.secret}", "X-Envelope-To": ",".join(recipients),
            "Content-Type": "message/rfc822",
        })
        try:
            with urllib.request.urlopen(request, timeout=10):
                return "250 Message accepted for delivery"
        except urllib.error.HTTPError as error:  # the portal refused it: say why to the sender's server
            return f"550 {error.read().decode(errors='replace')[:200]}"
        except OSError as error:
            log.warning("reply not posted to %s: %s", self.inbound_url, error)
            return "451 The portal does not answer: try again later"


def handler(folder):
    return KeepAndForwardReplies(folder, reply_domain=os.environ.get("REPLY_MAIL_DOMAIN", "replies.vendor.example"),
                                 inbound_url=os.environ.get("INBOUND_MAIL_URL", ""),
                                 secret=os.environ.get("INBOUND_MAIL_SECRET", ""))


def main() -> None:
    folder = data_dir() / "mail"
    controller = Controller(handler(folder), hostname=HOST, port=port())
    # The server runs in a thread of its own; block the stop signals there and wait for them here.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    controller.start()
    print(f"SMTP sink listening on {HOST}:{controller.port}, keeping messages in {folder}", flush=True)
    signal.sigwait(STOP_SIGNALS)
    controller.stop()


if __name__ == "__main__":
    main()
