"""Heavy computation fans out to a Dask cluster named by address, with the results of a serial
run: a real `dask scheduler` and `dask worker` (two processes, one thread each) on loopback, as a
lab runs them on its compute nodes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from electroloop.errors import ConfigError
from electroloop.kinds.electrode.campaign import DischargeCondition, MicrostructureSettings
from electroloop.kinds.electrode.evaluation import (
    ContentCache,
    cube_inputs,
    electrode_design,
    evaluate,
    measured_cube,
    realisation_seed,
)
from electroloop.settings import Settings
from electroloop.surrogates.ensemble import TrainConfig
from electroloop.surrogates.mixture import MixtureEnsemble
from electroloop.workflows.compute import cluster
from electroloop.workflows.surrogate_training import calisol_records
from tests.floats import SAME_COMPUTATION, assert_close
from tests.unit.kinds.electrode.test_electrode_twin import DESIGN

MICRO = MicrostructureSettings(size=24, particle_radius=4, voxel_size=1.3, realisations=4)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def dask_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded worker processes; stopped at the end."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    logs = [(folder / name).open("w") for name in ("scheduler.log", "worker.log")]
    processes = [
        subprocess.Popen(
            [*dask, "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
             "--dashboard-address", ":0"],
            stdout=logs[0], stderr=subprocess.STDOUT, env=env,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2",
             "--nthreads", "1", "--no-dashboard", "--local-directory", str(folder)],
            stdout=logs[1], stderr=subprocess.STDOUT, env=env,
        ),
    ]  # fmt: skip
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in reversed(processes):  # workers first, then the scheduler
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


def test_microstructure_solves_on_the_cluster_match_a_serial_run(dask_address: str) -> None:
    condition = DischargeCondition(power_w=10.0)
    design = electrode_design(DESIGN, MICRO)
    seeds = [realisation_seed(11, i) for i in range(MICRO.realisations)]
    serial = [measured_cube(cube_inputs(design, MICRO, s)) for s in seeds]
    cache = ContentCache()
    with cluster(Settings(dask_address=dask_address)) as executor:
        assert executor is not None
        fanned = evaluate(DESIGN, MICRO, condition, seed=11, cache=cache, executor=executor)
        solved = cache.misses
        again = evaluate(DESIGN, MICRO, condition, seed=11, cache=cache, executor=executor)
    assert_close([asdict(c) for c in fanned.cubes], serial, **SAME_COMPUTATION)
    assert solved >= MICRO.realisations and cache.misses == solved  # the rerun was all cached
    assert again.cubes == fanned.cubes


def test_ensemble_members_trained_on_the_cluster_predict_as_serial_ones(
    dask_address: str, shared_data: Path
) -> None:
    records = calisol_records(shared_data / "calisol23" / "calisol23.csv", ["LiPF6"])
    rng = np.random.default_rng(0)
    train = [records[i] for i in rng.choice(len(records), 96, replace=False)]
    test = [records[i] for i in rng.choice(len(records), 16, replace=False)]
    config = TrainConfig(epochs=4, lr=3e-3, batch_size=32)
    serial = MixtureEnsemble.fit(train, config, members=3)
    with cluster(Settings(dask_address=dask_address)) as executor:
        fanned = MixtureEnsemble.fit(train, config, members=3, executor=executor)
    assert_close(fanned.ensemble.history, serial.ensemble.history, **SAME_COMPUTATION)
    expected, actual = serial.predict(test), fanned.predict(test)
    assert_close(actual.mean, expected.mean, **SAME_COMPUTATION)
    assert_close(actual.std, expected.std, **SAME_COMPUTATION)


def test_a_scheduler_nobody_runs_is_refused_by_name() -> None:
    settings = Settings(dask_address=f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(ConfigError, match=r"^dask_address: no Dask scheduler answers at tcp://"):
        with cluster(settings, timeout=1.0):
            pass
