"""Ax plumbing behind `AxPlanner`: the client's configuration, snapshots and guarded calls.

Only modules named ``ax_*`` may import Ax (import-linter enforces it): Ax costs 4–5 s to import.

Ax sees the space as a plain box: ``x0 … x{d-1}`` in [0, 1] are the coordinates of its
`cube_map` (for a mixture, ``MixtureMap.coordinates`` names them), so no parameter constraint is
ever sent to Ax (a linear sum constraint made a batch of 4 take 17–28 s, ../shared/STACK.md §5).

Latency settings (measured with `benchmarks/ax_latency.py`):

- every Ax call runs with ``torch.set_num_threads(1)`` (in the calling thread only): fits and
  acquisitions on a few hundred points gain nothing from a second thread (on an idle 2-core
  machine a two-objective ``ask(4)`` at 100 trials took 2.9 s with one, 4.7 s with two), and
  when the cores are busy (orchestrator, Prefect, MLflow, other campaigns) OpenMP threads
  spinning against each other made a single-objective ``ask(4)`` at 100 trials take 25–45 s
  instead of 1–3 s;
- through the "MBM" node's ``model_gen_options``, acquisition optimisation uses
  `ACQUISITION_OPTIONS` (fewer restarts and raw samples than BoTorch, no second attempt after
  an L-BFGS-B warning) and, with several objectives, `MULTI_OBJECTIVE_OPTIONS` (no baseline
  pruning, fewer MC samples).

Ax's ``configure_generation_strategy`` has no such options, so `new_client` builds the same
strategy with Ax's own ``choose_generation_strategy`` and sets it with
``Client.set_generation_strategy``; the options are saved in the client's snapshot.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from ax.api import Client, RangeParameterConfig
from ax.api.utils.generation_strategy_dispatch import choose_generation_strategy
from ax.api.utils.structs import GenerationStrategyDispatchStruct
from ax.core.trial_status import TrialStatus
from ax.exceptions.core import AxError, AxOptimizationWarning
from ax.utils.common.logger import set_ax_logger_levels
from botorch.exceptions.warnings import NumericsWarning, OptimizationWarning
from gpytorch.utils.warnings import NumericalWarning

from electroloop.errors import PlannerError
from electroloop.models import AnySpace, Goal, Observation, SearchSpace
from electroloop.planners.cube_map import CubeMap

ACQUISITION_OPTIONS: dict[str, Any] = {
    "num_restarts": 5,
    "raw_samples": 128,
    "retry_on_optimization_warning": False,
}
"""BoTorch ``optimize_acqf`` settings for every model-based trial.

BoTorch's defaults are 20 restarts from the best of 1024 raw samples, and a second full
optimisation from new starts whenever L-BFGS-B stops with a warning (in profiled asks at 100
trials of the conductivity problem this doubled the optimisation time).
"""

MULTI_OBJECTIVE_OPTIONS: dict[str, Any] = {"prune_baseline": False, "mc_samples": 64}
"""Input-constructor arguments of qLogNEHVI (several objectives; defaults: True and 128).

Pruning the baseline to its probably-Pareto-optimal points draws 2048 posterior samples and
checks each for dominance, once per trial: about 3 of the 9.5 s of a two-objective ``ask(4)``
at 100 trials. Without it, and with half the MC samples, the same ask took 3–3.5 s; the
hypervolume after 24 trials did not drop (benchmarks/ax_latency.py --efficiency).
"""

TORCH_THREADS = 1
"""Intra-op threads torch may use during an Ax call (restored afterwards)."""

Op = dict[str, Any]
"""A client operation, JSON-serialisable so that queued ones can be saved: ``{"op": "attach",
"id", "parameters"}``, ``{"op": "complete", "id", "values"}``, ``{"op": "fail", "id",
"reason"}``, ``{"op": "abandon", "id"}`` or ``{"op": "abandon_trial", "trial"}``."""


def parameter_names(dimension: int) -> list[str]:
    """Ax's names for the cube coordinates: ``x0 … x{dimension-1}``."""
    return [f"x{i}" for i in range(dimension)]


