"""The "new lab" benchmark: does what other labs measured make a new lab's campaign shorter?

One CALiSol-23 source (de Blasio et al., Sci. Data 2024, doi:10.1038/s41597-024-03575-8) at a
time plays the new lab. Its truth is an emulator fitted to its rows alone (the physics' model
form, `conductivity_fitters.fit_sources(include={source})`, computed across its whole box); its
campaign searches the box its rows span (each solvent's mass-fraction range, the molality range,
at its temperature nearest 25 °C) for the highest conductivity. The prior is the same model form
fitted to every *other* source (`exclude={source}`), so nothing the new lab measured leaks into
it: what a new lab brings is exactly what the prior has not seen.

`wrong_prior` makes a prior that is badly wrong on purpose, to show what one costs: the
prior's values shuffled across its designs (as varied as the real prior, unrelated to the
designs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

from electroloop.errors import SimulationError
from electroloop.models import Formulation, Goal, Objective, Salt, SearchSpace, Solvent
from electroloop.planners.cube_map import cube_map
from electroloop.planners.transfer import RelatedTask
from electroloop.simulations.calisol import CalisolPoint
from electroloop.simulations.conductivity_fitters import SourceModel, fit_sources
from electroloop.simulations.density import SALT_SMILES, SOLVENT_SMILES

MIN_ROWS = 100
"""Sources with at least this many rows of the salt play the new lab ("every large source")."""
MIN_KEPT = 40
"""Rows a new lab must keep once rows over solvents the benchmark cannot place are dropped (a
solvent without a SMILES, or one no other source measured: the prior knows nothing of it)."""
PRIOR_POINTS = 64
"""Designs at which the prior model is sampled into a related task."""
SEARCH_POINTS = 4096
"""Sobol' points of the dense search for a problem's optimum (then refined by Nelder–Mead)."""


@dataclass(frozen=True)
class NewLabProblem:
    """One source as the new lab: its box, its emulator, the prior from the other sources and
    the emulator's optimum over the box."""

    source: str
    rows: int
    space: SearchSpace
    goal: Goal
    truth: SourceModel
    prior: SourceModel
    optimum: float
    optimum_formulation: Formulation

    def objective(self, formulation: Formulation) -> float:
        return self.truth(formulation)

    def prior_task(self, seed: int = 0) -> RelatedTask:
        """The prior as the planner's related task: its predictions over this box."""
        return RelatedTask.from_model(
            "other labs (CALiSol-23 model)", self.prior, self.space, PRIOR_POINTS, seed
        )


def wrong_prior(task: RelatedTask, seed: int = 0) -> RelatedTask:
    """`task` with its values shuffled across its designs: a prior with no information."""
    values = np.random.default_rng(seed).permutation(np.asarray(task.values))
    return RelatedTask(f"{task.name}, shuffled", task.designs, tuple(float(v) for v in values))


def large_sources(points: Sequence[CalisolPoint], salt: str = "LiPF6") -> list[str]:
    """Sources (DOIs) with at least `MIN_ROWS` rows of `salt`, largest first."""
    counts = Counter(p.doi for p in points if p.salt == salt)
    return [doi for doi, n in counts.most_common() if n >= MIN_ROWS]


def new_lab_problem(
    points: Sequence[CalisolPoint], source: str, salt: str = "LiPF6"
) -> NewLabProblem:
    """`source` as the new lab, over its rows whose solvents the benchmark can place (each with
    a SMILES and measured by another source); `SimulationError` naming it if too few are left."""
    rows = [p for p in points if p.salt == salt and p.doi == source]
    if not rows:
        raise SimulationError(
            f"source {source!r} has no {salt} rows; allowed: {large_sources(points, salt)}"
        )
    others = {s for p in points if p.salt == salt and p.doi != source for s in p.solvents}
    placeable = {s for s in others if s in SOLVENT_SMILES}
    rows = [p for p in rows if p.solvents <= placeable]
    solvents = sorted({s for p in rows for s in p.solvents})
    if len(rows) < MIN_KEPT or len(solvents) < 2:
        raise SimulationError(
            f"source {source!r}: {len(rows)} rows over {solvents} are left once rows with a "
            f"solvent without a SMILES or unmeasured by other sources are dropped; allowed: at "
            f"least {MIN_KEPT} rows over two or more solvents"
        )
    kept = set(map(id, rows))
    lab = [p for p in points if p.doi != source or id(p) in kept]
    truth = fit_sources(lab, include={source}, salt=salt, extrapolate=True)
    prior = fit_sources(points, exclude={source}, salt=salt, extrapolate=True)
    domain = truth.domain
    temperatures = Counter(round(p.temperature) for p in rows)
    temperature = float(min(temperatures, key=lambda t: (abs(t - 25), -temperatures[t])))
    names = sorted(domain.solvents)
    fractions = {n: [dict(p.fractions).get(n, 0.0) for p in rows] for n in names}
    molalities = [p.molality for p in rows]
    space = SearchSpace(
        solvents=tuple(
            Solvent(
                name=name,
                smiles=SOLVENT_SMILES[name],
                min_fraction=round(min(fractions[name]), 3),
                max_fraction=round(max(fractions[name]), 3),
            )
            for name in names
        ),
        salt=Salt(
            name=salt,
            smiles=SALT_SMILES[salt],
            min_molality=round(max(min(molalities), 0.05), 3),
            max_molality=round(max(molalities), 3),
        ),
        temperature=temperature,
    )
    formulation, value = maximum(space, truth)
    return NewLabProblem(
        source=source,
        rows=len(rows),
        space=space,
        goal=Goal(objectives=(Objective(name="conductivity"),)),
        truth=truth,
        prior=prior,
        optimum=value,
        optimum_formulation=formulation,
    )


def maximum(space: SearchSpace, f: Callable[[Formulation], float]) -> tuple[Formulation, float]:
    """The best formulation of `space` for `f`: a dense scrambled Sobol' search of its cube,
    then Nelder–Mead from the best 4 points."""
    mapping = cube_map(space)
    cube = qmc.Sobol(mapping.dimension, scramble=True, rng=0).random(SEARCH_POINTS)

    def value(u: np.ndarray) -> float:
        return f(mapping.to_design([float(c) for c in np.clip(u, 0.0, 1.0)]))

    scores = np.array([value(u) for u in cube])
    best_u, best = cube[int(np.argmax(scores))], float(np.max(scores))
    for start in cube[np.argsort(-scores)[:4]]:
        found = minimize(
            lambda u: -value(u), start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6}
        )
        if -found.fun > best:
            best_u, best = np.clip(found.x, 0.0, 1.0), float(-found.fun)
    design = mapping.to_design([float(c) for c in best_u])
    assert isinstance(design, Formulation)
    return design, best
