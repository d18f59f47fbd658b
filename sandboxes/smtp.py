"""An SMTP server that plays the mail relay: it accepts every message and records it.

Django's SMTP backend (EMAIL_HOST/EMAIL_PORT) sends password resets here in
the local stacks; `smtp.jsonl` holds one object a message (envelope, headers,
text body) for the tests and for a developer reading what would have gone out.
"""

import email
import email.policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from sandboxes.records import record

SERVICE = "smtp"


class Recorder:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        entry: dict[str, Any] = {
            "mail_from": envelope.mail_from,
            "rcpt_to": list(envelope.rcpt_tos),
            "subject": str(message.get("Subject", "")),
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "text": body.get_content() if body is not None else "",
        }
        record(self.directory, SERVICE, entry)
        return "250 Message accepted for delivery"


def start(*, port: int, directory: Path) -> Controller:
    """Start the server on 127.0.0.1:`port` in its own thread; return its controller."""
    controller = Controller(Recorder(directory), hostname="127.0.0.1", port=port)
    controller.start()
    return controller
