"""Install, initialize, start and stop the local Instagram stack.

This is what `make run`, `make test` and `make stop` call. It needs nothing
but the Python standard library, because it runs before the virtualenv exists:

    python3 deploy/stack.py up   --profile dev  --foreground   # make run
    python3 deploy/stack.py up   --profile test --fresh        # make test
    python3 deploy/stack.py down --profile dev                 # make stop
    python3 deploy/stack.py ctl  --profile test status         # supervisorctl

Every server runs under one supervisord per profile, with its configuration
rendered from deploy/ into var/<profile>/etc and its data in
var/<profile>/data, so the dev and test stacks never share a port or a file.
"""

from __future__ import annotations

import argparse
import sys

from deploy.localstack.base import StackError
from deploy.localstack.compose import write_compose_files
from deploy.localstack.configs import environment, write_configs
from deploy.localstack.lifecycle import down, foreground, up
from deploy.localstack.profiles import PROFILES
from deploy.localstack.supervisor import supervisorctl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "ctl", "env", "configs", "render-compose"])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="dev")
    parser.add_argument("--fresh", action="store_true", help="wipe var/<profile> first")
    parser.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops all")
    parser.add_argument("args", nargs="*", help="supervisorctl arguments for `ctl`")
    options = parser.parse_intermixed_args(argv)
    p = PROFILES[options.profile]
    try:
        if options.command == "up":
            try:
                up(p, fresh=options.fresh)
            except StackError:
                down(p)  # nothing half-started stays behind; the logs do
                raise
            if options.foreground:
                foreground(p)
        elif options.command == "down":
            down(p)
        elif options.command == "configs":  # after a failover (ops/topology.py)
            write_configs(p)
        elif options.command == "render-compose":
            write_compose_files()
        elif options.command == "env":
            print("\n".join(f"{k}={v}" for k, v in environment(p).items()))
        else:
            result = supervisorctl(p, *options.args, check=False)
            print(result.stdout, end="")
            return result.returncode
    except StackError as exc:
        print(f"stack: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        down(p)
        return 130
    return 0
