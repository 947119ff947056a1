"""Ionic conductivity of LiPF6 in EC/EMC/DMC blends anchored on Landesfeind & Gasteiger (2019).

Until issue 20 this was the simulated lab's physics for that chemistry; held out one source at a
time it read too low above 1.5 mol/kg, so `physics` now uses `electrolyte` alone. It stays as the
reference reproduction of the two published fits and as the "old physics" of
`conductivity_fitters` / `benchmarks/conductivity_loso.py`.

Why this form: two published, well-validated σ(c, T) surfaces exist for exactly this chemistry
(Landesfeind & Gasteiger 2019); everything in between is bridged by a mixing rule plus a small
EC-content correction fitted once to measured data, so both published fits are reproduced exactly
and the rest stays close to experiment (CALiSol-23).

    ln σ = (1 − s)·ln σ_EMC(c, T) + s·ln σ_DMC(c, T) + ln g(Δ, s, c)

- σ_EMC, σ_DMC: Landesfeind & Gasteiger, J. Electrochem. Soc. 166 (2019) A3079,
  doi:10.1149/2.0571912jes, fits for LiPF6 in EC:EMC 3:7 and EC:DMC 1:1 (w/w);
  c in mol/L, T in K (coefficients as transcribed in PyBaMM, BSD-3-Clause).
- s = w_DMC / (w_DMC + w_EMC). Log-linear mixing between the anchors follows the
  Grunberg–Nissan viscosity mixing rule (ln η = Σ x_i ln η_i; Nature 164 (1949) 799,
  doi:10.1038/164799b0) combined with Walden's rule σ·η ≈ const (P. Walden, Z. Phys. Chem. 55
  (1906) 207); mass rather than mole fractions are used, which for EMC/DMC (M = 104/90 g/mol)
  differ little.
- Δ = w_EC − w_ref(s), w_ref(s) = 0.3 + 0.2·s: the EC content away from the line joining the two
  anchors. ln g = Δ·(a₁ + a₂·s + a₄·(c − 1)) + a₃·Δ², so g = 1 on that line.
- c: nominal molarity (mol/L at 25 °C) from `density.molarity`, as solutions are labelled when
  prepared; the T dependence is entirely Landesfeind's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from rdkit import Chem

from electroloop.errors import SimulationError
from electroloop.simulations.density import SALTS, SOLVENTS, molarity

MODEL = "electroloop.simulations.conductivity/landesfeind2019-mix+calisol23-ec-correction@1"
"""Name and version of this model, recorded with every value it produces (bump on any change)."""

__all__ = [
    "EC_CORRECTION",
    "LANDESFEIND_EC_DMC_1_1",
    "LANDESFEIND_EC_EMC_3_7",
    "SALTS",
    "SOLVENTS",
    "DOSING_MARGIN",
    "VALIDITY",
    "anchor_blend",
    "conductivity",
    "ec_offset",
    "landesfeind",
]

LANDESFEIND_EC_EMC_3_7 = (0.521, 228.0, -1.06, 0.353, -0.00359, 0.00148)
"""p1..p6 for LiPF6 in EC:EMC 3:7 (w/w); Landesfeind & Gasteiger 2019, doi:10.1149/2.0571912jes."""

LANDESFEIND_EC_DMC_1_1 = (0.798, 228.0, -1.22, 0.509, -0.004, 0.00379)
"""p1..p6 for LiPF6 in EC:DMC 1:1 (w/w); same paper."""

EC_CORRECTION = (1.0431, -1.9346, -3.3967, -1.3647)
"""(a₁, a₂, a₃, a₄) of ln g = Δ·(a₁ + a₂·s + a₄·(c − 1)) + a₃·Δ².

Fitted once, by ordinary least squares of ln(σ_measured / anchor_blend) on the four features, to
the 175 CALiSol-23 rows (de Blasio et al., Sci. Data 2024, doi:10.1038/s41597-024-03575-8) of LiPF6
in EC/EMC/DMC only, at 15–35 °C and inside `VALIDITY`, from 9 sources (the mis-scaled
10.1007/s10008-002-0300-9 excluded); volume- and mole-fraction rows were converted to mass
fractions and mol/L rows to mol/kg with `electroloop.simulations.density`. On those rows MAE is
0.41 mS/cm (R² 0.93); on all 522 in-domain rows (−10..50 °C) 0.46 mS/cm (R² 0.96), about the
0.4–0.6 mS/cm by which labs disagree. `tests/unit/simulations/test_conductivity.py` re-fits them.
"""

VALIDITY: dict[str, tuple[float, float]] = {
    "EC mass fraction": (0.1, 0.6),
    "molality": (0.2, 2.5),
    "temperature": (-10.0, 50.0),
}
"""Validity domain. EC: data span 0.1–0.5 (EC-free blends ion-pair and are not captured; 0.5–0.6
is a mild extrapolation); molality: mixture data 0.4–2.0 mol/kg, anchors 0.1–3 mol/L;
temperature: the range of Landesfeind's fits (g itself was fitted at 15–35 °C)."""

DOSING_MARGIN: dict[str, float] = {
    "EC mass fraction": 0.01,
    "molality": 0.02,
    "temperature": 0.5,
}
"""How far past `VALIDITY` a sample may lie and still be computed (the analytic form extrapolates
smoothly). Gravimetric dosing misses its target by ~0.3 % and a bath by a few tenths of a kelvin,
so a campaign bounded exactly at the domain edge makes vials just outside it; failing those
measurements would punish the planner for the lab's noise, not for leaving the model's domain."""

