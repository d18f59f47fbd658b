import hmac
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.management.base import BaseCommand, CommandParser

from subscriptions.callbacks import sign


class Command(BaseCommand):
    help = (
        "Serve a real-time subscription callback on 127.0.0.1 for trying subscriptions locally: it "
        "answers the hub.challenge handshake and prints each update POST, with whether its "
        "X-Hub-Signature verifies under --secret. Ctrl-C stops it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=9000)
        parser.add_argument("--secret", default="", help="the app's client secret, to check the signatures")

    def handle(self, *args: Any, **options: Any) -> None:
        command, secret = self, str(options["secret"])

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                challenge = query.get("hub.challenge", "")
                command.stdout.write(f"handshake: verify_token={query.get('hub.verify_token', '')!r}")
                self._answer(200, challenge.encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signature = self.headers.get("X-Hub-Signature", "")
                if secret:
                    valid = hmac.compare_digest(signature, sign(secret=secret, body=body))
                    verdict = "signature valid" if valid else "SIGNATURE INVALID"
                else:
                    verdict = "signature not checked (no --secret)"
                command.stdout.write(f"POST {self.path}: {verdict}")
                command.stdout.write(json.dumps(json.loads(body), indent=2))
                self._answer(200, b"")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", options["port"]), Handler)
        self.stdout.write(f"callback: http://127.0.0.1:{options['port']}/callback")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