def quiet_ax_logs() -> None:
    """Drop Ax's INFO chatter (one line per trial); touches Ax's loggers and handler only.

    Each Ax module logger sets its own INFO level and Ax's root logger has its own stderr
    handler, so the level of the ``ax`` logger alone silences nothing: Ax's helper sets the
    existing loggers and that handler (modules imported later still stop at the handler).
    """
    logging.getLogger("ax").setLevel(logging.WARNING)
    set_ax_logger_levels(logging.WARNING)


def no_kernel_compilation() -> None:
    """Keep BoTorch from compiling its fused qLogNEHVI kernel at run time.

    On first use BoTorch JIT-compiles a C++ kernel (`torch.utils.cpp_extension.load`, with a
    compiler, ninja and `-march=native`) and holds a lock file under ~/.cache/torch_extensions
    while it does. A process killed meanwhile leaves that lock behind, and every later
    multi-objective proposal on the machine then waits on it forever (found when a killed test
    run did exactly that). BoTorch's documented fallback, its pure-Python path, computes the
    same acquisition; the project takes it always.
    """
    from botorch.acquisition.multi_objective import logei

    logei._load_attempted = True  # BoTorch's own "already tried" flag: no compile, no lock


no_kernel_compilation()  # whichever way an Ax planner comes to be (built, restored, tested)


@contextmanager
def ax_calls(action: str) -> Iterator[None]:
    """Turn Ax errors into `PlannerError`, mute expected warnings, run torch on one thread.

    Muted: the numerical warnings of small-data fits (fit or acquisition optimisation not
    converged, jitter added: expected with a handful of points; botorch already retries), and
    for several objectives Ax's note that no objective thresholds were given (Ax infers them
    from the data, which is what we want: a lab rarely knows a reference point up front).
    Under pytest's ``error`` filter these would otherwise fail tests.
    """
    threads = torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        warnings.simplefilter("ignore", NumericsWarning)
        warnings.simplefilter("ignore", NumericalWarning)
        # botorch re-raises a failed acquisition optimisation as a RuntimeWarning and retries.
        warnings.filterwarnings("ignore", "Optimization failed", RuntimeWarning)
        warnings.filterwarnings(
            "ignore",
            "Encountered a `MultiObjective` without objective thresholds",
            AxOptimizationWarning,
        )
        warnings.filterwarnings(
            "ignore", "To copy construct from a tensor", UserWarning, r"ax\.generators\.torch"
        )
        torch.set_num_threads(TORCH_THREADS)
        try:
            yield
        except AxError as exc:
            raise PlannerError(f"Ax could not {action}: {exc}") from exc
        finally:
            torch.set_num_threads(threads)


def objective_string(goal: Goal) -> str:
    """Ax's objective expression: ``"a, -b"`` for maximise a, minimise b."""
    return ", ".join(f"{'-' if o.direction == 'minimize' else ''}{o.name}" for o in goal.objectives)


