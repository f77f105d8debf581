"""The ``slurm_cluster`` fixture: a real two-node Slurm cluster (tests/helpers/slurm_cluster.py) per test module."""

from collections.abc import Iterator

import pytest

from tests.helpers.machine_lock import machine_lock
from tests.helpers.slurm_cluster import SlurmCluster, start_or_skip


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A running two-node cluster for the test module; skipped where it cannot run (a failure under CI=true). One
    cluster at a time: its daemons take fixed ports, and the other xdist worker may reach the other cluster module."""
    with machine_lock("slurm-cluster"):
        yield from start_or_skip(tmp_path_factory.mktemp("slurm"))
