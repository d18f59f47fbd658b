"""The Munin plugins (deploy/munin/), run by Debian's munin-run as munin-node would."""

import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, Stack
from tests.monitoring.helpers import app_server, scrape, value

PLUGINS = ROOT / "deploy" / "munin"
GRAPHS = {
    "signups": ("DERIVE", "minute"),
    "photos": ("DERIVE", "second"),
    "likes": ("DERIVE", "second"),
    "fanout_lag": ("GAUGE", "second"),
    "gearman_queue": ("GAUGE", "second"),
    "gearman_workers": ("GAUGE", "second"),
    "replica_lag": ("GAUGE", "second"),
    "replica_lag_bytes": ("GAUGE", "second"),
}


@pytest.fixture(scope="module")
def sconfdir(tmp_path_factory: pytest.TempPathFactory, stack: Stack) -> Path:
    """A plugin-conf.d like deploy/munin/plugin-conf.d/instagram, pointed at the stack's first app server."""
    directory = tmp_path_factory.mktemp("munin-conf")
    shipped = (PLUGINS / "plugin-conf.d" / "instagram").read_text()
    (directory / "instagram").write_text(shipped.replace("http://127.0.0.1:8101", app_server(stack)))
    directory.chmod(0o755)
    return directory


def munin_run(sconfdir: Path, plugin: str, *args: str) -> list[str]:
    result = subprocess.run(
        ["/usr/sbin/munin-run", "--servicedir", str(PLUGINS), "--sconfdir", str(sconfdir), plugin, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def test_every_link_names_a_graph_the_plugin_draws() -> None:
    links = {
        path.name.removeprefix("instagram_") for path in PLUGINS.glob("instagram_*") if path.is_symlink()
    }
    assert links == set(GRAPHS)
    assert all((PLUGINS / f"instagram_{graph}").resolve() == PLUGINS / "instagram_.py" for graph in GRAPHS)


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_munin_run_describes_and_fetches_each_graph(
    healthy_stack: Stack, http: requests.Session, sconfdir: Path, graph: str
) -> None:
    kind, period = GRAPHS[graph]
    config = dict(line.split(" ", 1) for line in munin_run(sconfdir, f"instagram_{graph}", "config"))
    assert config["graph_category"] == "instagram"
    assert config["graph_period"] == period
    fields = [key.removesuffix(".label") for key in config if key.endswith(".label")]
    assert fields
    assert all(config[f"{name}.type"] == kind for name in fields)
    fetched = dict(line.split(" ", 1) for line in munin_run(sconfdir, f"instagram_{graph}"))
    assert set(fetched) == {f"{name}.value" for name in fields}
    assert all(float(number) >= 0 for number in fetched.values())  # no U: every figure was there


def test_fetched_values_are_the_figures_of_metrics(
    healthy_stack: Stack, http: requests.Session, sconfdir: Path
) -> None:
    signups = float(munin_run(sconfdir, "instagram_signups")[0].split()[1])
    workers = munin_run(sconfdir, "instagram_gearman_workers")
    replicas = dict(line.split() for line in munin_run(sconfdir, "instagram_replica_lag_bytes"))
    samples = scrape(healthy_stack, http)
    assert signups == value(samples, "instagram_signups_total")
    assert workers == [f"connected.value {healthy_stack.profile.workers}"]
    assert set(replicas) == {"default_replica.value", "shard0_replica.value", "shard1_replica.value"}
    config = munin_run(sconfdir, "instagram_fanout_lag", "config")
    assert "pending_age.critical 300" in config


def test_an_unreachable_app_server_gives_unknown_values(tmp_path: Path) -> None:
    (tmp_path / "instagram").write_text("[instagram_*]\nenv.url http://127.0.0.1:9/metrics\nenv.timeout 2\n")
    tmp_path.chmod(0o755)
    assert munin_run(tmp_path, "instagram_likes") == ["likes.value U"]
    assert munin_run(tmp_path, "instagram_likes", "config")[0] == "graph_title Likes"
