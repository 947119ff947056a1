"""PyBaMM digital twin of a graphite‖NMC811 cell whose electrolyte is the campaign's formulation.

- Cell: PyBaMM's "OKane2022" parameter set: the LG M50 21700 cell (5 Ah nominal) of C.-H. Chen
  et al., J. Electrochem. Soc. 167 (2020) 080534, doi:10.1149/1945-7111/ab9050, with the
  degradation parameters S. E. J. O'Kane et al. fitted to aged LG M50T cells ("Lithium-ion
  battery degradation: how to model it", Phys. Chem. Chem. Phys. 24 (2022) 7909,
  doi:10.1039/D2CP00417H): SEI growth, partially reversible lithium plating (S. E. J. O'Kane et
  al., J. Electrochem. Soc. 167 (2020) 090540), and the porosity both take from the negative
  electrode. The set also carries O'Kane's particle cracking and stress-driven loss of active
  material; the twin leaves those out (they need the particle-mechanics submodels, which cost
  several times as much per cycle, and matter over hundreds of cycles, not the first hundred).
  Isothermal at the twin's temperature; 2.5–4.2 V window.
- Model: SPMe (S. G. Marquis et al., J. Electrochem. Soc. 166 (2019) A3693,
  doi:10.1149/2.0341915jes) with `DEGRADATION_OPTIONS`. The plain SPM has no electrolyte
  potential drop, so it would ignore the formulation's conductivity; the DFN responds to it more
  strongly but costs more per cycle (`benchmarks/cell_twin.py` measures both; see
  docs/cell_twin.md).
- Electrolyte: the set's conductivity is Nyman et al. (2008) for LiPF6 in EC:EMC 3:7. The
  caller gives either σ at 1 mol/L and 25 °C in mS/cm (e.g. from
  `electroloop.simulations.conductivity.conductivity`), and the twin scales Nyman's σ(c_e, T) by
  the ratio at 1 mol/L, 25 °C — keeping its shape in c and T — or a function σ(c_e [mol/m³],
  T [K]) → S/m, which the twin tabulates on 0–4 mol/L at the cell temperature into a
  `pybamm.Interpolant` (a plain-Python σ cannot take PyBaMM Symbols, ../shared/STACK.md §9).
  Diffusivity, transference number and thermodynamic factor stay Chen2020's.
- SEI: "solvent-diffusion limited" growth with "SEI film resistance": "distributed"; O'Kane's
  solvent diffusivity is multiplied by the formulation's `sei.sei_rate` multiplier (FEC/VC,
  relative to O'Kane's commercial reference electrolyte, with provenance). Plating is O'Kane's
  and does not depend on the formulation (no published additive effect on it is used).
- Protocols start from a discharged cell (initial SOC 0), as a freshly assembled one. Every cycle
  is CC charge to 4.2 V, CV to C/20, rest, CC discharge to 2.5 V, rest.
- Runs are cached by a content key (protocol, parameters, formulation, model versions, pybamm
  version) in memory and, if a folder is given, as JSON files in it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from electroloop.errors import SimulationError
from electroloop.simulations.sei import SEI_MODEL, SeiRate, normalized, sei_rate

__all__ = [
    "C_RATE_RANGE",
    "CONDUCTIVITY_RANGE",
    "DEGRADATION_OPTIONS",
    "PARAMETER_SET",
    "SEI_ONLY_OPTIONS",
    "TEMPERATURE_RANGE",
    "TWIN_MODEL",
    "CellRun",
    "CellTwin",
    "CycleResult",
    "Electrolyte",
    "Protocol",
    "cycling",
    "formation",
    "rate_test",
]

TWIN_MODEL = "electroloop.simulations.cell_twin/okane2022-sei-plating@2"
"""Name and version of this twin, part of every cache key (bump on any change)."""

PARAMETER_SET = "OKane2022"
C_RATE_RANGE = (0.02, 3.0)
"""Accepted C-rates (1/h); Chen2020 was validated up to about 1C, 3C is already a stretch."""
MAX_CYCLES = 500
TEMPERATURE_RANGE = (0.0, 45.0)
"""°C; the set is parameterised at 25 °C (O'Kane's SEI and plating carry Arrhenius terms)."""
CONDUCTIVITY_RANGE = (0.5, 20.0)
"""mS/cm at 1 mol/L; carbonate electrolytes lie within it."""
NOMINAL_CONCENTRATION = 1000.0
"""mol/m³, Chen2020's initial electrolyte concentration."""

