#!/usr/bin/env python3
"""Install, initialize, start and stop the local Instagram stack.

This is what `make run`, `make test` and `make stop` call. It needs nothing
but the Python standard library, because it runs before the virtualenv exists:

    python3 deploy/stack.py up   --profile dev  --foreground   # make run
    python3 deploy/stack.py up   --profile test --fresh        # make test
    python3 deploy/stack.py down --profile dev                 # make stop
    python3 deploy/stack.py ctl  --profile test status         # supervisorctl

The work is done by the package deploy/localstack/, one module per concern.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, Python puts deploy/ first on the path: the package is
    # found from the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.localstack.cli import main

if __name__ == "__main__":
    sys.exit(main())
