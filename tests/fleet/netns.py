"""A fleet of pretend hosts on this machine: one network namespace per host.

Each host is a Linux network namespace with `lo` up and one address on a
private bridge in the root namespace (the bridge holds the subnet's .1, so
the tests and `fab` reach every host from here). Nothing is routed beyond the
bridge: traffic never leaves the machine. Each host runs Debian's sshd in its
namespace, so what `fab` starts over SSH (supervisord, nginx, PostgreSQL ...)
runs there too, listening on the host's own address and standard ports.

Namespaces share the filesystem: every host gets its own folder.

Namespace and bridge names carry a prefix per test profile, so two checkouts
(`test`, `test-a` ...) run their fleets side by side; a fleet left behind by a
killed run is removed before a new one is made (`Network.remove_leftovers`).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.ops.sshd import SSHD

IP = shutil.which("ip") or "/usr/sbin/ip"


class NetnsError(Exception):
    pass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([IP, *args], capture_output=True, text=True, check=False, timeout=30)
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def unavailable() -> str | None:
    """Say why this machine cannot build a fleet (None when it can)."""
    if os.geteuid() != 0:
        return "the fleet test needs root (network namespaces, a bridge)"
    if not Path(IP).exists():
        return "the fleet test needs iproute2's `ip`"
    if not SSHD.exists():
        return f"the fleet test needs {SSHD} (openssh-server)"
    probe = ip("netns", "list", check=False)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


@dataclass
class Network:
    """The bridge and the namespaces of one fleet."""

    prefix: str  # e.g. "igf0": bridge igf0-br, namespaces igf0-<host>
    subnet: str  # e.g. "10.77.0": the bridge is .1
    hosts: dict[str, str] = field(default_factory=dict)  # name -> address

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br"

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"

    def namespace(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def own_namespaces(self) -> list[str]:
        listing = ip("netns", "list").stdout.split("\n")
        names = [line.split()[0] for line in listing if line.strip()]
        return [name for name in names if name.startswith(f"{self.prefix}-")]

    def pids(self, namespace: str) -> list[int]:
        out = ip("netns", "pids", namespace, check=False).stdout
        return [int(pid) for pid in out.split() if pid.isdigit()]

    def kill_processes(self, namespace: str, timeout: float = 15) -> None:
        """Stop every process of `namespace` (the hosts' sshd and all they started): TERM, then KILL."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids(namespace)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while self.pids(namespace) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not self.pids(namespace):
                return

    def remove_leftovers(self) -> None:
        """Remove this fleet's namespaces (their processes first) and bridge, from now or a killed run."""
        for namespace in self.own_namespaces():
            self.kill_processes(namespace)
            ip("netns", "del", namespace, check=False)
        # A namespace goes once its last process has; its veth pair may outlive it a moment.
        for line in ip("-o", "link", "show").stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(self.prefix) and name != self.bridge:
                ip("link", "del", name, check=False)
        ip("link", "del", self.bridge, check=False)

    def create(self) -> None:
        self.remove_leftovers()
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add_host(self, name: str, number: int) -> str:
        """Make host `name`'s namespace with address <subnet>.<number>; return the address."""
        namespace, address = self.namespace(name), f"{self.subnet}.{number}"
        outside, inside = f"{self.prefix}{number}", f"{self.prefix}{number}h"
        ip("netns", "add", namespace)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", namespace)
        ip("link", "set", outside, "master", self.bridge)
        ip("link", "set", outside, "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
        ip("-n", namespace, "link", "set", inside, "up")
        self.hosts[name] = address
        return address

    def link(self, name: str, up: bool) -> None:
        """Bring host `name`'s side of the bridge up or down (down: the host drops off the network)."""
        number = self.hosts[name].rsplit(".", 1)[1]
        ip("link", "set", f"{self.prefix}{number}", "up" if up else "down")

    def exec(self, name: str, *command: str) -> list[str]:
        """Return `command` made to run inside host `name`'s namespace."""
        return [IP, "netns", "exec", self.namespace(name), *command]

    def destroy(self) -> None:
        self.remove_leftovers()