_V_MAX, _V_MIN = 4.2, 2.5
_GRID = np.linspace(0.0, 4000.0, 81)  # mol/m³: covers c_e swings of SPMe/DFN up to 3C
DEGRADATION_OPTIONS = {
    "SEI": "solvent-diffusion limited",
    "SEI film resistance": "distributed",
    "SEI porosity change": "true",
    "lithium plating": "partially reversible",
    "lithium plating porosity change": "true",
}
"""PyBaMM model options: O'Kane et al. 2022's SEI and plating submodels (no particle mechanics)."""
SEI_ONLY_OPTIONS = {"SEI": "solvent-diffusion limited", "SEI film resistance": "distributed"}
"""O'Kane's SEI alone (`CellTwin(plating=False)`): about half the cost per cycle, for runs that
ask about the electrolyte's transport rather than about fade."""

ConductivityFunction = Callable[[np.ndarray, float], np.ndarray]
"""σ(c_e [mol/m³], `n` array; T [K]) -> S/m, `n` array."""


@dataclass(frozen=True)
class Electrolyte:
    """The formulation in the cell: solvent mass fractions (incl. FEC/VC) and its conductivity.

    Give exactly one of `conductivity` (mS/cm at 1 mol/L and 25 °C) or `conductivity_function`.
    """

    fractions: Mapping[str, float]
    conductivity: float | None = None
    conductivity_function: ConductivityFunction | None = None


@dataclass(frozen=True)
class Protocol:
    """A named cycling protocol; each inner tuple is one cycle's PyBaMM experiment steps."""

    name: str
    cycles: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class CycleResult:
    """One charge/discharge cycle. Capacities in Ah, energies in Wh, voltages in V."""

    index: int
    discharge_c_rate: float
    charge_capacity: float
    discharge_capacity: float
    charge_energy: float
    discharge_energy: float
    mean_charge_voltage: float
    mean_discharge_voltage: float
    coulombic_efficiency: float


@dataclass(frozen=True)
class CellRun:
    """A solved protocol with its per-cycle results and the provenance of every input."""

    key: str
    protocol: Protocol
    model: str
    pybamm_version: str
    temperature: float
    conductivity: float
    sei: SeiRate
    cycles: tuple[CycleResult, ...]
    solve_seconds: float = field(compare=False)

    @property
    def discharge_capacities(self) -> tuple[float, ...]:
        """Discharge capacity per cycle, Ah."""
        return tuple(c.discharge_capacity for c in self.cycles)

    @property
    def capacity_fade(self) -> float:
        """Fractional discharge-capacity loss, last cycle vs first (0.01 = 1 %)."""
        caps = self.discharge_capacities
        return 1.0 - caps[-1] / caps[0]

    @property
    def rate_capability(self) -> float:
        """Discharge capacity at the highest C-rate over that at the lowest (e.g. 2C / C/5)."""
        by_rate = {c.discharge_c_rate: c.discharge_capacity for c in self.cycles}
        if len(by_rate) < 2:
            raise SimulationError(
                f"rate capability needs >= 2 distinct discharge C-rates; "
                f"protocol {self.protocol.name!r} has {sorted(by_rate)}"
            )
        return by_rate[max(by_rate)] / by_rate[min(by_rate)]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; `from_json` inverts it."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CellRun:
        """Rebuild a run written by `to_json`."""
        protocol = Protocol(
            data["protocol"]["name"], tuple(tuple(c) for c in data["protocol"]["cycles"])
        )
        sei = SeiRate(data["sei"]["multiplier"], tuple(data["sei"]["provenance"]))
        return cls(
            key=data["key"],
            protocol=protocol,
            model=data["model"],
            pybamm_version=data["pybamm_version"],
            temperature=data["temperature"],
            conductivity=data["conductivity"],
            sei=sei,
            cycles=tuple(CycleResult(**c) for c in data["cycles"]),
            solve_seconds=data["solve_seconds"],
        )


