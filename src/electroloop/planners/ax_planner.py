"""Bayesian optimisation with Ax (``ax.api.Client``) over the mixture cube.

The only module allowed to import Ax (import-linter enforces it): Ax costs 4–5 s to import, so
the registry imports this module only when a campaign asks for ``"ax"``.

Ax sees an unconstrained box (u0..u{k-2} in [0, 1] and ``molality`` in the salt's bounds);
`MixtureMap` turns each point into a valid formulation. A sum constraint in Ax instead made a
batch of 4 take 17–28 s (../shared/STACK.md §5).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

from ax.api import Client, RangeParameterConfig
from ax.exceptions.core import AxError
from ax.utils.common.logger import set_ax_logger_levels
from botorch.exceptions.warnings import NumericsWarning, OptimizationWarning
from gpytorch.utils.warnings import NumericalWarning

from electroloop.errors import PlannerError
from electroloop.models import Candidate, Estimate, Goal, Observation, SearchSpace
from electroloop.planners.mixture import (
    STATE_VERSION,
    MixtureMap,
    check_pending,
    unpack_common_state,
)

MOLALITY = "molality"


def _quiet_ax_logs() -> None:
    """Drop Ax's INFO chatter (one line per trial); touches Ax's loggers and handler only.

    Each Ax module logger sets its own INFO level and Ax's root logger has its own stderr
    handler, so the level of the ``ax`` logger alone silences nothing: Ax's helper sets the
    existing loggers and that handler (modules imported later still stop at the handler).
    """
    logging.getLogger("ax").setLevel(logging.WARNING)
    set_ax_logger_levels(logging.WARNING)


@contextmanager
def _ax_calls(action: str) -> Iterator[None]:
    """Turn Ax errors into `PlannerError` and mute the numerical warnings of small-data fits.

    Those warnings (fit or acquisition optimisation not converged, jitter added; plain
    `Warning`/`RuntimeWarning` subclasses, so errors under pytest) are expected with a handful of
    points; botorch already retries, and they must not become test errors.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        warnings.simplefilter("ignore", NumericsWarning)
        warnings.simplefilter("ignore", NumericalWarning)
        # botorch re-raises a failed acquisition optimisation as a RuntimeWarning and retries.
        warnings.filterwarnings("ignore", "Optimization failed", RuntimeWarning)
        try:
            yield
        except AxError as exc:
            raise PlannerError(f"Ax could not {action}: {exc}") from exc


