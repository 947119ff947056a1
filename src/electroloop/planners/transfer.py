"""Bayesian optimisation that starts from what is already known, and lets the data decide how
far to trust it.

Related data (a physics model's or a surrogate's predictions, sampled over this campaign's
space; earlier campaigns; published measurements of other labs) enter as *related tasks* of a
multi-task Gaussian process beside this campaign's own measurements (K. Swersky, J. Snoek,
R. P. Adams, "Multi-task Bayesian optimization", NeurIPS 2013). The intrinsic coregionalisation
kernel (E. V. Bonilla, K. M. A. Chai, C. K. I. Williams, NeurIPS 2007; BoTorch's
`MultiTaskGP`) learns, by marginal likelihood, how strongly each task correlates with this
campaign: a right prior makes the first experiments count. Because the tasks share the kernel's
length scales, a wrong prior would still bend the campaign's model; so once the campaign has as
many measurements as an initial design (d + 1), a related task stays only while it ranks them
better than chance (Kendall's τ, `TRUST_P`), and a wrong one costs about an initial design.

Inputs are physical, not the cube: a formulation is its solvent fractions (over the campaign's
solvents), molality and temperature, a box design its parameters, each scaled by the campaign's
bounds (`DesignFeatures`). So data measured at another temperature, over other bounds or a
subset of the solvents is used where it lies, not filtered out; a row with a solvent the
campaign lacks cannot be placed and is skipped (`TransferPlanner.skipped` counts them).

Proposals: before the campaign's first measurement, the best of a GP over the related data
(pooled, each task standardised on its own); after it, batch log noisy expected improvement
(S. Ament et al., "Unexpected improvements to expected improvement", NeurIPS 2023) on this
campaign's task, maximised over a scrambled Sobol' set of the cube plus points around the best
measured ones (the cube → design map is not differentiable, so candidates are scored, not
followed by gradients). Without related data the first `initialization_budget` points are
Sobol' (centre first), as for Ax.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.stats import qmc

from electroloop.errors import PlannerError, SimulationError
from electroloop.models import (
    AnySpace,
    BoxSpace,
    Design,
    DesignPoint,
    Formulation,
    Goal,
    Observation,
    RangeParameter,
)
from electroloop.planners.cube import CubePlanner
from electroloop.planners.initial_design import initial_design_size
from electroloop.planners.mixture import check_pending

CANDIDATES = 1024
"""Sobol' points of the cube scored per proposal (plus `LOCAL` around each of the best 4)."""
LOCAL = 64
LOCAL_STEP = 0.05
"""Standard deviation, in cube units, of the points drawn around the best measured ones."""
NOISE_FLOOR = 1e-6
"""Smallest noise variance of the GP (standardised units), BoTorch's `MIN_INFERRED_NOISE_LEVEL`."""
TRUST_AFTER = 3
"""Fewest campaign measurements (d + 1 if more) before a related task is judged."""
TRUST_P = 0.1
"""A related task stays in the model while Kendall's τ between its predictions and the
campaign's measurements is this unlikely under no association (one-sided)."""
FIT_ITERATIONS = 200
"""L-BFGS-B iterations of a GP's hyperparameter fit: with few measurements of the campaign the
task correlations are flat directions of the likelihood, along which BoTorch's default of 1,000
iterations runs to its limit without converging."""
TEMPERATURE_SCALE = 50.0
"""°C per unit of the temperature input (a campaign's own temperature is 0)."""
MAX_ROWS_PER_TASK = 150
"""Related rows kept per task (the nearest to the campaign's space first): the GP's cost grows
with the cube of its rows."""


class DesignFeatures:
    """A design as the GP's inputs: physical quantities scaled by the campaign's bounds."""

    def __init__(self, space: AnySpace) -> None:
        self.space = space

    @property
    def dimension(self) -> int:
        if isinstance(self.space, BoxSpace):
            return len(self.space.parameters)
        ranges = [p for p in self.space.parameters if isinstance(p, RangeParameter)]
        return len(self.space.solvents) + 2 + len(ranges)

    def __call__(self, design: Design) -> list[float] | None:
        """The inputs of `design`, or None when it cannot be placed in this space."""
        if isinstance(self.space, BoxSpace):
            if not isinstance(design, DesignPoint):
                return None
            try:
                return [
                    (design.values[p.name] - p.low) / (p.high - p.low)
                    for p in self.space.parameters
                ]
            except KeyError:
                return None
        if not isinstance(design, Formulation) or design.salt != self.space.salt.name:
            return None
        names = [s.name for s in self.space.solvents]
        if any(f > 0 and name not in names for name, f in design.fractions.items()):
            return None
        salt = self.space.salt
        row = [float(design.fractions.get(name, 0.0)) for name in names]
        row.append((design.molality - salt.min_molality) / (salt.max_molality - salt.min_molality))
        row.append((design.temperature - self.space.temperature) / TEMPERATURE_SCALE)
        for p in self.space.parameters:
            if isinstance(p, RangeParameter):
                value = design.extras.get(p.name)
                if not isinstance(value, int | float):
                    return None
                row.append((float(value) - p.low) / (p.high - p.low))
        return row


