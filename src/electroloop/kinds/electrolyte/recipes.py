"""Recipes: a formulation becomes stock masses to dose; weighed masses become a formulation.

Each solvent has two stocks: the pure solvent and the salt dissolved in it at a fixed stock
molality m_s. A sample of solvent mass S_i of solvent i at molality m takes the fraction m/m_s of
that solvent from its salt stock, so any composition with m <= m_s is reachable and every
solvent's share is dosed from its own bottles. The reverse map uses only weighed masses, so the
recorded formulation is what is in the vial, not what was asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from electroloop.errors import ConfigError
from electroloop.models import Formulation, SearchSpace, Stock


def stocks_for(
    space: SearchSpace,
    stock_molality: float,
    density: Mapping[str, tuple[float, float]],
    stock_mass: float,
    lots: Mapping[str, str] | None = None,
) -> list[Stock]:
    """The two stocks per solvent a campaign needs (pure, and salt at `stock_molality`).

    `density` maps solvent name to (pure-solvent density, salt-stock density) in g/mL; `lots`
    stock name to the lot of its bottle (the lab file's `stock_lots`).
    """
    lots = lots or {}
    if stock_molality < space.salt.max_molality:
        raise ConfigError(
            f"stock_molality {stock_molality} mol/kg is below the campaign's max_molality "
            f"{space.salt.max_molality}; allowed: stock_molality >= max_molality"
        )
    stocks: list[Stock] = []
    for solvent in space.solvents:
        pure, salted = density[solvent.name]
        stocks.append(
            Stock(
                name=solvent.name,
                solvent=solvent.name,
                solvent_smiles=solvent.smiles,
                density=pure,
                initial_mass=stock_mass,
                lot=lots.get(solvent.name),
            )
        )
        stocks.append(
            Stock(
                name=f"{space.salt.name}-{solvent.name}",
                solvent=solvent.name,
                solvent_smiles=solvent.smiles,
                salt=space.salt.name,
                salt_smiles=space.salt.smiles,
                salt_molality=stock_molality,
                density=salted,
                initial_mass=stock_mass,
                lot=lots.get(f"{space.salt.name}-{solvent.name}"),
            )
        )
    return stocks


def _salt_mass_per_solvent_gram(stock: Stock, salt_molar_mass: float) -> float:
    """Grams of salt carried per gram of solvent in `stock`."""
    return stock.salt_molality * salt_molar_mass / 1000.0


def target_masses(
    formulation: Formulation, stocks: Sequence[Stock], salt_molar_mass: float, sample_mass: float
) -> dict[str, float]:
    """Stock name -> grams to dose so the vial holds `formulation` with total mass `sample_mass`."""
    solvent_mass = sample_mass / (1.0 + formulation.molality * salt_molar_mass / 1000.0)
    targets: dict[str, float] = {}
    for solvent, fraction in formulation.fractions.items():
        pure = [s for s in stocks if s.solvent == solvent and s.salt is None]
        salted = [s for s in stocks if s.solvent == solvent and s.salt == formulation.salt]
        if len(pure) != 1 or len(salted) != 1:
            raise ConfigError(
                f"solvent {solvent!r} needs exactly one pure and one "
                f"{formulation.salt} stock; found {len(pure)} and {len(salted)}"
            )
        share = solvent_mass * fraction
        from_salt_stock = share * formulation.molality / salted[0].salt_molality
        targets[salted[0].name] = from_salt_stock * (
            1.0 + _salt_mass_per_solvent_gram(salted[0], salt_molar_mass)
        )
        targets[pure[0].name] = share - from_salt_stock
    return targets


def as_dosed(
    dosed_masses: Mapping[str, float],
    stocks: Sequence[Stock],
    salt: str,
    salt_molar_mass: float,
    temperature: float,
) -> Formulation:
    """The formulation in the vial, computed from weighed stock masses."""
    by_name = {s.name: s for s in stocks}
    solvent_mass = dict.fromkeys((s.solvent for s in stocks), 0.0)  # undosed solvents are 0
    salt_moles = 0.0
    for name, mass in dosed_masses.items():
        stock = by_name[name]
        solvent = mass / (1.0 + _salt_mass_per_solvent_gram(stock, salt_molar_mass))
        solvent_mass[stock.solvent] += solvent
        salt_moles += solvent * stock.salt_molality / 1000.0
    total = math.fsum(solvent_mass.values())
    if total <= 0.0:
        raise ConfigError("no solvent was dosed; cannot compute a formulation")
    fractions = {name: mass / total for name, mass in solvent_mass.items()}
    last = max(fractions, key=fractions.__getitem__)
    fractions[last] = 1.0 - math.fsum(v for k, v in fractions.items() if k != last)
    return Formulation(
        fractions=fractions,
        salt=salt,
        molality=salt_moles / (total / 1000.0),
        temperature=temperature,
    )