def new_client(
    dimension: int, goal: Goal, seed: int, initialization_budget: int, *, center: bool = True
) -> Client:
    """An Ax client over the unit cube: Sobol (centre first if `center`), then GP BO ("fast").

    Pass ``center=False`` when trials will be attached before the first ask (a warm start):
    Ax's centre node otherwise hands over to Sobol, which proposes one more quasi-random point
    before noticing that the attached trials already met the initialisation budget.
    """
    client = Client(random_seed=seed)
    with ax_calls("configure the experiment"):
        client.configure_experiment(
            name="electroloop",
            parameters=[
                RangeParameterConfig(name=name, bounds=(0.0, 1.0), parameter_type="float")
                for name in parameter_names(dimension)
            ],
        )
        client.configure_optimization(
            objective=objective_string(goal),
            outcome_constraints=[str(c) for c in goal.outcome_constraints] or None,
        )
        strategy = choose_generation_strategy(
            GenerationStrategyDispatchStruct(
                method="fast",
                initialization_budget=initialization_budget,
                initialization_random_seed=seed,
                initialize_with_center=center,
                # The lab may ask again before results are in: keep proposing Sobol points
                # rather than returning fewer candidates than asked for.
                allow_exceeding_initialization_budget=True,
            )
        )
        # Interim data (a cell still cycling, `AxPlanner.tell_interim`) counts towards leaving
        # the initialisation: otherwise Ax waits for a COMPLETED trial, i.e. for a whole
        # cycle-life test, before its model sees anything. Campaigns that never attach interim
        # data behave exactly as before.
        for node in strategy.nodes_by_name.values():
            for criterion in node.transition_criteria or ():
                if getattr(criterion, "count_only_trials_with_data", False):
                    criterion.only_in_statuses = [TrialStatus.COMPLETED, TrialStatus.RUNNING]
        model_node = strategy.nodes_by_name["MBM"]
        for spec in model_node.generator_specs:
            spec.generator_gen_kwargs["model_gen_options"] = {
                "optimizer_kwargs": dict(ACQUISITION_OPTIONS),
                "acquisition_function_kwargs": (
                    dict(MULTI_OBJECTIVE_OPTIONS) if len(goal.objectives) > 1 else {}
                ),
            }
        client.set_generation_strategy(strategy)
    return client


