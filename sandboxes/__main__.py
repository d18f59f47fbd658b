"""Run every sandbox in one process: `python -m sandboxes --dir var/dev/sandbox ...`."""

import argparse
import logging
import socket
import threading
import time
from pathlib import Path

from sandboxes import apns, monitoring, smtp, social


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="where the request logs and keys live")
    parser.add_argument("--apns-port", type=int, required=True)
    parser.add_argument("--twitter-port", type=int, required=True)
    parser.add_argument("--facebook-port", type=int, required=True)
    parser.add_argument("--sentry-port", type=int, required=True)
    parser.add_argument("--pagerduty-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    options.dir.mkdir(parents=True, exist_ok=True)
    servers = [
        threading.Thread(target=apns.run, kwargs={"port": options.apns_port, "directory": options.dir}),
        threading.Thread(
            target=social.run,
            kwargs={"service": "twitter", "port": options.twitter_port, "directory": options.dir},
        ),
        threading.Thread(
            target=social.run,
            kwargs={"service": "facebook", "port": options.facebook_port, "directory": options.dir},
        ),
    ]
    for server in servers:
        server.daemon = True
        server.start()
    # PagerDuty's port opens last, once every other one listens: the stack
    # waits on it alone (deploy/stack.py).
    smtp.start(port=options.smtp_port, directory=options.dir)
    _wait_listening([options.apns_port, options.twitter_port, options.facebook_port, options.smtp_port])
    for service, port in (("sentry", options.sentry_port), ("pagerduty", options.pagerduty_port)):
        bound = monitoring.server(service=service, port=port, directory=options.dir)
        servers.append(threading.Thread(target=bound.serve_forever, daemon=True))
        servers[-1].start()
    for server in servers:
        server.join()


def _wait_listening(ports: list[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"sandbox: port {port} did not open within {timeout:.0f}s")
            time.sleep(0.05)


if __name__ == "__main__":
    main()
