"""Bayesian optimisation with Ax (``ax.api.Client``) over the unit cube of a mixture or a box.

Ax is imported only by modules named ``ax_*`` (import-linter enforces it): it costs 4–5 s to
import, so the registry imports this module only when a campaign asks for ``"ax"``. The Ax
set-up (parameters ``x0 … x{d-1}`` = `cube_map` coordinates, no parameter constraints,
latency settings) lives in `electroloop.planners.ax_support`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import ax
from ax.api import Client
from scipy.stats import qmc

from electroloop.errors import PlannerError
from electroloop.models import AnySpace, Candidate, Design, Estimate, Goal, Observation
from electroloop.planners.ax_support import (
    Op,
    RawValues,
    as_raw,
    ax_calls,
    client_snapshot,
    execute,
    goal_values,
    load_client,
    new_client,
    observed_front,
    parameter_names,
    quiet_ax_logs,
    usable_observations,
)
from electroloop.planners.cube_map import cube_map
from electroloop.planners.initial_design import initial_design_size
from electroloop.planners.mixture import (
    check_pending,
    pack_common_state,
    unpack_common_state,
)

logger = logging.getLogger(__name__)

SCORER = f"ax-platform {ax.__version__} BoTorch GP"
"""What predicts a candidate's objective once Ax's model-based node runs; tagged on every trial."""


@dataclass
class _Run:
    """One `get_next_trials` call on the worker thread."""

    n: int
    done: threading.Event = field(default_factory=threading.Event)
    snapshot_ready: threading.Event = field(default_factory=threading.Event)
    snapshot: dict[str, Any] | None = None  # the client just before this run
    trials: list[tuple[int, dict[str, float], Estimate | None]] = field(default_factory=list)
    error: BaseException | None = None
    late: bool = False  # the ask that started it stopped waiting


class AxPlanner:
    """Sobol initialisation, then GP Bayesian optimisation (Ax "fast"), reproducible from `seed`.

    - **Initial design**: `initialization_budget` quasi-random points, the centre first (default
      `initial_design_size`: d + 1, at least 5), then the GP; warm-start observations count
      towards them.
    - **Objectives and constraints**: every objective of `goal` (several: Ax's multi-objective
      BO with inferred thresholds) and its outcome constraints; `pareto_front()` lists the
      measured Pareto-optimal formulations (one objective: the best feasible one).
    - **Noise**: a metric told with its standard error (`Observation.errors`, e.g. the spread
      of a simulation over its random realisations) is modelled with that noise, so an
      uncertain design is worth sampling again; without one Ax infers the noise.
    - **Failed vs abandoned**: `mark_failed` leaves the trial FAILED in Ax, which may propose
      the point again; `mark_abandoned` marks it ABANDONED, which Ax never proposes again.
    - **Warm start**: `warm_start` observations from earlier campaigns are attached to Ax as
      completed trials before anything is asked, so they count towards the initialisation
      budget (BO starts as soon as they reach it). Observations outside this space (solvents,
      bounds, salt, parameters or temperature), or lacking a goal metric, are skipped and
      listed in `warm_start_skipped`.
    - **Pending batches**: `ask` may be called again before earlier candidates are told; Ax
      treats running trials as pending (BO fantasises their outcomes).
    - **Time budget** (`ask_timeout`, seconds; None: wait for Ax in the calling thread). With
      a budget, Ax generates on a worker thread. If it has not returned in time, `ask` returns
      points of a seeded scrambled Sobol' sequence of the cube instead (its position is part of
      the state), so a slow model never stalls the robot; they become Ax trials
      (``attach_trial``, no generation node) as soon as Ax is free, so later model runs see
      them as pending. The late model trials are kept, RUNNING, as the precomputed next batch:
      the next `ask` returns them first without waiting (the next batch is computed while the
      current one is measured), even if results arrived in between (they are one batch stale
      and did not see the fallback points as pending, but are still model-guided, where
      discarding them would leave a model that always misses the budget proposing only Sobol
      points). Those the next `ask` does not take are marked ABANDONED then (Ax keeps
      abandoned points pending for good, so they are not proposed again). A late run that fails
      is dropped with a warning. While the worker holds Ax, `tell`, `mark_failed` and
      `mark_abandoned` return at once and are applied in order when it finishes; a lock ensures
      one thread at a time uses the client. `wait()` blocks until the worker is done
      (`pareto_front` waits too). Python < 3.14 keeps one process-wide warning filter list,
      so warnings raised by other threads while the worker runs may be filtered by its rules.
    - **State**: `state()` is JSON; `from_state` restores trials, data, statuses, pending and
      precomputed trials and the Sobol position, and ids stay unique. A state taken while a
      late run is still computing holds the client as it was before that run plus the queued
      operations; the late run's trials are not part of it.

    Candidate ids are ``t0000``, ``t0001``… in proposal order (not Ax trial indices: warm-start
    and abandoned precomputed trials have indices but no candidate). Public methods are meant to
    be called from one thread; the worker thread is the planner's own.
    """

    name: ClassVar[str] = "ax"

    def __init__(
        self,
        space: AnySpace,
        goal: Goal,
        seed: int,
        initialization_budget: int | None = None,
        *,
        warm_start: Sequence[Observation] = (),
        ask_timeout: float | None = None,
    ) -> None:
        if initialization_budget is not None and initialization_budget < 1:
            raise PlannerError(f"initialization_budget is {initialization_budget}; allowed: >= 1")
        if ask_timeout is not None and not (math.isfinite(ask_timeout) and ask_timeout >= 0):
            raise PlannerError(f"ask_timeout is {ask_timeout!r}; allowed: None or seconds >= 0")
        quiet_ax_logs()
        self.space = space
        self.goal = goal
        self.seed = int(seed)
        self.ask_timeout = None if ask_timeout is None else float(ask_timeout)
        self.map = cube_map(space)
        self.initialization_budget = (
            max(1, initial_design_size(self.map.dimension))
            if initialization_budget is None
            else int(initialization_budget)
        )
        self._names = parameter_names(self.map.dimension)
        self._lock = threading.Lock()  # whoever holds it may use the client
        self._run: _Run | None = None  # the worker's current or last unintegrated run
        self._next_id = 0
        self._pending: list[str] = []  # asked, no outcome yet
        self._index: dict[str, int] = {}  # candidate id -> Ax trial index, once attached
        self._ready: list[tuple[int, dict[str, float], Estimate | None]] = []  # precomputed
        self._abandoned: dict[str, str] = {}  # candidate id -> reason (Ax keeps no reason)
        self._deferred: list[Op] = []  # client operations waiting for the worker to finish
        self._fallback = qmc.Sobol(self.map.dimension, scramble=True, rng=self.seed)
        self._fallback_drawn = 0
        self._data: dict[int, RawValues] = {}  # trial index -> exact values sent to Ax
        earlier, skipped = usable_observations(space, goal, self.map, self._names, warm_start)
        self.warm_start_skipped: list[tuple[str, str]] = skipped
        """(candidate id, reason) of the warm-start observations left out."""
        if self.warm_start_skipped:
            logger.warning(
                "warm start: skipped %d of %d observations outside this campaign: %s",
                len(self.warm_start_skipped),
                len(warm_start),
                "; ".join(f"{cid}: {why}" for cid, why in self.warm_start_skipped),
            )
        self._client = new_client(
            self.map.dimension, goal, self.seed, self.initialization_budget, center=not earlier
        )
        for params, raw in earlier:
            with ax_calls("attach a warm-start observation"):
                index = self._client.attach_trial(parameters=params)  # type: ignore[arg-type]
                self._client.complete_trial(trial_index=index, raw_data=raw)
            self._data[index] = raw

    @property
    def client(self) -> Client:
        """The underlying Ax client, for read-only inspection (call `wait()` first)."""
        return self._client

    # -- asking -------------------------------------------------------------------------------

    def ask(self, n: int) -> list[Candidate]:
        """`n` new candidates: precomputed model trials first, then Ax (or the Sobol fallback)."""
        if n < 0:
            raise PlannerError(f"asked for {n} candidates; allowed: n >= 0")
        if n == 0:
            return []
        deadline = None if self.ask_timeout is None else time.monotonic() + self.ask_timeout
        self._settle(deadline)
        batch = self._take_ready(n)
        fallback: list[list[float]] = []
        need = n - len(batch)
        if need and self._busy():
            fallback = self._draw_fallback(need)
        elif need and deadline is None:
            with self._lock:
                batch += self._generate(need)
        elif need:
            assert deadline is not None
            run = self._launch(need)
            if run.done.wait(max(0.0, deadline - time.monotonic())):
                self._settle(None)
                batch += self._take_ready(need)
            else:
                run.late = True
                fallback = self._draw_fallback(need)
                logger.warning(
                    "Ax did not propose %d trials within %.3g s; returning quasi-random points "
                    "(the model's trials become the next batch)",
                    need,
                    self.ask_timeout,
                )
        candidates = [
            self._candidate(params, predicted, index) for index, params, predicted in batch
        ]
        for point in fallback:
            params = dict(zip(self._names, point, strict=True))
            candidate = self._candidate(params, None, None)
            self._apply({"op": "attach", "id": candidate.id, "parameters": params})
            candidates.append(candidate)
        return candidates

    def _candidate(
        self, params: Mapping[str, float], predicted: Estimate | None, index: int | None
    ) -> Candidate:
        cid = f"t{self._next_id:04d}"
        self._next_id += 1
        self._pending.append(cid)
        if index is not None:
            self._index[cid] = index
        design = self.map.to_design([float(params[name]) for name in self._names])
        return Candidate(
            id=cid,
            design=design,
            planner=self.name,
            predicted=predicted,
            scored_by=SCORER if predicted is not None else None,
        )

    def _take_ready(self, n: int) -> list[tuple[int, dict[str, float], Estimate | None]]:
        """Up to `n` precomputed trials; the rest are stale from now on and abandoned."""
        taken, rest = self._ready[:n], self._ready[n:]
        self._ready = []
        for index, _params, _predicted in rest:
            self._apply({"op": "abandon_trial", "trial": index})
        return taken

    def _generate(self, n: int) -> list[tuple[int, dict[str, float], Estimate | None]]:
        """`n` trials from Ax with predictions; the caller holds the lock."""
        with ax_calls(f"generate {n} trials"):
            trials = self._client.get_next_trials(max_trials=n)
        if len(trials) < n:
            raise PlannerError(f"Ax generated {len(trials)} of the {n} trials asked for")
        points = [{k: float(v) for k, v in p.items()} for p in trials.values()]  # type: ignore[arg-type]
        predictions = self._predict(points)
        return list(zip(trials, points, predictions, strict=True))

    def _predict(self, points: list[dict[str, float]]) -> list[Estimate | None]:
        """The GP's mean and std of the first objective, or None while Ax is still Sobol."""
        try:
            with ax_calls("predict"):
                result = self._client.predict(points)  # type: ignore[arg-type]
            return [
                Estimate(mean=float(mean), std=float(sem))
                if math.isfinite(mean) and math.isfinite(sem)
                else None
                for mean, sem in (r[self.goal.primary.name] for r in result)
            ]
        except (PlannerError, KeyError, ValueError):
            return [None] * len(points)

    def _draw_fallback(self, n: int) -> list[list[float]]:
        """The next `n` points of the seeded scrambled Sobol' sequence."""
        # scipy warns when the first draw is not a power of 2 (balance properties); the
        # sequence does not depend on how it is split, so draw 1 first instead of touching the
        # process-wide warning filters while the worker thread may be using them.
        first = 1 if self._fallback_drawn == 0 and n & (n - 1) else 0
        points = [*self._fallback.random(first), *self._fallback.random(n - first)]
        self._fallback_drawn += n
        return [[float(c) for c in row] for row in points]

    # -- the worker thread --------------------------------------------------------------------

    def _launch(self, n: int) -> _Run:
        run = _Run(n)
        self._run = run
        threading.Thread(target=self._work, args=(run,), name="ax-ask", daemon=True).start()
        return run

    def _work(self, run: _Run) -> None:
        try:
            with self._lock:
                try:
                    run.snapshot = client_snapshot(self._client)
                finally:
                    run.snapshot_ready.set()
                run.trials = self._generate(run.n)
        except BaseException as exc:  # handed to the main thread by _settle
            run.error = exc
        finally:
            run.done.set()

    def _busy(self) -> bool:
        return self._run is not None and not self._run.done.is_set()

    def _settle(self, deadline: float | None) -> None:
        """Wait for a running worker until `deadline` (None: for good); if it is done, keep its
        trials as the precomputed batch and apply the queued client operations."""
        run = self._run
        if run is not None:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not run.done.wait(timeout):
                return
            self._run = None
            if run.error is not None:
                if not run.late:
                    if isinstance(run.error, PlannerError):
                        raise run.error
                    raise PlannerError(f"Ax could not generate trials: {run.error!r}")
                logger.warning("a late Ax run failed and was dropped: %r", run.error)
            else:
                self._ready.extend(run.trials)
        self._flush()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no Ax run is in flight (at most `timeout` s); True if none is."""
        self._settle(None if timeout is None else time.monotonic() + timeout)
        return not self._busy()

    # -- outcomes -----------------------------------------------------------------------------

    def _apply(self, op: Op) -> None:
        """Run `op` on the client now, or after the worker's run if it holds the client."""
        self._deferred.append(op)
        if not self._busy():
            self._flush()

    def _flush(self) -> None:
        if not self._deferred:
            return
        with self._lock:
            while self._deferred:
                execute(self._client, self._deferred[0], self._index, self._data)
                self._deferred.pop(0)

    def tell(self, observations: Sequence[Observation]) -> None:
        """Complete each candidate's trial with its measured metrics (all or nothing), each
        with its standard error where the observation gives one (`Observation.errors`)."""
        raws = [goal_values(self.goal, o) for o in observations]
        check_pending(self.name, self._pending, [o.candidate_id for o in observations])
        self._settle(time.monotonic())
        for observation, raw in zip(observations, raws, strict=True):
            self._pending.remove(observation.candidate_id)
            self._apply({"op": "complete", "id": observation.candidate_id, "values": raw})

    def tell_unplanned(self, observations: Sequence[Observation]) -> None:
        """Learn from measured formulations Ax did not propose (a reviewer's edits): each is
        attached as a completed trial, like a warm start; one outside the space is skipped."""
        self._settle(time.monotonic())
        for observation in observations:
            usable, skipped = usable_observations(
                self.space, self.goal, self.map, self._names, [observation]
            )
            for candidate_id, why in skipped:
                logger.warning("not telling Ax about %s: %s", candidate_id, why)
            for params, raw in usable:
                cid = observation.candidate_id
                self._apply({"op": "attach", "id": cid, "parameters": params})
                self._apply({"op": "complete", "id": cid, "values": raw})

    def tell_interim(self, candidate_id: str, values: Mapping[str, Estimate]) -> None:
        """Interim estimates (mean, std) for a candidate still running, e.g. a cell's predicted
        retention at cycle 50 of 100. The trial stays RUNNING with this data, which Ax models
        like any other (noisier) observation; a later interim or `tell` replaces it."""
        check_pending(self.name, self._pending, [candidate_id])
        missing = sorted(set(self.goal.metrics) - set(values))
        if missing:
            raise PlannerError(f"interim values of {candidate_id} lack {missing}")
        for metric, estimate in values.items():
            if not (math.isfinite(estimate.mean) and math.isfinite(estimate.std)):
                raise PlannerError(f"interim {metric} of {candidate_id} is {estimate}; not finite")
        self._settle(time.monotonic())
        raw = {m: [values[m].mean, values[m].std] for m in self.goal.metrics}
        self._apply({"op": "interim", "id": candidate_id, "values": raw})

    def mark_failed(self, candidate_id: str, reason: str) -> None:
        """Mark the trial FAILED; Ax may propose the same point again."""
        check_pending(self.name, self._pending, [candidate_id])
        self._settle(time.monotonic())
        self._pending.remove(candidate_id)
        self._apply({"op": "fail", "id": candidate_id, "reason": reason})

    def mark_abandoned(self, candidate_id: str, reason: str) -> None:
        """Mark the trial ABANDONED (e.g. a safety veto); Ax never proposes it again."""
        check_pending(self.name, self._pending, [candidate_id])
        self._settle(time.monotonic())
        self._pending.remove(candidate_id)
        self._abandoned[candidate_id] = reason
        self._apply({"op": "abandon", "id": candidate_id})

    # -- results ------------------------------------------------------------------------------

    def pareto_front(self) -> list[tuple[Design, dict[str, float]]]:
        """Measured Pareto-optimal designs with their metrics (one objective: the best).

        Observed values, not model predictions; trials violating an outcome constraint are
        excluded. Waits for an Ax run still in flight.
        """
        self._settle(None)
        with self._lock:
            front = observed_front(self._client, self.goal, self._names)
        return [(self.map.to_design(point), values) for point, values in front]

    # -- state --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Settings, bookkeeping and the Ax client's own JSON snapshot (as a dict)."""
        self._settle(time.monotonic())
        run = self._run
        if run is not None:  # still computing: the client as it was before the run
            run.snapshot_ready.wait()
            if run.snapshot is None:
                raise PlannerError("the Ax client could not be saved before the running ask")
            snapshot = run.snapshot
        else:
            with self._lock:
                snapshot = client_snapshot(self._client)
        return {
            **pack_common_state(self.name, self.space, self.goal, self.seed),
            "initialization_budget": self.initialization_budget,
            "ask_timeout": self.ask_timeout,
            "next_id": self._next_id,
            "pending": list(self._pending),
            "trials": dict(self._index),
            "ready": [
                {
                    "trial": index,
                    "parameters": dict(params),
                    "predicted": None if p is None else p.model_dump(mode="json"),
                }
                for index, params, p in self._ready
            ],
            "abandoned": dict(self._abandoned),
            # Ax's snapshot keeps 10 significant digits of the data; these are the exact values.
            "data": {
                str(index): {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
                for index, values in self._data.items()
            },
            "deferred": [dict(op) for op in self._deferred],
            "fallback_drawn": self._fallback_drawn,
            "warm_start_skipped": [list(pair) for pair in self.warm_start_skipped],
            "client": snapshot,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        space, goal, seed = unpack_common_state(state, cls.name)
        try:
            timeout = state["ask_timeout"]
            planner = cls(
                space,
                goal,
                seed,
                int(state["initialization_budget"]),
                ask_timeout=None if timeout is None else float(timeout),
            )
            planner._next_id = int(state["next_id"])
            planner._pending = [str(cid) for cid in state["pending"]]
            planner._index = {str(k): int(v) for k, v in state["trials"].items()}
            planner._ready = [
                (
                    int(r["trial"]),
                    {str(k): float(v) for k, v in r["parameters"].items()},
                    None if r["predicted"] is None else Estimate.model_validate(r["predicted"]),
                )
                for r in state["ready"]
            ]
            planner._abandoned = {str(k): str(v) for k, v in state["abandoned"].items()}
            planner._data = {int(k): as_raw(v) for k, v in state["data"].items()}
            planner._deferred = [dict(op) for op in state["deferred"]]
            drawn = int(state["fallback_drawn"])
            if drawn < 0:
                raise ValueError(f"fallback_drawn is {drawn}")
            if drawn:
                planner._fallback.fast_forward(drawn)
            planner._fallback_drawn = drawn
            planner.warm_start_skipped = [(str(a), str(b)) for a, b in state["warm_start_skipped"]]
            snapshot = state["client"]
            if not isinstance(snapshot, dict):
                raise ValueError("'client' is not an Ax Client snapshot with an experiment")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlannerError(f"invalid ax planner state: {exc!r}") from exc
        client = load_client(snapshot, seed)
        with ax_calls("restore its data"):
            for index, values in planner._data.items():  # replaces the rounded copies
                client.attach_data(trial_index=index, raw_data=values)
        planner._client = client
        planner._flush()
        return planner
