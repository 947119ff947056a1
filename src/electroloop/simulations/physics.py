"""The simulated lab's conductivity: one function over every salt and solvent the models cover.

Why two tiers, and in this order:

1. LiPF6 in EC/EMC/DMC inside `conductivity.VALIDITY` (widened by its `DOSING_MARGIN`):
   `electroloop.simulations.conductivity`. It is anchored on the two published fits of Landesfeind
   & Gasteiger, J. Electrochem. Soc. 166 (2019) A3079, doi:10.1149/2.0571912jes, and reproduces
   them exactly (EC correction: 0.41 mS/cm MAE on CALiSol-23). It is the demo's physics, so the
   demo's values, its optimum and every recorded number stay identical.
2. Everywhere else: the CALiSol-23-fitted model `electroloop.simulations.electrolyte` (de Blasio
   et al., Sci. Data 2024, doi:10.1038/s41597-024-03575-8) for LiPF6, LiBF4 and LiBOB. It trades
   exactness at the Landesfeind anchors for coverage; its leave-one-source-out MAE is 0.28 mS/cm
   for LiPF6, 0.32 for LiBF4 and 0.56 for LiBOB (`docs/electrolyte_model.md`). Like tier 1 it
   computes samples a dosing margin (`DOSING_MARGIN`) past its validity box, so that a campaign
   bounded at the box's edge is not failed by the lab's dosing noise.

Outside both, `SimulationError` names what is unsupported and lists what is. The tier is chosen
from the solvents present (mass fraction > 0), so a value depends on the mixture, not on how its
keys are listed; where the tiers meet (e.g. EC leaving 0.09..0.61 in LiPF6 EC/EMC/DMC) σ jumps by
about the broad model's error.

Species are the ones both a conductivity model and the stock tables of `density` and `cost`
know: solvents `SOLVENTS`, salts `SALTS` (names as CALiSol columns, values RDKit canonical
SMILES). Fitted but unsupported here for lack of a density or price: MA, TFP, 2-Glyme (LiPF6);
AN, DMSO, EA (LiBOB).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import lru_cache

from rdkit import Chem

from electroloop.errors import SimulationError
from electroloop.models import SUM_TOLERANCE, SearchSpace
from electroloop.simulations import conductivity as landesfeind_model
from electroloop.simulations.density import SALT_SMILES, SOLVENT_SMILES
from electroloop.simulations.electrolyte import MODEL as BROAD_MODEL
from electroloop.simulations.electrolyte import Domain, default_model

MODEL = "electroloop.simulations.physics/landesfeind-tier+calisol23-tier@1"
"""Name and version of the tiered physics (bump on any change to the tier choice)."""

SOLVENTS: dict[str, str] = dict(SOLVENT_SMILES)
"""Supported solvents, CALiSol name -> RDKit canonical SMILES."""

SALTS: dict[str, str] = dict(SALT_SMILES)
"""Supported salts, CALiSol name -> RDKit canonical SMILES."""

DOSING_MARGIN: dict[str, float] = {"mass fraction": 0.01, "molality": 0.02, "temperature": 0.5}
"""How far past the CALiSol-fitted model's box a sample is still computed (as
`conductivity.DOSING_MARGIN`: gravimetric dosing misses by ~0.3 %, a bath by tenths of a kelvin)."""

_LANDESFEIND_SALT = "LiPF6"
_LANDESFEIND_SOLVENTS = frozenset({"EC", "EMC", "DMC"})
_NAME_OF_SOLVENT = {smiles: name for name, smiles in SOLVENTS.items()}
_NAME_OF_SALT = {smiles: name for name, smiles in SALTS.items()}


@lru_cache(maxsize=1024)
def _canonical(smiles: str, kind: str) -> str:
    if smiles in _NAME_OF_SOLVENT or smiles in _NAME_OF_SALT:
        return smiles
    try:
        return str(Chem.CanonSmiles(smiles))
    except Exception as exc:  # RDKit raises bare Exception/ArgumentError on bad SMILES
        raise SimulationError(f"{kind} SMILES {smiles!r} cannot be parsed") from exc


def _listing(table: Mapping[str, str], names: Iterable[str] | None = None) -> str:
    chosen = sorted(table if names is None else names)
    return ", ".join(f"{n} ({table[n]})" for n in chosen)


def salt_name(salt_smiles: str) -> str:
    """CALiSol name of a salt SMILES; `SimulationError` listing `SALTS` if unsupported."""
    name = _NAME_OF_SALT.get(_canonical(salt_smiles, "salt"))
    if name is None:
        raise SimulationError(
            f"salt SMILES {salt_smiles!r} is not supported by the simulator's physics; "
            f"supported salts: {_listing(SALTS)}"
        )
    return name


def solvent_name(smiles: str) -> str:
    """CALiSol name of a solvent SMILES; `SimulationError` listing `SOLVENTS` if unsupported."""
    name = _NAME_OF_SOLVENT.get(_canonical(smiles, "solvent"))
    if name is None:
        raise SimulationError(
            f"solvent SMILES {smiles!r} is not supported by the simulator's physics; "
            f"supported solvents: {_listing(SOLVENTS)}"
        )
    return name


def domain(salt: str) -> Domain:
    """The CALiSol-fitted model's box for a salt (by name), restricted to `SOLVENTS`."""
    full = default_model().domain(salt)
    return Domain(
        solvents={n: r for n, r in full.solvents.items() if n in SOLVENTS},
        molality=full.molality,
        temperature=full.temperature,
    )