def _check_rate(name: str, value: float) -> float:
    low, high = C_RATE_RANGE
    if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
        raise SimulationError(f"{name} is {value!r} C; allowed: {low}..{high} C")
    return float(value)


def _check_cycles(value: int) -> int:
    if not (isinstance(value, int) and 1 <= value <= MAX_CYCLES):
        raise SimulationError(f"cycles is {value!r}; allowed: integer 1..{MAX_CYCLES}")
    return value


def _cycle(charge: float, discharge: float) -> tuple[str, ...]:
    return (
        f"Charge at {charge:g}C until {_V_MAX} V",
        f"Hold at {_V_MAX} V until C/20",
        "Rest for 10 minutes",
        f"Discharge at {discharge:g}C until {_V_MIN} V",
        "Rest for 10 minutes",
    )


def formation(cycles: int = 2, c_rate: float = 0.1) -> Protocol:
    """Formation: `cycles` full cycles charging and discharging at `c_rate` (default C/10)."""
    rate = _check_rate("formation c_rate", c_rate)
    return Protocol("formation", (_cycle(rate, rate),) * _check_cycles(cycles))


def rate_test(
    c_rates: Sequence[float] = (0.2, 0.5, 1.0, 2.0), charge_c_rate: float = 0.5
) -> Protocol:
    """Rate test: a standard charge at `charge_c_rate`, then a discharge at each of `c_rates`."""
    charge = _check_rate("charge_c_rate", charge_c_rate)
    rates = [_check_rate("discharge c_rate", r) for r in c_rates]
    if not rates:
        raise SimulationError("c_rates is empty; allowed: 1 or more C-rates")
    return Protocol("rate test", tuple(_cycle(charge, r) for r in rates))


def cycling(cycles: int, c_rate: float = 0.5, charge_c_rate: float | None = None) -> Protocol:
    """Cycling: `cycles` cycles discharging at `c_rate`, charging at `charge_c_rate` (or same)."""
    rate = _check_rate("cycling c_rate", c_rate)
    charge = rate if charge_c_rate is None else _check_rate("charge_c_rate", charge_c_rate)
    return Protocol("cycling", (_cycle(charge, rate),) * _check_cycles(cycles))


def _discharge_rate(steps: tuple[str, ...]) -> float:
    """C-rate of the cycle's discharge: its last CC discharge step (a resistance pulse, when
    the cycle has one, comes before it)."""
    step = [s for s in steps if s.startswith("Discharge at ")][-1]
    return float(step.removeprefix("Discharge at ").split("C")[0])


