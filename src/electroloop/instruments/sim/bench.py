"""The physical truth every simulator shares: stock bottles and the vials on the bench.

Pumps move liquid between bottles and the vial on the balance, the balance weighs it, the meter
measures the vial in its cell (or, with none there, the one on the balance: a probe dipped in
on the pan). The bench is also the simulated lab's sample handler: vials move between the
rack, the balance and the meter when the campaign asks (`move`).

Every simulator reads and changes this one bench, under one lock, so the numbers a driver
reports can be checked against what "really" happened (`vial_contents`, `true_conductivity`).
Random streams are derived from one seed and a per-instrument name, so a run is reproducible
whatever order instruments are used in.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors

from electroloop.errors import SimulationError
from electroloop.models import Stock
from electroloop.samples import BALANCE, METER

__all__ = ["ConductivityModel", "SimulatedBench", "Vial"]

ConductivityModel = Callable[[Mapping[str, float], str, float, float], float]
"""(solvent mass fractions by canonical SMILES, salt canonical SMILES, molality mol/kg,
temperature °C) -> conductivity mS/cm; e.g. `electroloop.simulations.conductivity.conductivity`."""


@dataclass
class Vial:
    """A vial: its empty (tare) mass and the true mass of each stock put in, g."""

    id: str
    tare_mass: float
    contents: dict[str, float] = field(default_factory=dict)

    @property
    def gross_mass(self) -> float:
        return self.tare_mass + sum(self.contents.values())


@dataclass(frozen=True)
class _StockTruth:
    solvent_key: str  # canonical SMILES
    salt_key: str | None
    salt_mass_per_solution_mass: float
    salt_moles_per_solution_mass: float  # mol/g


class SimulatedBench:
    """Bottles, the vials on the balance pan, in the meter and in the racks, and the sample
    temperature.

    Vials weigh `vial_mass` ± 0.5 g empty. (How long the balance takes to settle after the load
    changes is the balance's business: `BalanceServer.settle_time`.)
    """

    name = "simulated bench"

    def __init__(
        self,
        stocks: Sequence[Stock],
        temperature: float,
        conductivity_model: ConductivityModel,
        seed: int,
        *,
        vial_mass: float = 12.0,
    ) -> None:
        names = [stock.name for stock in stocks]
        if len(set(names)) != len(names):
            raise SimulationError(f"stock names must be unique, got {names}")
        self.stocks = {stock.name: stock for stock in stocks}
        self.temperature = temperature
        self.conductivity_model = conductivity_model
        self.seed = seed
        self.vial_mass = vial_mass
        self.history: list[Vial] = []
        """Vials put aside by a fresh one taking their place on the balance or in the meter."""
        self.places: dict[str, str] = {}
        """Vial label -> where it is, for every vial moved (`move`, `find`)."""
        self._stored: dict[str, Vial] = {}  # in a rack, or in waste
        self._meter: Vial | None = None
        self._standards: dict[str, Callable[[float], float]] = {}
        self._lock = threading.RLock()
        self._truth = {stock.name: _truth(stock) for stock in stocks}
        self._bottles = {stock.name: stock.initial_mass for stock in stocks}
        self._vial_rng = self.rng("vials")
        self._vial_count = 0
        self._vial: Vial | None = self._new_vial()  # on the balance pan

    def rng(self, stream: str) -> np.random.Generator:
        """A random generator for one named stream, derived from the bench seed."""
        return np.random.default_rng([self.seed, zlib.crc32(stream.encode())])

    # -- vials ---------------------------------------------------------------------------

    def _new_vial(self, label: str | None = None) -> Vial:
        self._vial_count += 1
        tare = self.vial_mass + float(self._vial_rng.uniform(-0.5, 0.5))
        return Vial(id=label or f"vial-{self._vial_count:04d}", tare_mass=tare)

    def add_standard(self, label: str, place: str, conductivity: Callable[[float], float]) -> None:
        """Stand a certified standard's vial at `place`: in the meter it reads
        `conductivity(temperature)` mS/cm, whatever the conductivity model says."""
        with self._lock:
            self._standards[label] = conductivity
            self._put(self._take(label) or Vial(id=label, tare_mass=self.vial_mass), place)

    def present_fresh_vial(self) -> str:
        """Retire the vial on the balance into `history`, place an empty one; its id."""
        with self._lock:
            fresh = self._new_vial()
            self._put(fresh, BALANCE)
            return fresh.id

    @property
    def vial_id(self) -> str | None:
        """The label of the vial on the balance (None: the pan is empty)."""
        with self._lock:
            return self._vial.id if self._vial else None

    def move(self, vial: str, source: str, target: str) -> None:
        """Carry `vial` to `target`; a vial new to the bench comes empty from its rack slot."""
        with self._lock:
            self._put(self._take(vial) or self._new_vial(vial), target)

    def find(self, vial: str, place: str, masses: Mapping[str, float]) -> bool:
        """After a crash: the vial dosed with `masses` (stock -> g) is still on the bench.

        Simulators live in the process that died, so the resumed lab rebuilds that vial from
        the dosing record (the weighed masses) and puts it back at `place`.
        """
        with self._lock:
            found = self._take(vial) or self._new_vial(vial)
            found.contents = {name: float(mass) for name, mass in masses.items()}
            self._put(found, place)
            return True

    def _take(self, label: str) -> Vial | None:
        """Lift the vial labelled `label` from wherever it stands (None if the bench lacks it)."""
        if self._vial is not None and self._vial.id == label:
            vial, self._vial = self._vial, None
            return vial
        if self._meter is not None and self._meter.id == label:
            vial, self._meter = self._meter, None
            return vial
        return self._stored.pop(label, None)

    def _put(self, vial: Vial, place: str) -> None:
        """Set `vial` down at `place`; whatever stood on the balance or in the meter is put
        aside into `history`."""
        if place == BALANCE:
            if self._vial is not None:
                self.history.append(self._vial)
            self._vial = vial
        elif place == METER:
            if self._meter is not None:
                self.history.append(self._meter)
            self._meter = vial
        else:
            self._stored[vial.id] = vial
        self.places[vial.id] = place

    def refill_bottle(self, stock: str, mass: float) -> None:
        """A person topped the bottle of `stock` up by `mass` g."""
        with self._lock:
            self._bottles[stock] += mass

    def take_from_bottle(self, stock: str, mass: float) -> None:
        """Liquid that left the bottle before this simulator started (a resumed campaign)."""
        with self._lock:
            self._bottles[stock] = max(0.0, self._bottles[stock] - mass)

    def vial_contents(self, label: str | None = None) -> dict[str, float]:
        """Stock name -> true mass in vial `label` (default: the one on the balance), g."""
        with self._lock:
            vial = self._vial if label is None else self._find(label)
            return dict(vial.contents) if vial else {}

    def _find(self, label: str) -> Vial | None:
        for vial in (self._vial, self._meter, self._stored.get(label), *self.history):
            if vial is not None and vial.id == label:
                return vial
        return None

    def bottle_mass(self, stock: str) -> float:
        """True mass left in a stock bottle, g."""
        with self._lock:
            return self._bottles[stock]

    # -- what instruments do -------------------------------------------------------------

    def gross_load(self) -> float:
        """True mass on the balance pan (vial and contents), g."""
        with self._lock:
            return self._vial.gross_mass if self._vial else 0.0

    def withdraw(self, stock: str, volume: float) -> float:
        """Draw up to `volume` mL of `stock` from its bottle; the liquid volume drawn, mL."""
        with self._lock:
            density = self.stocks[stock].density
            mass = min(volume * density, self._bottles[stock])
            self._bottles[stock] -= mass
            return mass / density

    def deliver(self, stock: str, volume: float, *, to_vial: bool = True) -> None:
        """Put `volume` mL of `stock` into the vial (or back into its bottle)."""
        with self._lock:
            mass = volume * self.stocks[stock].density
            if to_vial:
                if self._vial is None:
                    raise SimulationError(f"{stock} delivered onto an empty balance pan")
                contents = self._vial.contents
                contents[stock] = contents.get(stock, 0.0) + mass
            else:
                self._bottles[stock] += mass

    def true_conductivity(self) -> float:
        """Conductivity of the true contents of the vial in the meter (else of the vial on the
        balance) at the bench temperature, mS/cm."""
        with self._lock:
            measured = self._meter or self._vial
            if measured is None:
                raise SimulationError("no vial in the meter or on the balance")
            if measured.id in self._standards:
                return self._standards[measured.id](self.temperature)
            contents = dict(measured.contents)
        solvents: dict[str, float] = {}
        salts: dict[str, float] = {}
        for name, mass in contents.items():
            truth = self._truth[name]
            salt_mass = mass * truth.salt_mass_per_solution_mass
            solvents[truth.solvent_key] = solvents.get(truth.solvent_key, 0.0) + mass - salt_mass
            if truth.salt_key is not None:
                moles = mass * truth.salt_moles_per_solution_mass
                salts[truth.salt_key] = salts.get(truth.salt_key, 0.0) + moles
        solvent_mass = sum(solvents.values())
        if solvent_mass <= 0.0:
            raise SimulationError(f"vial {measured.id} holds no solvent")
        if len(salts) > 1:
            raise SimulationError(f"vial holds several salts {sorted(salts)}; the model takes one")
        salt_key = next(iter(salts), None) or self._default_salt()
        molality = salts.get(salt_key, 0.0) / (solvent_mass / 1000.0)
        fractions = {key: mass / solvent_mass for key, mass in solvents.items()}
        return float(self.conductivity_model(fractions, salt_key, molality, self.temperature))

    def _default_salt(self) -> str:
        for truth in self._truth.values():
            if truth.salt_key is not None:
                return truth.salt_key
        raise SimulationError("no stock holds a salt; conductivity needs one")


def _truth(stock: Stock) -> _StockTruth:
    solvent_key = Chem.CanonSmiles(stock.solvent_smiles)
    if stock.salt_smiles is None or stock.salt_molality == 0.0:
        return _StockTruth(solvent_key, None, 0.0, 0.0)
    molecule = Chem.MolFromSmiles(stock.salt_smiles)
    if molecule is None:
        raise SimulationError(f"stock {stock.name!r}: salt SMILES {stock.salt_smiles!r} is invalid")
    molar_mass = float(Descriptors.MolWt(molecule))
    # Per kg of solvent: b mol of salt weighing b*M/1000 kg, so the solution weighs 1 + b*M/1000 kg.
    solution_per_solvent = 1.0 + stock.salt_molality * molar_mass / 1000.0
    return _StockTruth(
        solvent_key=solvent_key,
        salt_key=Chem.CanonSmiles(stock.salt_smiles),
        salt_mass_per_solution_mass=(solution_per_solvent - 1.0) / solution_per_solvent,
        salt_moles_per_solution_mass=stock.salt_molality / 1000.0 / solution_per_solvent,
    )