class AxPlanner:
    """Sobol initialisation then GP-based BO (Ax "fast" strategy), reproducible from `seed`."""

    name: ClassVar[str] = "ax"

    def __init__(
        self,
        space: SearchSpace,
        goal: Goal,
        seed: int,
        initialization_budget: int = 8,
    ) -> None:
        if initialization_budget < 1:
            raise PlannerError(f"initialization_budget is {initialization_budget}; allowed: >= 1")
        _quiet_ax_logs()
        self.space = space
        self.goal = goal
        self.seed = int(seed)
        self.initialization_budget = int(initialization_budget)
        self.map = MixtureMap(space)
        self._pending: dict[str, int] = {}  # candidate id -> Ax trial index, awaiting a result
        self._client = self._new_client()

    @property
    def client(self) -> Client:
        """The underlying Ax client, for read-only inspection (``summarize()``, analyses)."""
        return self._client

    @property
    def _fraction_names(self) -> list[str]:
        return [f"u{i}" for i in range(self.map.dimension - 1)]

    def _new_client(self) -> Client:
        salt = self.space.salt
        client = Client(random_seed=self.seed)
        with _ax_calls("configure the experiment"):
            client.configure_experiment(
                name="electroloop",
                parameters=[
                    *(
                        RangeParameterConfig(name=n, bounds=(0.0, 1.0), parameter_type="float")
                        for n in self._fraction_names
                    ),
                    RangeParameterConfig(
                        name=MOLALITY,
                        bounds=(salt.min_molality, salt.max_molality),
                        parameter_type="float",
                    ),
                ],
            )
            client.configure_optimization(
                objective=", ".join(
                    f"{'-' if o.direction == 'minimize' else ''}{o.name}"
                    for o in self.goal.objectives
                ),
                outcome_constraints=[str(c) for c in self.goal.outcome_constraints] or None,
            )
            client.configure_generation_strategy(
                initialization_budget=self.initialization_budget,
                initialization_random_seed=self.seed,
                # The lab may ask again before results are in: keep proposing Sobol points
                # rather than returning fewer candidates than asked for.
                allow_exceeding_initialization_budget=True,
            )
        return client

    def _unit(self, parameters: dict[str, Any]) -> list[float]:
        salt = self.space.salt
        span = salt.max_molality - salt.min_molality
        molality = float(parameters[MOLALITY])
        m = 0.5 if span <= 0 else (molality - salt.min_molality) / span
        return [float(parameters[n]) for n in self._fraction_names] + [m]

    def ask(self, n: int) -> list[Candidate]:
        """`n` new trials from Ax; predictions attached once a GP is fitted."""
        if n < 0:
            raise PlannerError(f"asked for {n} candidates; allowed: n >= 0")
        if n == 0:
            return []
        with _ax_calls(f"generate {n} trials"):
            trials = self._client.get_next_trials(max_trials=n)
        if len(trials) < n:
            raise PlannerError(f"Ax generated {len(trials)} of the {n} trials asked for")
        predictions = self._predict(list(trials.values()))
        candidates = []
        for (index, parameters), predicted in zip(trials.items(), predictions, strict=True):
            cid = f"t{index:04d}"
            self._pending[cid] = index
            candidates.append(
                Candidate(
                    id=cid,
                    formulation=self.map.to_formulation(self._unit(dict(parameters))),
                    planner=self.name,
                    predicted=predicted,
                )
            )
        return candidates

    def _predict(self, points: list[Any]) -> list[Estimate | None]:
        """The GP's mean and std at `points` (milliseconds), or None while Ax is still Sobol."""
        try:
            with _ax_calls("predict"):
                result = self._client.predict(points)
            return [
                Estimate(mean=float(mean), std=float(sem))
                if math.isfinite(mean) and math.isfinite(sem)
                else None
                for mean, sem in (r[self.goal.primary.name] for r in result)
            ]
        except (PlannerError, KeyError, ValueError):
            return [None] * len(points)

    def tell(self, observations: Sequence[Observation]) -> None:
        """Complete each candidate's trial with its measured objective value.

        All observations are checked before Ax is told anything, so a bad batch changes nothing.
        """
        metrics = self.goal.metrics
        for observation in observations:
            for metric in metrics:
                value = observation.values.get(metric)
                if value is None or not math.isfinite(value):
                    raise PlannerError(
                        f"observation of {observation.candidate_id} has {metric}={value!r}; "
                        "allowed: a finite number (mark_failed a candidate that was not measured)"
                    )
        check_pending(self.name, self._pending, [o.candidate_id for o in observations])
        for observation in observations:
            index = self._pending.pop(observation.candidate_id)
            raw = {metric: float(observation.values[metric]) for metric in metrics}
            with _ax_calls(f"complete trial {index}"):
                self._client.complete_trial(trial_index=index, raw_data=raw)

    def mark_failed(self, candidate_id: str, reason: str) -> None:
        """Mark the trial FAILED; Ax may propose the same point again."""
        check_pending(self.name, self._pending, [candidate_id])
        index = self._pending.pop(candidate_id)
        with _ax_calls(f"mark trial {index} failed"):
            self._client.mark_trial_failed(trial_index=index, failed_reason=reason)

    def state(self) -> dict[str, Any]:
        """Settings, pending ids and the Ax client's own JSON snapshot (as a dict)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ax_client.json"
            with _ax_calls("save its state"):
                self._client.save_to_json_file(str(path))
            client = json.loads(path.read_text(encoding="utf-8"))
        return {
            "planner": self.name,
            "version": STATE_VERSION,
            "space": self.space.model_dump(mode="json"),
            "goal": self.goal.model_dump(mode="json"),
            "seed": self.seed,
            "initialization_budget": self.initialization_budget,
            "pending": dict(self._pending),
            "client": client,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        space, goal, seed = unpack_common_state(state, cls.name)
        try:
            planner = cls(space, goal, seed, int(state["initialization_budget"]))
            planner._pending = {str(k): int(v) for k, v in state["pending"].items()}
            snapshot = state["client"]
            if (
                snapshot.get("_type") != "Client"
                or not isinstance(snapshot.get("experiment"), dict)
                or snapshot["experiment"].get("__type") != "Experiment"
            ):
                raise ValueError("'client' is not an Ax Client snapshot with an experiment")
            client_json = json.dumps(state["client"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlannerError(f"invalid ax planner state: {exc!r}") from exc
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ax_client.json"
            path.write_text(client_json, encoding="utf-8")
            try:
                with _ax_calls("restore its state"):
                    client = Client.load_from_json_file(str(path))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise PlannerError(f"invalid Ax client snapshot in state: {exc!r}") from exc
        # The snapshot does not carry the client's seed; without it BO steps after a restore
        # would not repeat those of an uninterrupted run.
        client._random_seed = seed
        planner._client = client
        return planner
