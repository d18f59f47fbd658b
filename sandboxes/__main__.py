"""Run every sandbox in one process: `python -m sandboxes --dir var/dev/sandbox ...`."""

import argparse
import logging
import threading
from pathlib import Path

from sandboxes import apns, social


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="where the request logs and keys live")
    parser.add_argument("--apns-port", type=int, required=True)
    parser.add_argument("--twitter-port", type=int, required=True)
    parser.add_argument("--facebook-port", type=int, required=True)
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
    for server in servers:
        server.join()


if __name__ == "__main__":
    main()
