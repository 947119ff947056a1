"""Equivalent-circuit graphite‖NMC cell whose resistance follows the electrolyte it was filled with.

Why an equivalent circuit: the simulated SMU and cycler integrate a cell for hours of instrument
time per command batch, so the model must cost microseconds per step, while still responding to
the one quantity a campaign changes — the electrolyte's conductivity σ.

    V = OCV(SOC) + I·R0 + v1,   dv1/dt = (I·R1 − v1)/τ1,   I > 0 charges

- OCV(SOC): full-cell OCV of the LG M50 cell, U_p(y) − U_n(x), from the graphite and NMC811
  open-circuit-potential fits of C.-H. Chen et al., J. Electrochem. Soc. 167 (2020) 080534,
  doi:10.1149/1945-7111/ab9050, as shipped in PyBaMM's "Chen2020" parameter set. The electrode
  stoichiometry windows (x_0, x_100, y_100, y_0) are PyBaMM's electrode-SOH solution for the
  2.5–4.2 V window of that set, so OCV(0) = 2.5 V and OCV(1) = 4.2 V. Both are evaluated once
  (first use, cached) into a table; PyBaMM is imported only then (extra ``cell``).
- Scaling: the shape is the LG M50's; capacity is the constructor's. The electrode area scales
  with capacity at the LG M50's 0.1027 m² per 5 Ah (Chen2020 electrode height × width), i.e.
  about 1.03 cm² for the default 5 mAh, the size of a coin-cell electrode.
- R0 = R_other + R_electrolyte + R_SEI. R_electrolyte = L_eff / (σ·A), with the ionic path
  L_eff = L_s/ε_s^b + L_n/(3·ε_n^b) + L_p/(3·ε_p^b) through the separator and both porous
  electrodes (Chen2020 thicknesses and porosities, Bruggeman b = 1.5; the factor 1/3 is a porous
  electrode's ionic resistance with uniform reaction, the transmission-line limit of
  N. Ogihara et al., J. Electrochem. Soc. 159 (2012) A1034, doi:10.1149/2.057207jes). This gives
  about 3.9 Ω·cm² at σ = 10 mS/cm. σ is the caller's value at the cell temperature.
- R_other (contacts, current collectors): 3 Ω·cm²; R1 (charge transfer and solid diffusion,
  lumped): 8 Ω·cm² at 25 °C with an Arrhenius activation energy of 50 kJ/mol, τ1 = 30 s.
  These are assumptions chosen to give a coin cell's typical 10–20 Ω total at 25 °C.
- Capacity fade from SEI growth, loss = k_cal·√(t/day)·A(T) + k_cyc·EFC, where EFC =
  throughput / (2·capacity) counts equivalent full cycles: the √t calendar law of M. Broussely
  et al., J. Power Sources 97–98 (2001) 13, doi:10.1016/S0378-7753(01)00722-4, and the
  throughput term of M. Safari et al., J. Electrochem. Soc. 156 (2009) A145,
  doi:10.1149/1.3043429. k_cal = 1.5e-3 per √day (about 3 % in a year at 25 °C), activation
  energy 50 kJ/mol, k_cyc = 1e-4 per EFC (20 % after 2000 cycles): assumptions typical of
  graphite‖NMC. The fade rates do not depend on σ: a worse electrolyte shows up through its
  higher resistance (an earlier cut-off at a given rate). The SEI adds 50 Ω·cm² per unit of
  fractional capacity lost to R0 (assumption).
- SEI additives (VC, FEC): `CellSpec.sei_multiplier` m scales k_cal and k_cyc alike, because
  both laws describe the same loss of lithium inventory to SEI growth. m comes from
  `electroloop.simulations.sei.sei_rate`, which follows the solvent-diffusion-limited SEI of
  H. J. Ploehn et al., J. Electrochem. Soc. 151 (2004) A456, doi:10.1149/1.1644601, and
  F. Single et al., ChemSusChem 11 (2018) 1950, doi:10.1002/cssc.201800077: the film grows
  ∝ D_sol, so scaling D_sol by m scales the capacity lost to SEI by m to first order. m = 1 is
  the baseline above: O'Kane 2022's commercial reference cell, as good as one with about 2 % VC
  (no additive is about 4; `sei.sei_rate`).
- Coulombic efficiency of charging: 0.9995 (assumption; formed graphite‖NMC coin cells reach
  99.9–99.98 %).
- `seed` draws the cell-to-cell spread of a real batch: capacity ×N(1, 1 %), R_other ×N(1, 3 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import numpy as np

from electroloop.errors import SimulationError

__all__ = [
    "CellSpec",
    "EquivalentCircuitCell",
    "electrolyte_path_length",
    "ocv_table",
    "stoichiometry_window",
]

GAS_CONSTANT = 8.314462618  # J/(mol·K)
FARADAY_HOURS = 3600.0  # s per h: Ah <-> As

SOC_RANGE = (-0.02, 1.02)
"""SOC span of the OCV table; a cell driven beyond it is clamped (instrument limits trip first)."""

AREA_PER_AH = 0.065 * 1.58 / 5.0 * 1e4
"""cm² of electrode per Ah: Chen2020's LG M50, 0.1027 m² for 5 Ah."""

