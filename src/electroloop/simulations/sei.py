"""How an electrolyte formulation scales the SEI growth rate of the cell twin.

The twin uses PyBaMM's "solvent-diffusion limited" SEI (H. J. Ploehn, P. Ramadass, R. E. White,
J. Electrochem. Soc. 151 (2004) A456, doi:10.1149/1.1644601; as implemented in PyBaMM after
F. Single, A. Latz, B. Horstmann, ChemSusChem 11 (2018) 1950, doi:10.1002/cssc.201800077) with
the parameters S. E. J. O'Kane et al. fitted to aged LG M50T cells (Phys. Chem. Chem. Phys. 24
(2022) 7909, doi:10.1039/D2CP00417H; PyBaMM's "OKane2022" set): the film grows at
dL/dt ∝ D_sol·c_sol/L, so multiplying the solvent diffusivity D_sol by m multiplies the growth
rate (and, to first order, the capacity lost to SEI) by m.

**Reference (m = 1): the electrolyte of the cell O'Kane fitted**, a commercial LG M50T, whose
electrolyte (like every commercial one) carries SEI-forming additives; O'Kane's SEI rate is
therefore that of a well-passivated cell. A laboratory electrolyte *without* additives grows SEI
faster: m = `BARE_MULTIPLIER`. Additives bring it down:

    m = BARE_MULTIPLIER · Π_additive  r(a) ** min(w_a / w_sat(a), 1)

w_a is the additive's mass fraction in the salt-free solvent blend, r(a) the ratio of the
parasitic (SEI) rate with a saturating dose to that without any additive. The effect grows
log-linearly with dose up to w_sat (the usual "enough to cover the graphite surface" dose) and
saturates there; the impedance penalty of over-dosing (thick poly(VC) / LiF-rich films) is not
modelled.

Evidence (the ratios are read from published comparisons of parasitic rate and fade, not fitted
here; each result carries them in its provenance):

- Bare electrolyte vs 2 % VC: J. C. Burns et al. (Dahn group), J. Electrochem. Soc. 158 (2011)
  A255 (high-precision coulometry of wound LiCoO2/graphite cells with 0–4 % VC) and J. C. Burns
  et al., J. Electrochem. Soc. 160 (2013) A1451 ("Predicting and extending the lifetime of
  Li-ion batteries"): 2 % VC lowers the coulombic inefficiency per hour, the rate of lithium lost
  to SEI, several-fold, and the capacity fade with it (no transferable number: the 4× below is
  an assumption inside that). D. Aurbach et al., Electrochim. Acta 47 (2002) 1423,
  doi:10.1016/S0013-4686(01)00858-1: VC is reduced before EC to a cohesive polymeric SEI.
  Here r(VC) = 0.25 (plausible 0.15–0.4) at w_sat = 0.02, and BARE_MULTIPLIER = 4 (plausible
  2.5–6), so 2 % VC restores the commercial reference (an assumption: LG does not publish its
  electrolyte).
- FEC: D. Y. Wang et al., J. Power Sources 251 (2014) 311 (a systematic comparison of VC, FEC,
  PS … in LiCoO2/graphite pouch cells: FEC lowers parasitic rates, less than VC on graphite);
  R. McMillan et al., J. Power Sources 81–82 (1999) 20; S. S. Zhang, J. Power Sources 162
  (2006) 1379, doi:10.1016/j.jpowsour.2006.07.074; K. Xu, Chem. Rev. 114 (2014) 11503,
  doi:10.1021/cr500003w (LiF-rich, thinner SEI). r(FEC) = 0.35 (plausible
  0.2–0.6) at w_sat = 0.05.
- EC, EMC, DMC: the base solvents, with no additive effect.

What this means for fade (graphite‖NMC, 1C, 25 °C, 100 cycles): an additive-free cell loses
about `BARE_MULTIPLIER`× the SEI lithium of the reference cell, a saturated-VC cell about the
reference, so their retention at cycle 100 differs by a few percentage points, the size of the
gaps between additive-free and VC/FEC cells in the comparisons above (`benchmarks/cycle_life.py`
prints both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from electroloop.errors import SimulationError

__all__ = [
    "ADDITIVES",
    "BARE_MULTIPLIER",
    "COMPONENTS",
    "SEI_MODEL",
    "AdditiveEffect",
    "SeiRate",
    "sei_rate",
]

SEI_MODEL = "electroloop.simulations.sei/okane2022-reference-multiplier@2"
"""Name and version of this rule, recorded with every result (bump on any change)."""

BARE_MULTIPLIER = 4.0
"""SEI rate of an additive-free carbonate electrolyte over O'Kane's commercial reference
(assumption inside the several-fold of Burns et al. 2011/2013; plausible 2.5–6)."""
BARE_PLAUSIBLE = (2.5, 6.0)


@dataclass(frozen=True)
class AdditiveEffect:
    """One additive's effect: the SEI rate is multiplied by `ratio` at a dose of `w_sat` and
    above (log-linearly in between), relative to the additive-free electrolyte."""

    ratio: float
    plausible: tuple[float, float]
    w_sat: float
    max_fraction: float
    evidence: str


ADDITIVES: dict[str, AdditiveEffect] = {
    "VC": AdditiveEffect(
        ratio=0.25,
        plausible=(0.15, 0.4),
        w_sat=0.02,
        max_fraction=0.05,
        evidence="Burns et al. 2011 J. Electrochem. Soc. 158 A255; Burns et al. 2013 "
        "J. Electrochem. Soc. 160 A1451; Aurbach et al. 2002 doi:10.1016/S0013-4686(01)00858-1 "
        "(ratio an assumption inside the published several-fold)",
    ),
    "FEC": AdditiveEffect(
        ratio=0.35,
        plausible=(0.2, 0.6),
        w_sat=0.05,
        max_fraction=0.2,
        evidence="Wang et al. 2014 J. Power Sources 251 311; McMillan et al. 1999 J. Power "
        "Sources 81-82 20; Zhang 2006 doi:10.1016/j.jpowsour.2006.07.074; Xu 2014 "
        "doi:10.1021/cr500003w (ratio an assumption: smaller gain than VC on graphite)",
    ),
}
"""Additive name -> effect. `max_fraction` bounds the accepted dose."""

COMPONENTS: dict[str, str] = {
    "EC": "O=C1OCCO1",
    "EMC": "CCOC(=O)OC",
    "DMC": "COC(=O)OC",
    "FEC": "O=C1OCC(F)O1",
    "VC": "O=c1occo1",
}
"""Accepted solvent/additive names -> SMILES (either may be used as a key)."""

_BY_SMILES = {smiles: name for name, smiles in COMPONENTS.items()} | {"O=C1OC=CO1": "VC"}
_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SeiRate:
    """SEI growth-rate multiplier of a formulation and where it comes from."""

    multiplier: float
    provenance: tuple[str, ...]


def normalized(fractions: Mapping[str, float]) -> dict[str, float]:
    """Mass fractions keyed by component name, validated: known names, 0..1 each, sum 1."""
    blend: dict[str, float] = {}
    for key, fraction in fractions.items():
        name = key if key in COMPONENTS else _BY_SMILES.get(key)
        if name is None:
            raise SimulationError(
                f"formulation component {key!r} is unknown; allowed: {sorted(COMPONENTS)} "
                "(names or their SMILES)"
            )
        if not (isinstance(fraction, int | float) and math.isfinite(fraction)):
            raise SimulationError(f"mass fraction of {key} is {fraction!r}; allowed: 0..1")
        if not 0.0 <= fraction <= 1.0:
            raise SimulationError(f"mass fraction of {key} is {fraction!r}; allowed: 0..1")
        blend[name] = blend.get(name, 0.0) + float(fraction)
    total = math.fsum(blend.values())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise SimulationError(
            f"formulation mass fractions sum to {total:.9g}; allowed: 1 within {_SUM_TOLERANCE}"
        )
    for name, effect in ADDITIVES.items():
        dose = blend.get(name, 0.0)
        if dose > effect.max_fraction:
            raise SimulationError(
                f"mass fraction of {name} is {dose!r}; allowed: 0..{effect.max_fraction}"
            )
    return {name: blend[name] for name in sorted(blend) if blend[name] > 0.0}


def sei_rate(fractions: Mapping[str, float]) -> SeiRate:
    """SEI growth-rate multiplier (relative to O'Kane 2022's reference cell) for solvent mass
    fractions (incl. FEC/VC), with provenance.

    Raises `SimulationError` for unknown components, fractions outside 0..1, a sum other than
    1, or an additive dose above its `max_fraction`.
    """
    blend = normalized(fractions)
    log_m = math.log(BARE_MULTIPLIER)
    provenance = [
        SEI_MODEL,
        f"additive-free electrolyte: x{BARE_MULTIPLIER:g} the SEI rate of O'Kane et al. 2022 "
        f"(doi:10.1039/D2CP00417H) commercial LG M50T reference (plausible "
        f"{BARE_PLAUSIBLE[0]:g}-{BARE_PLAUSIBLE[1]:g}; Burns et al. 2011, 2013)",
    ]
    for name, effect in ADDITIVES.items():
        dose = blend.get(name, 0.0)
        if dose == 0.0:
            continue
        exponent = min(dose / effect.w_sat, 1.0)
        log_m += exponent * math.log(effect.ratio)
        provenance.append(
            f"{name} {dose:g} w/w: x{effect.ratio**exponent:.3g} "
            f"(ratio {effect.ratio} at saturation, plausible {effect.plausible[0]}-"
            f"{effect.plausible[1]}, saturates at {effect.w_sat}); {effect.evidence}"
        )
    return SeiRate(multiplier=math.exp(log_m), provenance=tuple(provenance))
