"""The fleet fixtures: one fleet built for the whole run (every module of tests/fleet uses it,
in file order), removed at the end even when a test fails."""

import shutil
from collections.abc import Iterator

import pytest

from tests.fleet.fleet import ROOT, Fleet, profile_number
from tests.fleet.netns import Network, unavailable
from tests.ops.sshd import SSHServers


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    number = profile_number()
    workdir = ROOT / "var" / f"fleet-{number}"
    network = Network(prefix=f"igf{number}", subnet=f"10.77.{number}")
    # A killed earlier run may have left namespaces, processes and files: start clean.
    network.remove_leftovers()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    fleet = Fleet(workdir=workdir, network=network, servers=SSHServers(workdir / "ssh"))
    try:
        fleet.build()
        yield fleet
    finally:
        fleet.destroy()


@pytest.fixture
def deployed(fleet: Fleet) -> Fleet:
    """The fleet set up and serving a release: test_fleet.py's first tests do it, or else this does."""
    fleet.set_up_and_deploy()
    return fleet
