"""The best conductivity a search space allows, under the simulator's physics (`physics`).

Why: benchmarks score planners by regret against this value, so it must be exact enough that no
planner can beat it, deterministic, and cheap (< 2 s). A scrambled Sobol screen with a fixed seed
finds the basin; SLSQP (scipy) polishes the best few starts under the bounds and the
sum-to-one equality.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

from electroloop.models import Formulation, SearchSpace
from electroloop.simulations.physics import check_space, conductivity

_SCREEN_LOG2 = 9
"""2**9 = 512 screening points."""
_STARTS = 6
_SEED = 20190614


def _project(points: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row onto {low <= x <= high, sum(x) = 1}.

    The projection is clip(x − λ, low, high) with λ the root of a monotone function, found by
    bisection (vectorised over rows, `n x d`).
    """
    lam_lo = np.min(points - high, axis=1)
    lam_hi = np.max(points - low, axis=1)
    for _ in range(80):
        lam = 0.5 * (lam_lo + lam_hi)
        total = np.clip(points - lam[:, None], low, high).sum(axis=1)
        too_big = total > 1.0
        lam_lo = np.where(too_big, lam, lam_lo)
        lam_hi = np.where(too_big, lam_hi, lam)
    projected: np.ndarray = np.clip(points - 0.5 * (lam_lo + lam_hi)[:, None], low, high)
    return projected


def _exact_sum(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Put the last rounding residue of sum(x) − 1 on the component with most room."""
    x = np.clip(x, low, high)
    residue = 1.0 - math.fsum(x)
    room = (high - x) if residue > 0 else (x - low)
    x[int(np.argmax(room))] += residue
    return x


def true_optimum(space: SearchSpace) -> tuple[Formulation, float]:
    """Formulation of highest conductivity (mS/cm) in `space`, and that conductivity.

    Raises `SimulationError` if the space reaches outside the simulator's physics
    (`electroloop.simulations.physics.check_space`) or names a solvent or salt it does not support.
    """
    check_space(space)  # before any work: a clear error, not a failure mid-optimisation
    smiles = [s.canonical_smiles for s in space.solvents]
    salt, temperature = space.salt.canonical_smiles, space.temperature
    low = np.array([s.min_fraction for s in space.solvents])
    high = np.array([s.max_fraction for s in space.solvents])
    m_low, m_high = space.salt.min_molality, space.salt.max_molality
    n = len(smiles)

    def sigma(fractions: np.ndarray, molality: float) -> float:
        return conductivity(
            dict(zip(smiles, fractions.tolist(), strict=True)), salt, molality, temperature
        )

    def objective(x: np.ndarray) -> float:
        fractions = np.clip(x[:n], low, high)
        fractions = np.clip(fractions / fractions.sum(), low, high)
        molality = m_low + float(np.clip(x[n], 0.0, 1.0)) * (m_high - m_low)
        return -math.log(sigma(fractions, molality))

    unit = qmc.Sobol(d=n + 1, scramble=True, seed=_SEED).random_base2(_SCREEN_LOG2)
    screen = np.column_stack([_project(low + unit[:, :n] * (high - low), low, high), unit[:, n]])
    values = np.array([objective(x) for x in screen])
    bounds = [(lo, hi) for lo, hi in zip(low, high, strict=True)] + [(0.0, 1.0)]
    constraint = {
        "type": "eq",
        "fun": lambda x: np.sum(x[:n]) - 1.0,
        "jac": lambda x: np.r_[np.ones(n), 0.0],
    }
    best_x, best_value = screen[int(np.argmin(values))], float(np.min(values))
    for start in screen[np.argsort(values)[:_STARTS]]:
        with warnings.catch_warnings():  # SLSQP clips its own steps to the bounds; that is fine
            warnings.filterwarnings("ignore", "Values in x were outside bounds", RuntimeWarning)
            result = minimize(
                objective,
                start,
                method="SLSQP",
                bounds=bounds,
                constraints=[constraint],
                options={"ftol": 1e-12, "maxiter": 200},
            )
        if result.fun < best_value:
            best_x, best_value = result.x, float(result.fun)
    fractions = _exact_sum(_project(best_x[None, :n], low, high)[0], low, high)
    molality = m_low + float(np.clip(best_x[n], 0.0, 1.0)) * (m_high - m_low)
    formulation = Formulation(
        fractions={s.name: float(f) for s, f in zip(space.solvents, fractions, strict=True)},
        salt=space.salt.name,
        molality=molality,
        temperature=temperature,
    )
    return formulation, sigma(fractions, molality)


def true_value(space: SearchSpace, formulation: Formulation) -> float:
    """Noise-free conductivity (mS/cm) of `formulation` in `space`, as the simulator's physics
    computes it: the yardstick for "how good is what the campaign found", free of meter noise."""
    return conductivity(
        space.fractions_by_smiles(formulation),
        space.salt.canonical_smiles,
        formulation.molality,
        formulation.temperature,
    )