R_OTHER_ASR = 3.0  # Ω·cm²: contacts and current collectors (assumption)
R1_ASR = 8.0  # Ω·cm² at 25 °C: charge transfer and solid diffusion, lumped (assumption)
R1_ACTIVATION = 50e3  # J/mol (assumption)
TAU1 = 30.0  # s, polarisation time constant (assumption)
K_CALENDAR = 1.5e-3  # fractional loss per √day at 25 °C (Broussely 2001 form; value assumed)
CALENDAR_ACTIVATION = 50e3  # J/mol (assumption)
K_CYCLE = 1e-4  # fractional loss per equivalent full cycle (Safari 2009 form; value assumed)
SEI_ASR_PER_LOSS = 50.0  # Ω·cm² added to R0 per unit fractional capacity lost (assumption)
CHARGE_EFFICIENCY = 0.9995  # Coulombic efficiency of charging (assumption)
CAPACITY_SPREAD = 0.01  # relative standard deviation of capacity in a batch (assumption)
RESISTANCE_SPREAD = 0.03  # relative standard deviation of R_other in a batch (assumption)
SEI_MULTIPLIER_RANGE = (0.05, 20.0)
"""Accepted `CellSpec.sei_multiplier`: far beyond `sei.sei_rate`'s about 0.35..4, still a fade
model."""
_REFERENCE_T = 298.15  # K


@dataclass(frozen=True)
class CellSpec:
    """What a cell is built from: capacity Ah, electrolyte conductivity mS/cm, temperature °C,
    and the SEI growth-rate multiplier of its electrolyte (`sei.sei_rate(...).multiplier`)."""

    capacity: float = 0.005
    electrolyte_conductivity: float = 10.0
    temperature: float = 25.0
    initial_soc: float = 0.0
    sei_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if not 1e-5 <= self.capacity <= 100.0:
            raise SimulationError(f"capacity is {self.capacity} Ah; allowed: 1e-5..100 Ah")
        if not 0.01 <= self.electrolyte_conductivity <= 100.0:
            raise SimulationError(
                f"electrolyte conductivity is {self.electrolyte_conductivity} mS/cm; "
                "allowed: 0.01..100 mS/cm"
            )
        if not -40.0 <= self.temperature <= 80.0:
            raise SimulationError(f"temperature is {self.temperature} °C; allowed: -40..80 °C")
        if not 0.0 <= self.initial_soc <= 1.0:
            raise SimulationError(f"initial SOC is {self.initial_soc}; allowed: 0..1")
        low, high = SEI_MULTIPLIER_RANGE
        if not low <= self.sei_multiplier <= high:
            raise SimulationError(
                f"SEI multiplier (sei_multiplier) is {self.sei_multiplier}; allowed: {low}..{high}"
            )