def supported_solvents(salt_smiles: str) -> dict[str, str]:
    """Solvents (name -> SMILES) the physics covers with this salt."""
    return {n: SOLVENTS[n] for n in sorted(domain(salt_name(salt_smiles)).solvents)}


def _blend(fractions: Mapping[str, float]) -> dict[str, float]:
    """Mass fractions by CALiSol name, validated (each finite and >= 0, sum 1 within 1e-6)."""
    blend: dict[str, float] = {}
    for smiles, fraction in fractions.items():
        name = solvent_name(smiles)
        if not (math.isfinite(fraction) and fraction >= 0.0):
            raise SimulationError(f"fraction of {smiles!r} is {fraction!r}; allowed: >= 0")
        blend[name] = blend.get(name, 0.0) + fraction
    total = math.fsum(blend.values())
    if abs(total - 1.0) > 1e-6:
        raise SimulationError(f"solvent fractions sum to {total:.9g}; allowed: 1 within 1e-6")
    return blend


def _in_landesfeind(salt: str, blend: Mapping[str, float], molality: float, t: float) -> bool:
    """Inside `conductivity`'s domain, exactly as that module accepts samples."""
    present = {n for n, w in blend.items() if w > 0.0}
    if salt != _LANDESFEIND_SALT or not present <= _LANDESFEIND_SOLVENTS:
        return False
    values = {"EC mass fraction": blend.get("EC", 0.0), "molality": molality, "temperature": t}
    for variable, value in values.items():
        low, high = landesfeind_model.VALIDITY[variable]
        margin = landesfeind_model.DOSING_MARGIN[variable]
        if not (math.isfinite(value) and low - margin <= value <= high + margin):
            return False
    return True


def _near_box(box: Domain, blend: Mapping[str, float], molality: float, t: float) -> bool:
    """Inside `box` widened by `DOSING_MARGIN` (solvents outside the box never are)."""
    margin = DOSING_MARGIN["mass fraction"]
    for name, w in blend.items():
        if w > 0.0 and name not in box.solvents:
            return False
    for name, (low, high) in box.solvents.items():
        if not low - margin <= blend.get(name, 0.0) <= high + margin:
            return False
    m_low, m_high = box.molality
    t_low, t_high = box.temperature
    dm, dt = DOSING_MARGIN["molality"], DOSING_MARGIN["temperature"]
    return m_low - dm <= molality <= m_high + dm and t_low - dt <= t <= t_high + dt


def model_of(
    fractions_by_smiles: Mapping[str, float], salt_smiles: str, molality: float, temperature: float
) -> str:
    """The `MODEL` name of the tier that computes this sample (validates the species)."""
    salt = salt_name(salt_smiles)
    if _in_landesfeind(salt, _blend(fractions_by_smiles), molality, temperature):
        return landesfeind_model.MODEL
    return BROAD_MODEL


