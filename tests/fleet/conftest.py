"""The fleet fixtures: one fleet built for tests/fleet (every module of it uses the fleet, in
file order), removed once its last test ran, even when a test fails: the rest of the suite
does not share the machine with it."""

import shutil
from collections.abc import Iterator

import pytest

from tests.fleet.fleet import ROOT, Fleet, profile_number
from tests.fleet.netns import Network, unavailable
from tests.ops.sshd import SSHServers


@pytest.fixture(scope="package")
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
