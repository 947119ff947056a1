"""Material cost of an electrolyte per kg, from a documented table of indicative bulk prices.

Why a table and not a model: prices are market facts, not physics. The numbers below are
indicative battery-grade bulk prices and carry a large uncertainty (LiPF6 moved by a factor of
3 within 2021–2023, following lithium carbonate); a lab replaces them with its purchasing data.
They exist so that a cost objective has the right *shape*: the salt dominates (≈ 20× a solvent
per kg), so cheaper electrolytes trade conductivity for less salt.

Sources:
- LiPF6: N. Susarla and S. Ahmed, "Estimating cost and energy demand in producing lithium
  hexafluorophosphate for Li-ion battery electrolyte", Ind. Eng. Chem. Res. 58 (2019) 3754,
  doi:10.1021/acs.iecr.8b03752 — modelled production cost and market prices in the 15–25 USD/kg
  range; 20 USD/kg is used.
- Carbonate solvents (EC, EMC, DMC): indicative commodity bulk prices of 1–2.5 USD/kg
  (2020–2023 market quotes for battery-grade carbonates); no primary source could be checked
  offline, so treat them as placeholders with the right order of magnitude. EMC, made from DMC
  by transesterification, is priced above DMC.
- PC, DEC, FEC, DME, LiBF4, LiBOB: the order-of-magnitude placeholders of
  `electroloop.simulations.electrolyte.PRICE_USD_PER_KG` (PC, DEC like the commodity carbonates;
  FEC, DME specialty solvents at ~5–10×; LiBF4, LiBOB ~1.5× LiPF6); unsourced, so the simulated
  lab can price every stock it makes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from electroloop.errors import SimulationError
from electroloop.simulations.density import SALT_MOLAR_MASS, SALT_SMILES, SOLVENT_SMILES

PRICE_USD_PER_KG: dict[str, float] = {
    SOLVENT_SMILES["EC"]: 1.5,
    SOLVENT_SMILES["EMC"]: 2.0,
    SOLVENT_SMILES["DMC"]: 1.2,
    SALT_SMILES["LiPF6"]: 20.0,
    SOLVENT_SMILES["PC"]: 1.5,
    SOLVENT_SMILES["DEC"]: 2.5,
    SOLVENT_SMILES["FEC"]: 10.0,
    SOLVENT_SMILES["DME"]: 5.0,
    SALT_SMILES["LiBF4"]: 30.0,
    SALT_SMILES["LiBOB"]: 30.0,
}
"""Canonical SMILES -> indicative battery-grade bulk price, USD/kg (see module docstring)."""


def _price(smiles: str) -> float:
    try:
        return PRICE_USD_PER_KG[smiles]
    except KeyError:
        raise SimulationError(
            f"no price for {smiles!r}; allowed: {sorted(PRICE_USD_PER_KG)}"
        ) from None


def electrolyte_cost(fractions: Mapping[str, float], salt: str, molality: float) -> float:
    """Material cost in USD per kg of electrolyte (solvents + salt).

    `fractions`: solvent mass fractions of the salt-free blend keyed by canonical SMILES;
    `salt`: canonical SMILES; `molality`: mol/kg of solvent.
    """
    if not (math.isfinite(molality) and molality >= 0.0):
        raise SimulationError(f"molality is {molality!r}; allowed: >= 0 mol/kg")
    salt_mass = molality * SALT_MOLAR_MASS[salt] / 1000.0  # kg of salt per kg of solvent
    solvent_cost = math.fsum(w * _price(smiles) for smiles, w in fractions.items())
    return (solvent_cost + salt_mass * _price(salt)) / (1.0 + salt_mass)