_UNITS = {"EC mass fraction": "", "molality": " mol/kg", "temperature": " °C"}
_REFERENCE_TEMPERATURE = 25.0
_EC, _EMC, _DMC = SOLVENTS["EC"], SOLVENTS["EMC"], SOLVENTS["DMC"]
_LIPF6 = SALTS["LiPF6"]
_SUM_TOLERANCE = 1e-6


def landesfeind(params: tuple[float, ...], c: float, temperature: float) -> float:
    """Landesfeind & Gasteiger (2019) σ in mS/cm for c in mol/L and temperature in °C."""
    p1, p2, p3, p4, p5, p6 = params
    t = temperature + 273.15
    e = math.exp(1000.0 / t)
    return (
        p1
        * (1.0 + (t - p2))
        * c
        * (1.0 + p3 * math.sqrt(c) + p4 * (1.0 + p5 * e) * c)
        / (1.0 + c**4 * p6 * e)
    )


def _canonical(smiles: str) -> str:
    if smiles in SOLVENTS.values():
        return smiles
    try:
        canonical = str(Chem.CanonSmiles(smiles))
    except Exception as exc:  # RDKit raises bare Exception/ArgumentError on bad SMILES
        raise SimulationError(f"solvent SMILES {smiles!r} cannot be parsed") from exc
    if canonical not in SOLVENTS.values():
        raise SimulationError(
            f"solvent SMILES {smiles!r} is not supported; allowed: {sorted(SOLVENTS.values())}"
        )
    return canonical


def _blend(fractions: Mapping[str, float]) -> dict[str, float]:
    """Mass fractions keyed by canonical SMILES, all three solvents present, validated."""
    blend = dict.fromkeys(SOLVENTS.values(), 0.0)
    for smiles, fraction in fractions.items():
        key = _canonical(smiles)
        if not (math.isfinite(fraction) and fraction >= 0.0):
            raise SimulationError(f"fraction of {smiles!r} is {fraction!r}; allowed: >= 0")
        blend[key] += fraction
    total = math.fsum(blend.values())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise SimulationError(f"solvent fractions sum to {total:.9g}; allowed: 1 within 1e-6")
    return blend


def _check(name: str, value: float) -> None:
    low, high = VALIDITY[name]
    margin = DOSING_MARGIN[name]
    if not (math.isfinite(value) and low - margin <= value <= high + margin):
        unit = _UNITS[name]
        raise SimulationError(f"{name} is {value!r}{unit}; allowed: {low}..{high}{unit}")


def _validated(
    fractions: Mapping[str, float], salt: str, molality: float, temperature: float
) -> tuple[dict[str, float], float]:
    if salt != _LIPF6:
        try:
            canonical = str(Chem.CanonSmiles(salt))
        except Exception as exc:
            raise SimulationError(f"salt SMILES {salt!r} cannot be parsed") from exc
        if canonical != _LIPF6:
            raise SimulationError(f"salt SMILES {salt!r} is not supported; allowed: {[_LIPF6]}")
    blend = _blend(fractions)
    _check("EC mass fraction", blend[_EC])
    _check("molality", molality)
    _check("temperature", temperature)
    return blend, molarity(blend, _LIPF6, molality, _REFERENCE_TEMPERATURE)


def ec_offset(fractions: Mapping[str, float]) -> tuple[float, float]:
    """(Δ, s): s = w_DMC/(w_DMC + w_EMC); Δ = w_EC − (0.3 + 0.2 s), EC above the anchor line."""
    blend = _blend(fractions)
    s = blend[_DMC] / (blend[_DMC] + blend[_EMC])
    return blend[_EC] - (0.3 + 0.2 * s), s


def _log_anchor_blend(s: float, c: float, temperature: float) -> float:
    emc = landesfeind(LANDESFEIND_EC_EMC_3_7, c, temperature)
    dmc = landesfeind(LANDESFEIND_EC_DMC_1_1, c, temperature)
    return (1.0 - s) * math.log(emc) + s * math.log(dmc)


def anchor_blend(
    fractions: Mapping[str, float], salt: str, molality: float, temperature: float
) -> float:
    """σ (mS/cm) of the two Landesfeind anchors mixed by s, without the EC correction g.

    Public so that the fit of `EC_CORRECTION` can be reproduced from data.
    """
    blend, c = _validated(fractions, salt, molality, temperature)
    _, s = ec_offset(blend)
    return math.exp(_log_anchor_blend(s, c, temperature))


def conductivity(
    fractions: Mapping[str, float], salt: str, molality: float, temperature: float
) -> float:
    """Ionic conductivity in mS/cm.

    `fractions`: solvent mass fractions of the salt-free blend keyed by SMILES (canonical
    preferred), summing to 1; `salt`: salt SMILES; `molality`: mol/kg of solvent;
    `temperature`: °C. Raises `SimulationError` outside `VALIDITY` or for unknown species.
    """
    blend, c = _validated(fractions, salt, molality, temperature)
    delta, s = ec_offset(blend)
    a1, a2, a3, a4 = EC_CORRECTION
    log_g = delta * (a1 + a2 * s + a4 * (c - 1.0)) + a3 * delta * delta
    return math.exp(_log_anchor_blend(s, c, temperature) + log_g)
