"""Oracle calls as Prefect tasks: retried when a calculation fails, fanned out over threads or a
Dask cluster, and never computed twice (the oracle's content cache answers repeats).

A screen is one flow run with a task run per molecule, so a technician sees each calculation's
state in the Prefect UI, and a failed molecule is reported without failing the screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect import Task, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from electroloop.errors import ConfigError
from electroloop.models import FrozenModel
from electroloop.simulations.oracle import CalculationFailed
from electroloop.simulations.oracle.cache import ResultCache, molecule
from electroloop.simulations.oracle.molecules import MoleculeResult, XtbParameters

Runner = Literal["threads", "dask"]


class ScreenResult(FrozenModel):
    """What a screen produced: one result per molecule that worked, the reason for each that
    did not, and where the results are cached."""

    results: dict[str, MoleculeResult] = Field(description="SMILES -> oracle result.")
    failures: dict[str, str] = Field(description="SMILES -> why it failed (after retries).")
    cache: str


def _retry_only_failed_calculations(task: Task[Any, Any], run: TaskRun, state: State) -> bool:
    """Retry an SCF that did not converge (a new attempt may); never a bad SMILES (it won't)."""
    try:
        state.result()
    except CalculationFailed:
        return True
    except Exception:  # noqa: BLE001  anything else is not worth a second try
        return False
    return False


@task(
    cache_policy=NO_CACHE,  # the oracle's content cache knows what is computed; Prefect's need not
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=_retry_only_failed_calculations,
    task_run_name="xtb-{smiles}",
)
def evaluate_molecule(smiles: str, cache_path: str, params: XtbParameters) -> MoleculeResult:
    """GFN2-xTB energies, IP/EA and redox estimates of one molecule, through the cache."""
    return molecule(ResultCache(Path(cache_path)), smiles, params)


@flow(name="oracle-screen", log_prints=True)
def oracle_screen(
    smiles: list[str], cache_path: str, params: XtbParameters | None = None
) -> ScreenResult:
    """Evaluate every molecule; failures are collected, not raised."""
    params = params or XtbParameters()
    futures = {s: evaluate_molecule.submit(s, cache_path, params) for s in dict.fromkeys(smiles)}
    results: dict[str, MoleculeResult] = {}
    failures: dict[str, str] = {}
    for s, future in futures.items():
        try:
            r = results[s] = future.result()
        except Exception as exc:  # noqa: BLE001  the reason is what the scientist needs
            failures[s] = f"{type(exc).__name__}: {exc}"
            print(f"{s}: FAILED {failures[s]}")
        else:
            print(f"{s}: IP {r.ip:.2f} eV, EA {r.ea:.2f} eV, E_ox {r.oxidation_potential:.2f} V")
    return ScreenResult(results=results, failures=failures, cache=cache_path)


def screen(
    smiles: list[str],
    cache_path: Path,
    *,
    runner: Runner = "threads",
    workers: int = 2,
    params: XtbParameters | None = None,
    address: str | None = None,
) -> ScreenResult:
    """Run `oracle_screen` on `workers` threads, or with Dask: on the lab's cluster at
    `address` (`Settings.dask_address`; its workers must reach `cache_path`, e.g. a shared
    folder), else on a local cluster of `workers` processes."""
    if workers < 1:
        raise ConfigError(f"workers is {workers}; allowed: >= 1")
    if runner == "threads":
        chosen: Any = ThreadPoolTaskRunner(max_workers=workers)
    elif runner == "dask":
        chosen = dask_runner(address, workers)
    else:
        raise ConfigError(f"runner is {runner!r}; allowed: 'threads', 'dask'")
    return oracle_screen.with_options(task_runner=chosen)(smiles, str(cache_path), params)


def dask_runner(address: str | None, workers: int = 2) -> Any:
    """Prefect's Dask task runner on the cluster at `address`, or on a new local cluster."""
    from prefect_dask import DaskTaskRunner  # only when a Dask fan-out is asked for

    if address is not None:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True}
    )
