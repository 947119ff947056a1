"""The simulator's conductivity physics as `conductivity_loso.Fitter`s, refitted inside each fold.

Why: `conductivity_loso` needs "fit on these sources, predict that one" for the physics the
simulated lab measures, old and new, and the CALiSol model alone:

- `tiered_fitter`: the tiered physics of `physics` before issue 20 (`physics` MODEL @1).
  Tier 1 is Landesfeind & Gasteiger's two published fits (J. Electrochem. Soc. 166 (2019)
  A3079, doi:10.1149/2.0571912jes) blended by `conductivity`, with its EC correction re-fitted
  in each fold exactly as `conductivity.EC_CORRECTION` was (OLS of ln(σ/anchor blend) on
  Δ, Δs, Δ², Δ(c − 1) over EC/EMC/DMC rows at 15–35 °C inside `conductivity.VALIDITY`);
  the anchors themselves are published constants and cannot be refitted, so the fold that
  holds out 10.1149/2.0571912jes still sees them. Tier 2 is `electrolyte.fit_salt` on the fold.
  A row outside both tiers (with their dosing margins) is refused, as the simulator refuses it;
  with `force`, such a row is computed by tier 2 extrapolating and flagged as extrapolated.
- `physics_fitter`: the physics since issue 20 (`physics` MODEL @2): `electrolyte.fit_salt` alone
  (Kohlrausch form, domain widened by `electrolyte.DOMAIN_EXTENSION`), computed up to the dosing
  margin past its box and refused beyond (with `force`: extrapolated and flagged).
- `electrolyte_fitter`: `electrolyte.fit_salt` alone, every row computed (flagged when outside
  the fit's domain).

`fit_sources` is the same fit as a plain callable for other parts (a held-out-lab benchmark):
fit on chosen CALiSol sources, get σ(formulation).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from electroloop.errors import SimulationError
from electroloop.models import Formulation
from electroloop.simulations import conductivity as landesfeind
from electroloop.simulations.calisol import CalisolPoint
from electroloop.simulations.conductivity_loso import Fitter, Predictor, Scored
from electroloop.simulations.density import SALTS, SOLVENTS, molarity
from electroloop.simulations.electrolyte import Domain, ElectrolyteModel, SaltFit, fit_salt

_LIPF6 = SALTS["LiPF6"]
_TIER1_SOLVENTS = frozenset({"EC", "EMC", "DMC"})
_FIT_T = (15.0, 35.0)
"""°C; the temperatures `conductivity.EC_CORRECTION` was fitted at."""

LEGACY: dict[str, Any] = {"form": "casteel-amis@1", "balance": 0.0, "extend": False}
"""`fit_salt` arguments that reproduce `electrolyte` @1 (issue 6): one Casteel–Amis exponent,
every row weighted alike, the domain the fitted rows' envelope."""

DOSING_MARGIN: dict[str, float] = {"mass fraction": 0.01, "molality": 0.02, "temperature": 0.5}
"""As `physics.DOSING_MARGIN` (unchanged by issue 20): how far past the CALiSol box a sample is
computed; `physics_fitter` applies it to every solvent of the fit, `physics` to its `SOLVENTS`."""


def _smiles_fractions(p: CalisolPoint) -> dict[str, float]:
    return {SOLVENTS[n]: w for n, w in p.fractions if n in _TIER1_SOLVENTS}


def _in_tier1(p: CalisolPoint) -> bool:
    if p.salt != "LiPF6" or not p.solvents <= _TIER1_SOLVENTS:
        return False
    values = {
        "EC mass fraction": p.fraction("EC"),
        "molality": p.molality,
        "temperature": p.temperature,
    }
    for name, value in values.items():
        low, high = landesfeind.VALIDITY[name]
        margin = landesfeind.DOSING_MARGIN[name]
        if not low - margin <= value <= high + margin:
            return False
    return True


def _tier1_terms(p: CalisolPoint) -> tuple[float, list[float]]:
    """(ln anchor blend, [Δ, Δs, Δ², Δ(c − 1)]) of a tier-1 row."""
    fractions = _smiles_fractions(p)
    delta, s = landesfeind.ec_offset(fractions)
    c = molarity(fractions, _LIPF6, p.molality, 25.0)
    anchor = landesfeind.anchor_blend(fractions, _LIPF6, p.molality, p.temperature)
    return math.log(anchor), [delta, delta * s, delta * delta, delta * (c - 1.0)]


def fit_ec_correction(train: Sequence[CalisolPoint]) -> tuple[float, float, float, float]:
    """(a₁, a₂, a₃, a₄) of `conductivity.EC_CORRECTION`, refitted on `train` by OLS."""
    rows = [
        p
        for p in train
        if _in_tier1(p)
        and landesfeind.VALIDITY["EC mass fraction"][0] - 1e-9 <= p.fraction("EC")
        and p.fraction("EC") <= landesfeind.VALIDITY["EC mass fraction"][1]
        and landesfeind.VALIDITY["molality"][0] <= p.molality <= landesfeind.VALIDITY["molality"][1]
        and _FIT_T[0] <= p.temperature <= _FIT_T[1]
    ]
    if len(rows) < 4:
        raise SimulationError(f"{len(rows)} tier-1 rows to fit the EC correction; allowed: >= 4")
    x, y = [], []
    for p in rows:
        log_anchor, terms = _tier1_terms(p)
        x.append(terms)
        y.append(math.log(p.conductivity) - log_anchor)
    beta, *_ = np.linalg.lstsq(np.array(x), np.array(y), rcond=None)
    a1, a2, a3, a4 = (float(b) for b in beta)
    return a1, a2, a3, a4