def _import_pybamm() -> ModuleType:
    try:
        import pybamm
    except ImportError as exc:  # pragma: no cover - the dev venv has it
        raise SimulationError(
            "the cell model needs PyBaMM: pip install 'electroloop[cell]'"
        ) from exc
    return pybamm  # type: ignore[no-any-return]


def _evaluate(function: object, values: np.ndarray) -> np.ndarray:
    """Evaluate a PyBaMM parameter function on numpy input (some return Symbols; STACK.md §9)."""
    pybamm = _import_pybamm()
    out = function(pybamm.Vector(np.atleast_1d(values)))  # type: ignore[operator]
    return np.ravel(out.evaluate() if isinstance(out, pybamm.Symbol) else out).astype(float)


@cache
def _chen2020() -> tuple[object, tuple[float, float, float, float]]:
    pybamm = _import_pybamm()
    values = pybamm.ParameterValues("Chen2020")
    x_0, x_100, y_100, y_0 = pybamm.lithium_ion.get_min_max_stoichiometries(values)
    return values, (float(x_0), float(x_100), float(y_100), float(y_0))


def stoichiometry_window() -> tuple[float, float, float, float]:
    """(x_0, x_100, y_100, y_0): graphite and NMC stoichiometry at 0 % and 100 % SOC (Chen2020)."""
    return _chen2020()[1]


@cache
def ocv_table(points: int = 209) -> tuple[np.ndarray, np.ndarray]:
    """(soc, ocv): `points` SOC values over `SOC_RANGE` and the full-cell OCV there, V."""
    values, (x_0, x_100, y_100, y_0) = _chen2020()
    soc = np.linspace(*SOC_RANGE, points)
    x = x_0 + soc * (x_100 - x_0)
    y = y_0 + soc * (y_100 - y_0)
    ocp_n = values["Negative electrode OCP [V]"]  # type: ignore[index]
    ocp_p = values["Positive electrode OCP [V]"]  # type: ignore[index]
    ocv = _evaluate(ocp_p, y) - _evaluate(ocp_n, x)
    soc.flags.writeable = False
    ocv.flags.writeable = False
    return soc, ocv


@cache
def electrolyte_path_length() -> float:
    """L_eff, cm: separator plus one third of each porous electrode, tortuosity ε^-b (Chen2020)."""
    values, _ = _chen2020()

    def get(name: str) -> float:
        return float(values[name])  # type: ignore[index]

    separator = get("Separator thickness [m]") / get("Separator porosity") ** get(
        "Separator Bruggeman coefficient (electrolyte)"
    )
    electrodes = sum(
        get(f"{side} electrode thickness [m]")
        / (
            3.0
            * get(f"{side} electrode porosity")
            ** get(f"{side} electrode Bruggeman coefficient (electrolyte)")
        )
        for side in ("Negative", "Positive")
    )
    return float(separator + electrodes) * 100.0  # m -> cm


def _arrhenius(activation: float, temperature: float) -> float:
    """Rate factor relative to 25 °C."""
    kelvin = temperature + 273.15
    return math.exp(-activation / GAS_CONSTANT * (1.0 / kelvin - 1.0 / _REFERENCE_T))


