"""How an electrolyte formulation scales the SEI growth rate of the cell twin.

The twin uses PyBaMM's "solvent-diffusion limited" SEI (H. J. Ploehn, P. Ramadass, R. E. White,
J. Electrochem. Soc. 151 (2004) A456, doi:10.1149/1.1644601; as implemented in PyBaMM after
F. Single, A. Latz, B. Horstmann, ChemSusChem 11 (2018) 1950, doi:10.1002/cssc.201800077): the
film grows at dL/dt ∝ D_sol·c_sol/L, so multiplying the solvent diffusivity D_sol by m multiplies
the growth rate (and, to first order, the capacity lost to SEI) by m.

    m = Π_additive  m_sat(a) ** min(w_a / w_sat(a), 1)

w_a is the additive's mass fraction in the salt-free solvent blend. The effect grows log-linearly
with dose up to w_sat (the usual "enough to cover the graphite surface" dose) and saturates there:
more additive forms no better film, and its real downside (higher impedance from thick
poly(VC) / LiF-rich films) is not modelled.

Evidence (qualitative: no paper gives a transferable diffusivity ratio, so the multipliers are
ASSUMPTIONS chosen inside the ranges below and stated with every result):

- VC: D. Aurbach et al., Electrochim. Acta 47 (2002) 1423, doi:10.1016/S0013-4686(01)00858-1 —
  VC is reduced before EC to a polymeric, more cohesive SEI; lower irreversible capacity and
  better cycling, notably at elevated temperature. J. C. Burns et al. (Dahn group), J.
  Electrochem. Soc. 160 (2013) A1451, "Predicting and extending the lifetime of Li-ion batteries"
  — high-precision coulometry of graphite-based cells shows 1–2 % VC lowering the coulombic
  inefficiency (parasitic charge per hour) several-fold. m_sat = 0.5 (plausible 0.3–0.8) at
  w_sat = 0.02.
- FEC: R. McMillan et al., J. Power Sources 81–82 (1999) 20 — FEC reduces first-cycle loss and
  improves cycling on graphite; S. S. Zhang, J. Power Sources 162 (2006) 1379,
  doi:10.1016/j.jpowsour.2006.07.074 and K. Xu, Chem. Rev. 114 (2014) 11503,
  doi:10.1021/cr500003w review FEC's LiF-rich, thinner SEI. On graphite its benefit is smaller
  than VC's: m_sat = 0.6 (plausible 0.4–0.9) at w_sat = 0.05.
- EC, EMC, DMC: the baseline. PyBaMM's SEI parameters in the Chen2020 set are generic defaults
  for a carbonate electrolyte, so m = 1 without additives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from electroloop.errors import SimulationError

__all__ = ["ADDITIVES", "COMPONENTS", "SEI_MODEL", "AdditiveEffect", "SeiRate", "sei_rate"]

SEI_MODEL = "electroloop.simulations.sei/dose-saturating-multiplier@1"
"""Name and version of this rule, recorded with every result (bump on any change)."""


@dataclass(frozen=True)
class AdditiveEffect:
    """One additive's assumed effect: `m_sat` reached at mass fraction `w_sat`."""

    m_sat: float
    plausible: tuple[float, float]
    w_sat: float
    max_fraction: float
    evidence: str


ADDITIVES: dict[str, AdditiveEffect] = {
    "VC": AdditiveEffect(
        m_sat=0.5,
        plausible=(0.3, 0.8),
        w_sat=0.02,
        max_fraction=0.05,
        evidence="Aurbach et al. 2002 doi:10.1016/S0013-4686(01)00858-1; Burns et al. 2013 "
        "J. Electrochem. Soc. 160 A1451 (qualitative; multiplier assumed)",
    ),
    "FEC": AdditiveEffect(
        m_sat=0.6,
        plausible=(0.4, 0.9),
        w_sat=0.05,
        max_fraction=0.2,
        evidence="McMillan et al. 1999 J. Power Sources 81-82 20; Zhang 2006 "
        "doi:10.1016/j.jpowsour.2006.07.074; Xu 2014 doi:10.1021/cr500003w (qualitative; "
        "multiplier assumed)",
    ),
}
"""Additive name -> assumed effect. `max_fraction` bounds the accepted dose."""

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
    """SEI growth-rate multiplier for solvent mass fractions (incl. FEC/VC), with provenance.

    Raises `SimulationError` for unknown components, fractions outside 0..1, a sum other than
    1, or an additive dose above its `max_fraction`.
    """
    blend = normalized(fractions)
    log_m = 0.0
    provenance = [SEI_MODEL]
    for name, effect in ADDITIVES.items():
        dose = blend.get(name, 0.0)
        if dose == 0.0:
            continue
        exponent = min(dose / effect.w_sat, 1.0)
        log_m += exponent * math.log(effect.m_sat)
        provenance.append(
            f"{name} {dose:g} w/w: x{effect.m_sat**exponent:.3g} "
            f"(m_sat {effect.m_sat}, plausible {effect.plausible[0]}-{effect.plausible[1]}, "
            f"saturates at {effect.w_sat}); {effect.evidence}"
        )
    if len(provenance) == 1:
        provenance.append("no SEI-forming additive: baseline PyBaMM Chen2020 SEI parameters")
    return SeiRate(multiplier=math.exp(log_m), provenance=tuple(provenance))