def client_snapshot(client: Client) -> dict[str, Any]:
    """The client's own JSON snapshot, as a dict."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ax_client.json"
        with ax_calls("save its state"):
            client.save_to_json_file(str(path))
        snapshot: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return snapshot


def load_client(snapshot: Mapping[str, Any], seed: int) -> Client:
    """Rebuild a client from `client_snapshot` output; `PlannerError` if it is not one."""
    if (
        snapshot.get("_type") != "Client"
        or not isinstance(snapshot.get("experiment"), dict)
        or snapshot["experiment"].get("__type") != "Experiment"
    ):
        raise PlannerError("'client' is not an Ax Client snapshot with an experiment")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ax_client.json"
        path.write_text(json.dumps(snapshot), encoding="utf-8")
        try:
            with ax_calls("restore its state"):
                client = Client.load_from_json_file(str(path))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlannerError(f"invalid Ax client snapshot in state: {exc!r}") from exc
    # The snapshot does not carry the client's seed; without it BO steps after a restore
    # would not repeat those of an uninterrupted run.
    client._random_seed = seed
    return client


def trial_statuses(client: Client) -> dict[int, str]:
    """Trial index -> Ax status name (``RUNNING``, ``COMPLETED``, ``FAILED``, ``ABANDONED``…)."""
    with ax_calls("summarize its trials"):
        frame = client.summarize()
    if frame.empty:
        return {}
    return {
        int(i): str(s)
        for i, s in zip(frame["trial_index"].tolist(), frame["trial_status"].tolist(), strict=True)
    }


def _any_feasible(client: Client, goal: Goal) -> bool:
    """Whether a completed trial has every metric and meets every outcome constraint."""
    with ax_calls("summarize its trials"):
        frame = client.summarize()
    if frame.empty or any(m not in frame.columns for m in goal.metrics):
        return False
    for _, row in frame[frame["trial_status"] == "COMPLETED"].iterrows():
        values = {m: float(row[m]) for m in goal.metrics}
        if all(math.isfinite(v) for v in values.values()) and all(
            c.satisfied(values[c.metric]) for c in goal.outcome_constraints
        ):
            return True
    return False


def observed_front(
    client: Client, goal: Goal, names: Sequence[str]
) -> list[tuple[list[float], dict[str, float]]]:
    """Measured Pareto front (several objectives) or best trial (one), as cube points.

    Uses observed values, not model predictions (no fit needed), and skips trials that violate
    an outcome constraint. Empty until a completed trial meets them all.
    """
    if not _any_feasible(client, goal):
        return []
    with ax_calls("find the best trials"):
        if len(goal.objectives) > 1:
            points = client.get_pareto_frontier(use_model_predictions=False)
        else:
            try:
                points = [client.get_best_parameterization(use_model_predictions=False)]
            except AssertionError:  # Ax's none_throws: it found no feasible trial after all
                return []
    front = []
    for parameters, outcome, _index, _arm in points:
        values = {}
        for metric in goal.metrics:
            value = outcome.get(metric)
            mean = value[0] if isinstance(value, tuple) else value
            if mean is not None and math.isfinite(float(mean)):
                values[metric] = float(mean)
        front.append(([float(parameters[n]) for n in names], values))  # type: ignore[arg-type]
    return front


RawValues = dict[str, float | tuple[float, float]]
"""Metric -> value, or (mean, standard error) for an interim estimate."""


def as_raw(values: Mapping[str, Any]) -> RawValues:
    """Values as Ax takes them: JSON lists ``[mean, sem]`` back to tuples."""
    return {
        k: (float(v[0]), float(v[1])) if isinstance(v, list | tuple) else float(v)
        for k, v in values.items()
    }


def execute(client: Client, op: Op, index: dict[str, int], data: dict[int, RawValues]) -> None:
    """Apply `op` to `client`; `index` (candidate id -> trial) and `data` (trial -> exact
    values) are updated with the trials it attaches and the values it completes them with."""
    kind = op["op"]
    with ax_calls(f"{kind} a trial"):
        if kind == "attach":
            index[op["id"]] = client.attach_trial(parameters=op["parameters"])
        elif kind == "complete":
            trial = index[op["id"]]
            client.complete_trial(trial_index=trial, raw_data=as_raw(op["values"]))
            data[trial] = as_raw(op["values"])
        elif kind == "interim":  # the trial stays RUNNING; later data replaces this
            trial = index[op["id"]]
            client.attach_data(trial_index=trial, raw_data=as_raw(op["values"]))
            data[trial] = as_raw(op["values"])
        elif kind == "fail":
            client.mark_trial_failed(trial_index=index[op["id"]], failed_reason=op["reason"])
        elif kind == "abandon":
            client.mark_trial_abandoned(trial_index=index[op["id"]])
        elif kind == "abandon_trial":
            client.mark_trial_abandoned(trial_index=int(op["trial"]))
        else:
            raise PlannerError(f"unknown queued Ax operation {kind!r}")


def goal_values(goal: Goal, observation: Observation) -> RawValues:
    """The goal's metrics of `observation`, each with its standard error where the observation
    gives one (Ax then models it as that noise instead of inferring it); `PlannerError` if one
    is missing or not finite."""
    values: RawValues = {}
    for metric in goal.metrics:
        value = observation.values.get(metric)
        if value is None or not math.isfinite(value):
            raise PlannerError(
                f"observation of {observation.candidate_id} has {metric}={value!r}; "
                "allowed: a finite number (mark_failed a candidate that was not measured)"
            )
        error = observation.errors.get(metric)
        values[metric] = float(value) if error is None else (float(value), float(error))
    return values


def usable_observations(
    space: AnySpace,
    goal: Goal,
    cube: CubeMap,
    names: Sequence[str],
    observations: Sequence[Observation],
) -> tuple[list[tuple[dict[str, float], RawValues]], list[tuple[str, str]]]:
    """Warm start: (Ax parameters, metrics) of the observations inside `space`, and
    (candidate id, reason) of the others (other solvents, bounds, salt, parameters or
    temperature, or a goal metric missing)."""
    usable, skipped = [], []
    for observation in observations:
        design = observation.design
        try:
            space.check(design)
            if isinstance(space, SearchSpace) and design.temperature != space.temperature:  # type: ignore[attr-defined]
                raise ValueError(
                    f"temperature is {design.temperature} °C; "  # type: ignore[attr-defined]
                    f"allowed: {space.temperature} °C"
                )
            values = goal_values(goal, observation)
            point = cube.to_unit(design)
        except (ValueError, PlannerError) as exc:
            skipped.append((observation.candidate_id, str(exc)))
            continue
        usable.append((dict(zip(names, point, strict=True)), values))
    return usable, skipped