class EquivalentCircuitCell:
    """One graphite‖NMC cell: R0 + one RC pair + OCV(SOC), with SEI fade (see module docstring).

    State is plain floats, so `copy.copy(cell)` is an independent trial copy (the simulators
    use it to land a step exactly on its cut-off).
    """

    def __init__(self, spec: CellSpec, seed: int = 0) -> None:
        self.spec = spec
        rng = np.random.default_rng([seed, 0xCE11])
        self._soc_grid, self._ocv_grid = ocv_table()
        self.area = spec.capacity * AREA_PER_AH  # cm²
        self.nominal_capacity = spec.capacity * max(0.9, 1.0 + CAPACITY_SPREAD * rng.normal())
        r_other = R_OTHER_ASR * max(0.8, 1.0 + RESISTANCE_SPREAD * rng.normal())
        sigma = spec.electrolyte_conductivity * 1e-3  # mS/cm -> S/cm
        self.electrolyte_resistance = electrolyte_path_length() / (sigma * self.area)  # Ω
        self._r_fixed = r_other / self.area + self.electrolyte_resistance  # Ω
        self.r1 = R1_ASR / _arrhenius(R1_ACTIVATION, spec.temperature) / self.area  # Ω
        calendar = K_CALENDAR * _arrhenius(CALENDAR_ACTIVATION, spec.temperature)
        self._calendar_rate = calendar * spec.sei_multiplier  # both are SEI growth
        self._cycle_rate = K_CYCLE * spec.sei_multiplier
        self.soc = spec.initial_soc
        self.v1 = 0.0  # V across the RC pair
        self.throughput = 0.0  # Ah charged plus discharged
        self.elapsed = 0.0  # s
        self.capacity = self.nominal_capacity  # Ah, present

    @property
    def fade(self) -> float:
        """Fraction of the nominal capacity lost to SEI growth so far."""
        return 1.0 - self.capacity / self.nominal_capacity

    @property
    def resistance(self) -> float:
        """Series resistance R0 now, Ω (grows with the SEI)."""
        return self._r_fixed + SEI_ASR_PER_LOSS * self.fade / self.area

    def ocv(self, soc: float) -> float:
        """Open-circuit voltage at `soc`, V (clamped to the table's SOC range)."""
        return float(np.interp(soc, self._soc_grid, self._ocv_grid))

    def terminal_voltage(self, current: float) -> float:
        """Voltage at the terminals if `current` (A, + charges) flowed now."""
        return self.ocv(self.soc) + current * self.resistance + self.v1

    def current_for_voltage(self, voltage: float, dt: float = 0.0) -> float:
        """Current (A) that holds the terminals at `voltage` at the end of the next `dt` seconds.

        A voltage source (a CV step, an SMU in voltage mode or in compliance) uses this. The
        OCV is linearised about the present SOC (its slope adds dOCV/dSOC·dt/(3600·Q) to the
        resistance), so keep `dt` short where the OCV curves sharply.
        """
        decay = math.exp(-dt / TAU1)
        slope = (self.ocv(self.soc + 0.005) - self.ocv(self.soc - 0.005)) / 0.01
        return (voltage - self.ocv(self.soc) - self.v1 * decay) / (
            self.resistance + self.r1 * (1.0 - decay) + slope * dt / (3600.0 * self.capacity)
        )

    def step(self, current: float, dt: float) -> None:
        """Pass `current` (A, + charges) for `dt` seconds of instrument time."""
        if not (math.isfinite(current) and math.isfinite(dt)) or dt < 0.0:
            raise SimulationError(f"cannot step the cell by {dt} s at {current} A")
        if dt == 0.0:
            return
        charge = current * dt / FARADAY_HOURS  # Ah
        stored = charge * CHARGE_EFFICIENCY if charge > 0.0 else charge
        soc = self.soc + stored / self.capacity
        self.soc = min(max(soc, SOC_RANGE[0]), SOC_RANGE[1])
        decay = math.exp(-dt / TAU1)
        self.v1 = self.v1 * decay + current * self.r1 * (1.0 - decay)
        self.throughput += abs(charge)
        self.elapsed += dt
        calendar = self._calendar_rate * math.sqrt(self.elapsed / 86400.0)
        cycling = self._cycle_rate * self.throughput / (2.0 * self.nominal_capacity)
        self.capacity = self.nominal_capacity * max(0.0, 1.0 - calendar - cycling)
