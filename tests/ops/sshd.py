"""OpenSSH servers on loopback, one per pretend host, for the fab tests.

Each server is Debian's /usr/sbin/sshd on its own port with a host key and a
client key made for the test; the client connects as the user running the
tests, with the host keys in a known_hosts file (fab refuses unknown hosts).
"""

import getpass
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class SSHServers:
    """sshd processes sharing one host key, client key and configuration."""

    workdir: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return getpass.getuser()

    @property
    def client_key(self) -> Path:
        return self.workdir / "client_key"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for key in ("host_key", "client_key"):
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"fab-test-{key}",
                    "-f",
                    str(self.workdir / key),
                ],
                check=True,
            )
        (self.workdir / "authorized_keys").write_text((self.workdir / "client_key.pub").read_text())
        self.known_hosts.write_text("")
        (self.workdir / "sshd_config").write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.workdir / 'host_key'}",
                    f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        if os.geteuid() == 0:
            # sshd's privilege separation needs its empty directory.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def start(self, port: int) -> None:
        """Start one sshd on `port` and record its host key for that address."""
        config = self.workdir / "sshd_config"
        log = (self.workdir / f"sshd-{port}.log").open("wb")
        self.processes[port] = subprocess.Popen(
            [
                str(SSHD),
                "-D",
                "-e",
                "-f",
                str(config),
                "-p",
                str(port),
                "-o",
                f"PidFile={self.workdir / f'sshd-{port}.pid'}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not port_open(port):
            if self.processes[port].poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"sshd on port {port} did not start: {(self.workdir / f'sshd-{port}.log').read_text()}"
                )
            time.sleep(0.05)
        host_key = (self.workdir / "host_key.pub").read_text().split()
        with self.known_hosts.open("a") as f:
            f.write(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def commit_head_tree(message: str, *, who: str) -> str:
    """Make a commit of HEAD's tree (no ref or file moves) and return its id: a new release to deploy."""
    name, email = f"{who} test", f"{who}-test@localhost"
    identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    identity.update({"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email})
    result = subprocess.run(
        ["git", "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", message],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, **identity},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()