class CellTwin:
    """Solves protocols on the O'Kane 2022 LG M50 cell, never solving the same run twice.

    `cache_dir`: optional folder for JSON results shared across processes; `model`: "SPMe"
    (default, fastest that feels the electrolyte) or "DFN"; `temperature`: °C; `plating`:
    O'Kane's lithium plating on (`DEGRADATION_OPTIONS`, default) or off (`SEI_ONLY_OPTIONS`).
    `solves` counts actual PyBaMM solves made by this instance.
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        model: Literal["SPMe", "DFN"] = "SPMe",
        temperature: float = 25.0,
        plating: bool = True,
    ) -> None:
        if model not in ("SPMe", "DFN"):
            raise SimulationError(f"model is {model!r}; allowed: 'SPMe', 'DFN'")
        if not isinstance(plating, bool):
            raise SimulationError(f"plating is {plating!r}; allowed: True, False")
        self.options = dict(DEGRADATION_OPTIONS if plating else SEI_ONLY_OPTIONS)
        low, high = TEMPERATURE_RANGE
        if not (math.isfinite(temperature) and low <= temperature <= high):
            raise SimulationError(f"temperature is {temperature!r} °C; allowed: {low}..{high} °C")
        self.cache_dir = cache_dir
        self.model = model
        self.temperature = float(temperature)
        self.solves = 0
        self._memory: dict[str, CellRun] = {}

    def run(self, protocol: Protocol, electrolyte: Electrolyte) -> CellRun:
        """Per-cycle results of `protocol` on a cell filled with `electrolyte` (cached).

        Raises `SimulationError` for invalid inputs or if PyBaMM fails or stops early.
        """
        import pybamm

        fractions = normalized(electrolyte.fractions)
        sei = sei_rate(fractions)
        sigma, scale, table = self._conductivity(electrolyte)
        key_data = {
            "twin": TWIN_MODEL,
            "sei_model": SEI_MODEL,
            "pybamm": pybamm.__version__,
            "model": self.model,
            "options": self.options,
            "parameter_set": PARAMETER_SET,
            "temperature": self.temperature,
            "protocol": asdict(protocol),
            "fractions": fractions,
            "conductivity_scale": scale,
            "conductivity_table": table,
        }
        key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()
        if key in self._memory:
            return self._memory[key]
        path = None if self.cache_dir is None else self.cache_dir / f"cell_twin-{key}.json"
        if path is not None and path.exists():
            run = CellRun.from_json(json.loads(path.read_text()))
        else:
            run = self._solve(key, protocol, sei, sigma, scale, table)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(run.to_json()))
                tmp.replace(path)
        self._memory[key] = run
        return run

    def _conductivity(
        self, electrolyte: Electrolyte
    ) -> tuple[float, float | None, list[float] | None]:
        """(σ at 1 mol/L and the twin's temperature in mS/cm, Nyman scale or None, table)."""
        from pybamm.input.parameters.lithium_ion import Chen2020

        given = electrolyte.conductivity, electrolyte.conductivity_function
        if (given[0] is None) == (given[1] is None):
            raise SimulationError(
                "electrolyte conductivity: give exactly one of conductivity (mS/cm) or "
                "conductivity_function"
            )
        kelvin = self.temperature + 273.15
        if electrolyte.conductivity_function is None:
            value = electrolyte.conductivity
            low, high = CONDUCTIVITY_RANGE
            if not (isinstance(value, int | float) and math.isfinite(value)) or not (
                low <= value <= high
            ):
                raise SimulationError(
                    f"electrolyte conductivity is {value!r} mS/cm; allowed: {low}..{high} mS/cm"
                )
            nyman = Chen2020.electrolyte_conductivity_Nyman2008
            scale = value / 10.0 / _evaluate(nyman, NOMINAL_CONCENTRATION, 298.15)[0]
            sigma = 10.0 * scale * _evaluate(nyman, NOMINAL_CONCENTRATION, kelvin)[0]
            return sigma, scale, None
        try:
            values = np.asarray(electrolyte.conductivity_function(_GRID, kelvin), dtype=float)
        except SimulationError as exc:
            raise SimulationError(
                f"conductivity_function must cover c_e 0..4000 mol/m³ at {kelvin} K: {exc}"
            ) from exc
        if values.shape != _GRID.shape or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise SimulationError(
                "conductivity_function returned invalid values; allowed: finite, >= 0 S/m, "
                f"shape {_GRID.shape} for c_e 0..4000 mol/m³"
            )
        sigma = 10.0 * float(np.interp(NOMINAL_CONCENTRATION, _GRID, values))
        low, high = CONDUCTIVITY_RANGE
        if not low <= sigma <= high:
            raise SimulationError(
                f"conductivity_function gives {sigma:.3g} mS/cm at 1 mol/L; "
                f"allowed: {low}..{high} mS/cm"
            )
        return sigma, None, [float(f"{v:.12g}") for v in values]

    def _solve(
        self,
        key: str,
        protocol: Protocol,
        sei: SeiRate,
        sigma: float,
        scale: float | None,
        table: list[float] | None,
    ) -> CellRun:
        import pybamm
        from pybamm.input.parameters.lithium_ion import Chen2020

        values = pybamm.ParameterValues(PARAMETER_SET)
        if table is None:
            nyman = Chen2020.electrolyte_conductivity_Nyman2008
            assert scale is not None

            def kappa(c_e: Any, temperature: Any) -> Any:
                return scale * nyman(c_e, temperature)

        else:
            tabulated = np.asarray(table)

            def kappa(c_e: Any, temperature: Any) -> Any:
                # Tabulated at the (isothermal) cell temperature, so T is not an argument here.
                return pybamm.Interpolant(_GRID, tabulated, c_e, interpolator="cubic")

        kelvin = self.temperature + 273.15
        diffusivity = values["SEI solvent diffusivity [m2.s-1]"]
        values.update(
            {
                "Electrolyte conductivity [S.m-1]": kappa,
                "SEI solvent diffusivity [m2.s-1]": diffusivity * sei.multiplier,
                "Ambient temperature [K]": kelvin,
                "Initial temperature [K]": kelvin,
            }
        )
        model = getattr(pybamm.lithium_ion, self.model)(dict(self.options))
        experiment = pybamm.Experiment(list(protocol.cycles))
        start = time.perf_counter()
        try:
            simulation = pybamm.Simulation(model, parameter_values=values, experiment=experiment)
            solution = simulation.solve(initial_soc=0.0)
        except pybamm.SolverError as exc:
            raise SimulationError(f"PyBaMM failed on {protocol.name!r}: {exc}") from exc
        self.solves += 1
        seconds = time.perf_counter() - start
        if solution is None or len(solution.cycles) != len(protocol.cycles):
            done = 0 if solution is None else len(solution.cycles)
            raise SimulationError(
                f"PyBaMM stopped {protocol.name!r} after {done} of {len(protocol.cycles)} cycles"
            )
        cycles = tuple(
            _cycle_result(i, _discharge_rate(steps), cycle)
            for i, (steps, cycle) in enumerate(zip(protocol.cycles, solution.cycles, strict=True))
        )
        return CellRun(
            key=key,
            protocol=protocol,
            model=self.model,
            pybamm_version=pybamm.__version__,
            temperature=self.temperature,
            conductivity=sigma,
            sei=sei,
            cycles=cycles,
            solve_seconds=seconds,
        )


def _evaluate(fn: Callable[[Any, Any], Any], c: float, kelvin: float) -> np.ndarray:
    """σ (S/m) of a PyBaMM conductivity function at plain numbers (STACK.md §9 wrapping)."""
    import pybamm

    out = fn(pybamm.Vector(np.atleast_1d(c)), pybamm.Scalar(kelvin))
    return np.ravel(out.evaluate() if isinstance(out, pybamm.Symbol) else out)


def _cycle_result(index: int, rate: float, cycle: Any) -> CycleResult:
    """Integrate current and power of each step; PyBaMM's current is positive on discharge."""
    q_charge = q_discharge = e_charge = e_discharge = 0.0
    for step in cycle.steps:
        t = step["Time [s]"].entries
        current = step["Current [A]"].entries
        power = current * step["Voltage [V]"].entries
        q = float(np.trapezoid(current, t)) / 3600.0
        e = float(np.trapezoid(power, t)) / 3600.0
        if q > 0:
            q_discharge, e_discharge = q_discharge + q, e_discharge + e
        else:
            q_charge, e_charge = q_charge - q, e_charge - e
    if q_charge <= 0 or q_discharge <= 0:
        raise SimulationError(f"cycle {index} passed no charge or no discharge; allowed: both > 0")
    return CycleResult(
        index=index,
        discharge_c_rate=rate,
        charge_capacity=q_charge,
        discharge_capacity=q_discharge,
        charge_energy=e_charge,
        discharge_energy=e_discharge,
        mean_charge_voltage=e_charge / q_charge,
        mean_discharge_voltage=e_discharge / q_discharge,
        coulombic_efficiency=q_discharge / q_charge,
    )
