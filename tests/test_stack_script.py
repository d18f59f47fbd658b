"""deploy/stack.py: what `make run` and `make test` do, and how they fail."""

import os
import re
import socket
import subprocess
import sys

import pytest

from deploy.localstack import install
from deploy.localstack.base import DEPLOY, StackError
from deploy.localstack.configs import template_values
from deploy.localstack.profiles import PROFILES
from deploy.localstack.supervisor import all_ports, check_ports_free, start_program
from deploy.localstack.templates import render
from tests.conftest import ROOT, Stack


def test_every_template_renders_with_no_placeholder_left(stack: Stack) -> None:
    values = template_values(stack.profile)
    host_templates = DEPLOY / "hosts"  # fab deploy renders these, with a host's values
    for source in DEPLOY.rglob("*"):
        if host_templates in source.parents:
            continue
        if source.is_file() and "{{" in source.read_text(errors="ignore") and source.suffix != ".py":
            rendered = render(source.read_text(), values)
            assert not re.search(r"\{\{\w+\}\}", rendered), source


def test_a_placeholder_without_value_is_named() -> None:
    with pytest.raises(StackError, match=r"\{\{nope\}\}"):
        render("listen {{nope}};", {})


def test_stacks_share_no_port_and_no_folder() -> None:
    profiles = list(PROFILES.values())
    ports = [set(all_ports(p).values()) for p in profiles]
    for index, mine in enumerate(ports):
        assert len(mine) == len(all_ports(profiles[index]))
        for other in ports[index + 1 :]:
            assert not mine & other
    assert len({p.var for p in profiles}) == len(profiles)


def test_a_port_in_use_is_reported_with_its_component() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError, match=rf"memcached \(port {port}\)"):
            check_ports_free({"memcached": port, "nginx": 1})


def test_a_server_that_does_not_come_up_names_its_log(stack: Stack) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        unused = probe.getsockname()[1]
    message = rf"nginx did not listen on port {unused} in 1s; read .*/var/{stack.profile.name}/log/nginx.log"
    with pytest.raises(StackError, match=message):
        start_program(stack.profile, "nginx", port=unused, timeout=1)


def test_missing_packages_without_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "PACKAGES", {"/nonexistent/bin/thing": "thing-server"})
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(StackError, match="missing Debian packages thing-server: run as root"):
        install.ensure_packages()


def test_second_up_is_idempotent(stack: Stack) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "stack.py"), "up", "--profile", stack.profile.name],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"{stack.profile.name} stack is up" in result.stdout
    assert "initializing" not in result.stdout
    assert "creating database" not in result.stdout
    assert "Traceback" not in result.stderr
