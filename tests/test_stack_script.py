"""deploy/stack.py: what `make run` and `make test` do, and how they fail."""

import os
import re
import socket
import subprocess
import sys

import pytest

from deploy import stack as stack_script
from tests.conftest import ROOT, Stack


def test_every_template_renders_with_no_placeholder_left(stack: Stack) -> None:
    values = stack_script.template_values(stack.profile)
    host_templates = stack_script.DEPLOY / "hosts"  # fab deploy renders these, with a host's values
    for source in (stack_script.DEPLOY).rglob("*"):
        if host_templates in source.parents:
            continue
        if source.is_file() and "{{" in source.read_text(errors="ignore") and source.suffix != ".py":
            rendered = stack_script.render(source.read_text(), values)
            assert not re.search(r"\{\{\w+\}\}", rendered), source


def test_a_placeholder_without_value_is_named() -> None:
    with pytest.raises(stack_script.StackError, match=r"\{\{nope\}\}"):
        stack_script.render("listen {{nope}};", {})


def test_stacks_share_no_port_and_no_folder() -> None:
    profiles = list(stack_script.PROFILES.values())
    ports = [set(stack_script.all_ports(p).values()) for p in profiles]
    for index, mine in enumerate(ports):
        assert len(mine) == len(stack_script.all_ports(profiles[index]))
        for other in ports[index + 1 :]:
            assert not mine & other
    assert len({p.var for p in profiles}) == len(profiles)


def test_a_port_in_use_is_reported_with_its_component() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(stack_script.StackError, match=rf"memcached \(port {port}\)"):
            stack_script.check_ports_free({"memcached": port, "nginx": 1})


def test_a_server_that_does_not_come_up_names_its_log(stack: Stack) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        unused = probe.getsockname()[1]
    message = rf"nginx did not listen on port {unused} in 1s; read .*/var/{stack.profile.name}/log/nginx.log"
    with pytest.raises(stack_script.StackError, match=message):
        stack_script.start_program(stack.profile, "nginx", port=unused, timeout=1)


def test_missing_packages_without_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack_script, "PACKAGES", {"/nonexistent/bin/thing": "thing-server"})
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(stack_script.StackError, match="missing Debian packages thing-server: run as root"):
        stack_script.ensure_packages()


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