@dataclass(frozen=True)
class RelatedTask:
    """Data the planner learns from besides the campaign's own: designs and the goal's primary
    metric at each (another lab, an earlier campaign, a model's predictions)."""

    name: str
    designs: tuple[Design, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.designs) != len(self.values):
            raise PlannerError(
                f"related task {self.name!r} has {len(self.designs)} designs and "
                f"{len(self.values)} values; allowed: one value per design"
            )
        if not all(math.isfinite(v) for v in self.values):
            raise PlannerError(f"related task {self.name!r} has non-finite values")

    @classmethod
    def from_observations(
        cls, name: str, observations: Sequence[Observation], metric: str
    ) -> RelatedTask:
        """An earlier campaign's observations that carry `metric`."""
        kept = [o for o in observations if metric in o.values]
        return cls(name, tuple(o.design for o in kept), tuple(o.values[metric] for o in kept))

    @classmethod
    def from_model(
        cls,
        name: str,
        predict: Callable[[Design], float],
        space: AnySpace,
        points: int = 64,
        seed: int = 0,
    ) -> RelatedTask:
        """A model's predictions at `points` scrambled Sobol' designs of `space` (a physics
        model or a surrogate as a prior: the GP learns how far it holds here); designs the
        model refuses (`SimulationError`, outside its domain) are left out."""
        from electroloop.planners.cube_map import cube_map

        mapping = cube_map(space)
        cube = qmc.Sobol(mapping.dimension, scramble=True, rng=seed).random(points)
        designs, values = [], []
        for row in cube:
            design = mapping.to_design([float(c) for c in row])
            try:
                value = float(predict(design))
            except SimulationError:
                continue
            designs.append(design)
            values.append(value)
        return cls(name, tuple(designs), tuple(values))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "designs": [d.model_dump(mode="json") for d in self.designs],
            "values": list(self.values),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RelatedTask:
        from pydantic import TypeAdapter

        from electroloop.models import DesignPoint as _Point
        from electroloop.models import Formulation as _Formulation

        adapter: TypeAdapter[Any] = TypeAdapter(_Formulation | _Point)
        return cls(
            str(data["name"]),
            tuple(adapter.validate_python(d) for d in data["designs"]),
            tuple(float(v) for v in data["values"]),
        )