def conductivity(
    fractions_by_smiles: Mapping[str, float], salt_smiles: str, molality: float, temperature: float
) -> float:
    """Ionic conductivity in mS/cm, from the tier that covers the sample (module docstring).

    `fractions_by_smiles`: solvent mass fractions of the salt-free blend keyed by SMILES (canonical
    preferred), summing to 1; `salt_smiles`: salt SMILES; `molality`: mol/kg of solvent;
    `temperature`: °C. Raises `SimulationError` for unsupported species or outside both domains.
    """
    salt = salt_name(salt_smiles)
    blend = _blend(fractions_by_smiles)
    if _in_landesfeind(salt, blend, molality, temperature):
        # Absent solvents (w = 0) of other kinds are dropped; EC/EMC/DMC keys pass unchanged.
        anchored = {
            smiles: w
            for smiles, w in fractions_by_smiles.items()
            if solvent_name(smiles) in _LANDESFEIND_SOLVENTS
        }
        return landesfeind_model.conductivity(anchored, salt_smiles, molality, temperature)
    box = domain(salt)
    foreign = sorted(n for n, w in blend.items() if w > 0.0 and n not in box.solvents)
    if foreign:
        raise SimulationError(
            f"solvents {foreign} are not supported with {salt}; supported with {salt}: "
            f"{_listing(SOLVENTS, box.solvents)}"
        )
    near = _near_box(box, blend, molality, temperature)
    prediction = default_model().predict(salt, blend, molality, temperature, extrapolate=near)
    return prediction.conductivity


def _reachable(space: SearchSpace) -> dict[str, tuple[float, float]]:
    """Each solvent's attainable mass-fraction range under the bounds and Σ w = 1, by name."""
    lows = {s.name: s.min_fraction for s in space.solvents}
    highs = {s.name: s.max_fraction for s in space.solvents}
    out: dict[str, tuple[float, float]] = {}
    for s in space.solvents:
        others_high = math.fsum(v for k, v in highs.items() if k != s.name)
        others_low = math.fsum(v for k, v in lows.items() if k != s.name)
        name = solvent_name(s.canonical_smiles)
        low, high = max(s.min_fraction, 1.0 - others_high), min(s.max_fraction, 1.0 - others_low)
        old = out.get(name, (0.0, 0.0))
        out[name] = (old[0] + low, old[1] + high)
    return out


def _landesfeind_covers(
    salt: str, reach: Mapping[str, tuple[float, float]], space: SearchSpace
) -> bool:
    if salt != _LANDESFEIND_SALT or not set(reach) <= _LANDESFEIND_SOLVENTS:
        return False
    ranges = {
        "EC mass fraction": reach.get("EC", (0.0, 0.0)),
        "molality": (space.salt.min_molality, space.salt.max_molality),
        "temperature": (space.temperature, space.temperature),
    }
    for variable, (value_low, value_high) in ranges.items():
        low, high = landesfeind_model.VALIDITY[variable]
        if not (low - SUM_TOLERANCE <= value_low and value_high <= high + SUM_TOLERANCE):
            return False
    return True


def check_space(space: SearchSpace) -> None:
    """Raise `SimulationError` unless every formulation of `space` lies inside one tier's domain.

    Either tier must cover the whole space (no margins here: those are for dosing noise).
    """
    salt = salt_name(space.salt.canonical_smiles)
    reach = _reachable(space)
    if _landesfeind_covers(salt, reach, space):
        return
    box = domain(salt)
    issues = [
        f"solvent {n} is not supported with {salt}; supported with {salt}: "
        f"{_listing(SOLVENTS, box.solvents)}"
        for n in sorted(reach)
        if n not in box.solvents
    ]
    for name, (value_low, value_high) in sorted(reach.items()):
        if name in box.solvents:
            low, high = box.solvents[name]
            if value_low < low - SUM_TOLERANCE or value_high > high + SUM_TOLERANCE:
                issues.append(
                    f"{name} mass fraction reaches {value_low:.4g}..{value_high:.4g}; "
                    f"allowed: {low:.4g}..{high:.4g}"
                )
    ranges = {
        "molality": ((space.salt.min_molality, space.salt.max_molality), box.molality, " mol/kg"),
        "temperature": ((space.temperature, space.temperature), box.temperature, " °C"),
    }
    for variable, ((value_low, value_high), (low, high), unit) in ranges.items():
        if value_low < low or value_high > high:
            issues.append(
                f"{variable} range is {value_low:g}..{value_high:g}{unit}; "
                f"allowed: {low:.4g}..{high:.4g}{unit}"
            )
    if issues:
        raise SimulationError(
            f"the search space ({salt}) reaches outside the simulator's physics: "
            + "; ".join(issues)
        )