def _near(fit: SaltFit, p: CalisolPoint) -> bool:
    """Inside tier 2's box widened by `DOSING_MARGIN` (as `physics._near_box`)."""
    d, margin = fit.domain, DOSING_MARGIN["mass fraction"]
    if any(n not in d.solvents for n in p.solvents):
        return False
    for name, (low, high) in d.solvents.items():
        if not low - margin <= p.fraction(name) <= high + margin:
            return False
    dm, dt = DOSING_MARGIN["molality"], DOSING_MARGIN["temperature"]
    return (
        d.molality[0] - dm <= p.molality <= d.molality[1] + dm
        and d.temperature[0] - dt <= p.temperature <= d.temperature[1] + dt
    )


def _broad(model: ElectrolyteModel, p: CalisolPoint, extrapolate: bool) -> Scored | None:
    try:
        pred = model.predict(
            p.salt, dict(p.fractions), p.molality, p.temperature, extrapolate=extrapolate
        )
    except SimulationError:
        return None
    return Scored(pred.conductivity, extrapolated=bool(pred.extrapolated))


def _tier2(fitted: SaltFit, model: ElectrolyteModel, p: CalisolPoint, force: bool) -> Scored | None:
    """The CALiSol fit's value of `p` inside its domain plus the dosing margin; beyond it,
    flagged as extrapolated with `force`, else refused (None)."""
    if _near(fitted, p):
        return _broad(model, p, extrapolate=True)
    if force:
        forced = _broad(model, p, extrapolate=True)
        return None if forced is None else Scored(forced.conductivity, True)
    return None


def tiered_fitter(*, force: bool = False, **kwargs: Any) -> Fitter:
    """A `Fitter` of the tiered physics (module docstring); `force` scores every row.

    `kwargs` go to tier 2's `electrolyte.fit_salt`; `LEGACY` makes it the pre-issue-20 tier 2.
    """

    def fit(train: Sequence[CalisolPoint]) -> Predictor:
        a1, a2, a3, a4 = fit_ec_correction(train)
        fitted = fit_salt(train, "LiPF6", **kwargs)
        model = ElectrolyteModel({"LiPF6": fitted})

        def predict(p: CalisolPoint) -> Scored | None:
            if _in_tier1(p):
                log_anchor, (d, ds, d2, dc) = _tier1_terms(p)
                return Scored(math.exp(log_anchor + a1 * d + a2 * ds + a3 * d2 + a4 * dc))
            return _tier2(fitted, model, p, force)

        return predict

    return fit


def electrolyte_fitter(**kwargs: Any) -> Fitter:
    """A `Fitter` of `electrolyte.fit_salt` alone; `kwargs` go to `fit_salt`."""

    def fit(train: Sequence[CalisolPoint]) -> Predictor:
        model = ElectrolyteModel({"LiPF6": fit_salt(train, "LiPF6", **kwargs)})
        return lambda p: _broad(model, p, extrapolate=True)

    return fit


def physics_fitter(*, force: bool = False, **kwargs: Any) -> Fitter:
    """A `Fitter` of the physics since issue 20 (module docstring); `force` scores every row."""

    def fit(train: Sequence[CalisolPoint]) -> Predictor:
        fitted = fit_salt(train, "LiPF6", **kwargs)
        model = ElectrolyteModel({"LiPF6": fitted})

        def predict(p: CalisolPoint) -> Scored | None:
            return _tier2(fitted, model, p, force)

        return predict

    return fit


@dataclass(frozen=True)
class SourceModel:
    """σ fitted on some CALiSol sources: call it with a `Formulation` (names as CALiSol columns).

    `extrapolate`: compute outside `domain` instead of raising `SimulationError`.
    """

    salt: str
    model: ElectrolyteModel
    sources: tuple[str, ...]
    extrapolate: bool = False

    @property
    def domain(self) -> Domain:
        """The fit's validity box."""
        return self.model.domain(self.salt)

    def conductivity(self, fractions: Mapping[str, float], molality: float, t: float) -> float:
        """σ in mS/cm for mass fractions by CALiSol name, mol/kg and °C."""
        prediction = self.model.predict(
            self.salt, fractions, molality, t, extrapolate=self.extrapolate
        )
        return prediction.conductivity

    def __call__(self, formulation: Formulation) -> float:
        """σ in mS/cm of `formulation` (its salt must be `salt`)."""
        if formulation.salt != self.salt:
            raise SimulationError(f"salt is {formulation.salt!r}; allowed: {[self.salt]}")
        fractions = {n: w for n, w in formulation.fractions.items() if w > 0.0}
        return self.conductivity(fractions, formulation.molality, formulation.temperature)


def fit_sources(
    points: Iterable[CalisolPoint],
    *,
    include: Collection[str] | None = None,
    exclude: Collection[str] = (),
    salt: str = "LiPF6",
    extrapolate: bool = False,
    **kwargs: Any,
) -> SourceModel:
    """Fit the physics' model on the CALiSol rows of `salt` from `include` (default: every
    source) minus `exclude` (DOIs); e.g. `exclude={held_out}` for a new-lab benchmark.

    `kwargs` go to `electrolyte.fit_salt` (e.g. `**LEGACY` for the pre-issue-20 form). Raises
    `SimulationError` naming the sources if no row is left.
    """
    rows = [
        p
        for p in points
        if p.salt == salt and (include is None or p.doi in include) and p.doi not in exclude
    ]
    if not rows:
        raise SimulationError(
            f"no {salt} rows from sources include={include!r} minus exclude={sorted(exclude)}; "
            "allowed: at least one CALiSol source with that salt"
        )
    fitted = fit_salt(rows, salt, **kwargs)
    return SourceModel(salt, ElectrolyteModel({salt: fitted}), fitted.sources, extrapolate)