class TransferPlanner(CubePlanner):
    """Multi-task Bayesian optimisation over the campaign's own measurements and `related`
    tasks (see the module docstring); single objective (the goal's primary one)."""

    name: ClassVar[str] = "transfer"

    def __init__(
        self,
        space: AnySpace,
        goal: Goal,
        seed: int,
        related: Sequence[RelatedTask] = (),
        initialization_budget: int | None = None,
    ) -> None:
        super().__init__(space, goal, seed)
        if len(goal.objectives) != 1:
            raise PlannerError(
                f"transfer planner: {len(goal.objectives)} objectives; allowed: exactly 1"
            )
        self.features = DesignFeatures(space)
        self.related = tuple(related)
        self.skipped = 0
        self._related_rows = [self._placed(task) for task in self.related]
        self.trusted = [task.name for task in self.related]
        """Names of the related tasks the last proposal's model used (see `_trusted`)."""
        self.initialization_budget = (
            (0 if self.related else initial_design_size(self.map.dimension))
            if initialization_budget is None
            else int(initialization_budget)
        )
        if self.initialization_budget < 0:
            raise PlannerError(f"initialization_budget is {initialization_budget}; allowed: >= 0")
        self._sobol = qmc.Sobol(self.map.dimension, scramble=True, rng=self.seed)
        self._sobol_drawn = 0
        self._told: list[tuple[list[float], float, float | None]] = []
        """(cube point, value to maximise, its standard error if the observation gave one)"""
        self._proposals = 0

    # -- bookkeeping -----------------------------------------------------------------------

    def _placed(self, task: RelatedTask) -> tuple[np.ndarray, np.ndarray]:
        """The task's rows this space can place, nearest to the campaign's box first."""
        rows, values = [], []
        for design, value in zip(task.designs, task.values, strict=True):
            x = self.features(design)
            if x is None:
                self.skipped += 1
                continue
            rows.append(x)
            values.append(self._sign * value)
        x_arr, y_arr = np.asarray(rows, dtype=float), np.asarray(values, dtype=float)
        if len(x_arr) > MAX_ROWS_PER_TASK:
            outside = np.sum(np.clip(-x_arr, 0, None) + np.clip(x_arr - 1, 0, None), axis=1)
            rng = np.random.default_rng(self.seed)
            order = np.lexsort((rng.random(len(x_arr)), outside))[:MAX_ROWS_PER_TASK]
            x_arr, y_arr = x_arr[order], y_arr[order]
        return x_arr.reshape(-1, self.features.dimension), y_arr

    @property
    def _sign(self) -> float:
        return 1.0 if self.goal.primary.direction == "maximize" else -1.0

    def tell(self, observations: Sequence[Observation]) -> None:
        metric = self.goal.primary.name
        ids = [o.candidate_id for o in observations]
        check_pending(self.name, self._pending, ids)
        for o in observations:
            if metric not in o.values:
                raise PlannerError(f"observation {o.candidate_id} lacks {metric!r}")
        for o in observations:
            point = self._pending.pop(o.candidate_id)
            error = o.errors.get(metric)
            self._told.append((point, self._sign * float(o.values[metric]), error))

    # -- proposals -------------------------------------------------------------------------

    def _draw(self, n: int) -> list[list[float]]:
        if n == 0:
            return []
        if self._proposals < self.initialization_budget:
            points = self._quasi_random(n)
        elif self._told:
            points = self._bayesian(n)
        elif any(len(rows) >= 2 for rows, _ in self._related_rows):
            points = self._from_related(n)
        else:
            points = self._quasi_random(n)
        self._proposals += len(points)
        return points

    def _quasi_random(self, n: int) -> list[list[float]]:
        points = []
        for _ in range(n):
            if self._sobol_drawn == 0 and self._proposals == 0 and not points:
                points.append([0.5] * self.map.dimension)  # the centre first, as Ax
                continue
            points.append([float(c) for c in self._sobol.random(1)[0]])
            self._sobol_drawn += 1
        return points

    def _candidates(self) -> np.ndarray:
        """Cube points to score: a fresh Sobol' set, and points around the best measured."""
        rng = np.random.default_rng(self.seed + 7919 * self._proposals)
        cube = qmc.Sobol(self.map.dimension, scramble=True, rng=rng).random(CANDIDATES)
        best = sorted(self._told, key=lambda t: -t[1])[:4]
        local = [
            np.clip(np.asarray(p) + rng.normal(0, LOCAL_STEP, (LOCAL, len(p))), 0.0, 1.0)
            for p, _, _ in best
        ]
        return np.vstack([cube, *local]) if local else cube

    def _inputs(self, cube: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feature rows of the cube points that map to designs, and which points those are."""
        rows, kept = [], []
        for i, u in enumerate(cube):
            design = self.map.to_design([float(c) for c in u])
            x = self.features(design)
            if x is not None and not self._is_vetoed(design):
                rows.append(x)
                kept.append(i)
        return np.asarray(rows, dtype=float), np.asarray(kept, dtype=int)

    def _from_related(self, n: int) -> list[list[float]]:
        """The first guesses: expected improvement on a GP over the related data, pooled."""
        usable = [(rows, values) for rows, values in self._related_rows if len(rows) >= 2]
        x = np.vstack([rows for rows, _ in usable])
        y = np.concatenate([_standardised(values) for _, values in usable])
        pending = [self.features(self.map.to_design(p)) for p in self._pending.values()]
        cube = self._candidates()
        inputs, kept = self._inputs(cube)
        chosen = _select(x, y, pending, inputs, n, self.seed)
        return [[float(c) for c in cube[kept[i]]] for i in chosen]

    def _bayesian(self, n: int) -> list[list[float]]:
        target_x = np.asarray([self.features(self.map.to_design(p)) for p, _, _ in self._told])
        target_y = np.asarray([v for _, v, _ in self._told], dtype=float)
        errors = [e for _, _, e in self._told]
        noise = None if None in errors else float(np.mean(np.square(errors)))
        pending = [self.features(self.map.to_design(p)) for p in self._pending.values()]
        related = self._trusted(target_x, target_y)
        cube = self._candidates()
        inputs, kept = self._inputs(cube)
        chosen = _select_multitask(
            target_x, target_y, related, inputs, n, self.seed, pending=pending, noise=noise
        )
        return [[float(c) for c in cube[kept[i]]] for i in chosen]

    def _trusted(
        self, target_x: np.ndarray, target_y: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The related tasks the campaign's measurements do not contradict (`trusted` names
        them): all of them for the first d + 1 (`TRUST_AFTER`) measurements, then those whose
        own GP ranks the measurements better than chance (Kendall's τ, one-sided p below
        `TRUST_P`). Why: the multi-task GP shares its length scales between tasks, so an
        unrelated task bends the campaign's model even when their correlation is learned to
        be small; a test on the campaign's own data removes it."""
        usable = [
            (task.name, rows, values)
            for task, (rows, values) in zip(self.related, self._related_rows, strict=True)
            if len(rows) >= 2
        ]
        if len(target_y) >= initial_design_size(self.map.dimension, minimum=TRUST_AFTER):
            usable = [u for u in usable if _agrees(u[1], u[2], target_x, target_y) < TRUST_P]
        self.trusted = [name for name, _, _ in usable]
        return [(rows, values) for _, rows, values in usable]

    # -- state -----------------------------------------------------------------------------

    def _generator_state(self) -> dict[str, Any]:
        return {
            "sobol_drawn": self._sobol_drawn,
            "proposals": self._proposals,
            "told": [[list(p), v, e] for p, v, e in self._told],
            "related": [task.to_json() for task in self.related],
            "initialization_budget": self.initialization_budget,
        }

    def _restore_generator(self, state: dict[str, Any]) -> None:
        self.related = tuple(RelatedTask.from_json(t) for t in state["related"])
        self.skipped = 0
        self._related_rows = [self._placed(task) for task in self.related]
        self.trusted = [task.name for task in self.related]
        self.initialization_budget = int(state["initialization_budget"])
        self._sobol.reset()
        self._sobol_drawn = int(state["sobol_drawn"])
        if self._sobol_drawn:
            self._sobol.fast_forward(self._sobol_drawn)
        self._proposals = int(state["proposals"])
        self._told = [
            ([float(c) for c in row[0]], float(row[1]), None if len(row) < 3 else row[2])
            for row in state["told"]
        ]


def _standardised(values: np.ndarray) -> np.ndarray:
    std = float(np.std(values))
    return (values - float(np.mean(values))) / (std if std > 0 else 1.0)


def _agrees(x: np.ndarray, y: np.ndarray, target_x: np.ndarray, target_y: np.ndarray) -> float:
    """One-sided p-value of Kendall's τ between a GP over (x, y)'s predictions at `target_x`
    and `target_y` (small: the task ranks the campaign's measurements as they came out)."""
    import torch
    from botorch.models import SingleTaskGP
    from scipy.stats import kendalltau

    model = SingleTaskGP(
        torch.tensor(x, dtype=torch.double),
        torch.tensor(_standardised(y), dtype=torch.double).unsqueeze(-1),
    )
    _fit(model)
    with torch.no_grad():
        predicted = model.posterior(torch.tensor(target_x, dtype=torch.double)).mean
    tau = kendalltau(predicted.squeeze(-1).numpy(), target_y, alternative="greater")
    return 1.0 if np.isnan(tau.pvalue) else float(tau.pvalue)


def _fit(model: Any) -> None:
    """Fit the GP's hyperparameters by marginal likelihood, `FIT_ITERATIONS` at most."""
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    fit_gpytorch_mll(
        ExactMarginalLogLikelihood(model.likelihood, model),
        optimizer_kwargs={"options": {"maxiter": FIT_ITERATIONS}},
    )


def _select(
    x: np.ndarray,
    y: np.ndarray,
    pending: Sequence[Sequence[float] | None] | None,
    choices: np.ndarray,
    n: int,
    seed: int,
) -> list[int]:
    """Indices of `n` of `choices` by batch log EI on a single-task GP over (x, y)."""
    import torch
    from botorch.acquisition.logei import qLogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.mlls import ExactMarginalLogLikelihood

    torch.manual_seed(seed)
    tx = torch.tensor(x, dtype=torch.double)
    ty = torch.tensor(y, dtype=torch.double).unsqueeze(-1)
    model = SingleTaskGP(tx, ty)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    acquisition = qLogExpectedImprovement(model, best_f=float(y.max()))
    known = [p for p in pending or () if p is not None]
    if known:
        acquisition.set_X_pending(torch.tensor(known, dtype=torch.double))
    return _greedy(acquisition, choices, n)


def _select_multitask(
    target_x: np.ndarray,
    target_y: np.ndarray,
    related: Sequence[tuple[np.ndarray, np.ndarray]],
    choices: np.ndarray,
    n: int,
    seed: int,
    pending: Sequence[Sequence[float] | None] = (),
    noise: float | None = None,
) -> list[int]:
    """Indices of `n` of `choices` by batch log noisy EI on the campaign's task of a
    multi-task GP (the campaign is the last task); a single-task GP without related data.

    `noise`, the mean squared standard error the campaign's observations were told with, is the
    floor of the GP's inferred noise: the data may say they are noisier than the instrument's
    specification, never less (BoTorch's default floor is 1e-6 of the variance).
    """
    import torch
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.models import MultiTaskGP, SingleTaskGP

    torch.manual_seed(seed)
    scale = float(np.std(target_y)) if len(target_y) > 1 and np.std(target_y) > 0 else None
    if scale is None:
        scale = float(np.mean([np.std(v) for _, v in related])) if related else 1.0
        scale = scale or 1.0
    y_target = (target_y - float(np.mean(target_y))) / scale
    tasks = len(related)
    xs = [np.hstack([rows, np.full((len(rows), 1), t)]) for t, (rows, _) in enumerate(related)]
    ys = [_standardised(values) for _, values in related]
    xs.append(np.hstack([target_x, np.full((len(target_x), 1), tasks)]))
    ys.append(y_target)
    tx = torch.tensor(np.vstack(xs), dtype=torch.double)
    ty = torch.tensor(np.concatenate(ys), dtype=torch.double).unsqueeze(-1)
    baseline = torch.tensor(target_x, dtype=torch.double)
    floor = None if noise is None else max(NOISE_FLOOR, noise / scale**2)
    features = target_x.shape[1]
    if tasks:
        model = MultiTaskGP(
            tx,
            ty,
            task_feature=-1,
            output_tasks=[tasks],
            likelihood=_likelihood(floor, tasks + 1, features),
        )
    else:
        model = SingleTaskGP(
            baseline, torch.tensor(y_target).unsqueeze(-1), likelihood=_likelihood(floor)
        )
    _fit(model)
    acquisition = qLogNoisyExpectedImprovement(model, X_baseline=baseline, prune_baseline=True)
    known = [p for p in pending if p is not None]
    if known:
        acquisition.set_X_pending(torch.tensor(known, dtype=torch.double))
    return _greedy(acquisition, choices, n)


def _likelihood(floor: float | None, tasks: int = 1, task_feature: int = 0) -> Any:
    """BoTorch's default likelihood (per-task noise for several tasks), with its noise bounded
    below by `floor` (standardised units); None: BoTorch's own default."""
    if floor is None:
        return None
    from gpytorch.constraints import GreaterThan
    from gpytorch.likelihoods import GaussianLikelihood
    from gpytorch.likelihoods.hadamard_gaussian_likelihood import HadamardGaussianLikelihood
    from gpytorch.priors import LogNormalPrior

    prior = LogNormalPrior(loc=-4.0, scale=1.0)  # BoTorch's noise prior
    constraint = GreaterThan(floor, transform=None, initial_value=max(floor, float(prior.mode)))
    if tasks == 1:
        return GaussianLikelihood(noise_prior=prior, noise_constraint=constraint)
    return HadamardGaussianLikelihood(
        num_tasks=tasks,
        noise_prior=prior,
        noise_constraint=constraint,
        task_feature_index=task_feature,
    )


def _greedy(acquisition: Any, choices: np.ndarray, n: int) -> list[int]:
    """Sequential greedy batch over the discrete `choices` (BoTorch's `optimize_acqf_discrete`),
    as indices into them."""
    import torch
    from botorch.optim import optimize_acqf_discrete

    options = torch.tensor(choices, dtype=torch.double)
    picked, _ = optimize_acqf_discrete(acquisition, q=n, choices=options, unique=True)
    indices = []
    for row in picked:
        match = torch.where(torch.all(torch.isclose(options, row), dim=1))[0]
        indices.append(int(match[0]))
    return indices
