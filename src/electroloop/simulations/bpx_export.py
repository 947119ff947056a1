"""PyBaMM `ParameterValues` ↔ BPX 1.x files, so a calibrated twin can be exchanged.

BPX, the Battery Parameter eXchange format (Faraday Institution / About:Energy, schema 1.x,
https://bpxstandard.com, the `bpx` package 1.1.1) is what PyBaMM reads with
`pybamm.ParameterValues.create_from_bpx`. Neither PyBaMM 26.10 nor PyBOP 26.3 writes BPX, so this
module inverts PyBaMM's own reader (`pybamm/parameters/bpx.py`, `bpx_to_param_dict`) field by
field for a single-material full-cell set (Chen2020 and its calibrated copies):

- Cell: electrode area = height × width (the reader sets both to √area, which a 1-D model does not
  see); cooling area, volume, cut-offs, capacity, reference temperature copied. Thermal data are
  not written: the export is for isothermal models.
- Electrodes, separator: thickness and porosity copied; transport efficiency = ε^b (the reader
  recovers b = ln(τ)/ln ε exactly); conductivity written as the effective σ·(1 − ε)^b_s, since
  BPX conductivities are effective and the reader sets b_s = 0; surface area per volume
  a = 3 ε_am / R (the reader recovers ε_am = a R / 3).
- Stoichiometry limits: `pybamm.lithium_ion.get_min_max_stoichiometries` (the electrode SOH at the
  voltage cut-offs). The initial state is written as the SOC of the set's initial negative
  stoichiometry in that window, which the reader applies with `set_initial_state`.
- Functions of state are tabulated (BPX `InterpolatedTable`, read back as linear interpolants):
  OCPs on 1001 stoichiometries in 0..1 (linear-interpolation error < 0.4 mV for Chen2020's
  graphite exponential), particle diffusivities on 101 stoichiometries, electrolyte diffusivity and
  conductivity on 0..4000 mol/m³ in 50 mol/m³ steps, each at the reference temperature; entropic
  change likewise, or its number (Chen2020: 0). Temperature dependence becomes one Arrhenius
  activation energy, Ea = R ln(f(T+10)/f(T−10)) / (1/(T−10) − 1/(T+10)) at the reference state —
  exact for Arrhenius forms (Chen2020's exchange currents: 35 and 17.8 kJ/mol), 0 for none.
- Exchange current: BPX j0 = F k (c_e/c_e0)^½ (c/c_max)^½ (1 − c/c_max)^½, so
  k = 2 j0(c_e0, c_max/2, c_max, T_ref)/F with c_e0 the initial electrolyte concentration
  (exact for PyBaMM's √(c_e c (c_max − c)) form).
- Anything else BPX has no field for but a model may need — contact resistance, OCV at 0 %/100 %
  SOC, thermodynamic factor, charge-transfer coefficients, double-layer capacities — goes into
  "User-defined" as numbers, which the reader copies verbatim.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from electroloop.errors import ConfigError, SimulationError

if TYPE_CHECKING:
    import pybamm

__all__ = [
    "BPX_VERSION",
    "BpxError",
    "BpxInputError",
    "evaluate_parameter",
    "read_bpx",
    "to_bpx",
    "write_bpx",
]

BPX_VERSION = "1.0.0"
_MODELS = ("SPMe", "DFN")
_F = 96485.33212  # C/mol, CODATA 2018 (pybamm.constants.F)
_R = 8.314462618  # J/(mol K), CODATA 2018 (pybamm.constants.R)
_STO_OCP = np.linspace(0.0, 1.0, 1001)
_STO = np.linspace(0.0, 1.0, 101)
_C_E = np.linspace(0.0, 4000.0, 81)
_DT = 10.0
_USER_DEFINED = (
    "Contact resistance [Ohm]",
    "Open-circuit voltage at 0% SOC [V]",
    "Open-circuit voltage at 100% SOC [V]",
    "Thermodynamic factor",
    "Negative electrode charge transfer coefficient",
    "Positive electrode charge transfer coefficient",
    "Negative electrode double-layer capacity [F.m-2]",
    "Positive electrode double-layer capacity [F.m-2]",
)


class BpxInputError(ConfigError):
    """The export was asked for something BPX cannot hold (bad model name, missing parameter)."""


class BpxError(SimulationError):
    """A BPX file failed validation or PyBaMM could not build a parameter set from it."""


def to_bpx(
    parameter_values: pybamm.ParameterValues,
    *,
    model: str = "SPMe",
    title: str = "electroloop calibrated twin",
    description: str = "",
    references: str = "",
) -> dict[str, Any]:
    """The BPX 1.x object (JSON-ready dict) for `parameter_values`, validated by `bpx`."""
    import bpx

    if model not in _MODELS:
        raise BpxInputError(f"model is {model!r}; allowed: {', '.join(_MODELS)}")
    values = _Values(parameter_values)
    t_ref = values.number("Reference temperature [K]")
    c_e0 = values.number("Initial concentration in electrolyte [mol.m-3]")
    x0, x100, y100, y0 = _stoichiometry_limits(parameter_values)
    c_n = values.number("Initial concentration in negative electrode [mol.m-3]")
    c_n_max = values.number("Maximum concentration in negative electrode [mol.m-3]")
    soc = min(1.0, max(0.0, (c_n / c_n_max - x0) / (x100 - x0)))
    user_defined = {n: values.number(n) for n in _USER_DEFINED if n in values.keys}
    obj: dict[str, Any] = {
        "Header": {
            "BPX": BPX_VERSION,
            "Title": title,
            "Description": description or "Exported by electroloop.simulations.bpx_export",
            "References": references or ", ".join(_citations(parameter_values)),
            "Model": model,
        },
        "Parameterisation": {
            "Cell": {
                "Electrode area [m2]": values.number("Electrode height [m]")
                * values.number("Electrode width [m]"),
                "External surface area [m2]": values.number("Cell cooling surface area [m2]"),
                "Volume [m3]": values.number("Cell volume [m3]"),
                "Number of electrode pairs connected in parallel to make a cell": int(
                    round(
                        values.number("Number of electrodes connected in parallel to make a cell")
                    )
                ),
                "Lower voltage cut-off [V]": values.number("Lower voltage cut-off [V]"),
                "Upper voltage cut-off [V]": values.number("Upper voltage cut-off [V]"),
                "Nominal cell capacity [A.h]": values.number("Nominal cell capacity [A.h]"),
                "Reference temperature [K]": t_ref,
            },
            "Electrolyte": _electrolyte(values, t_ref, c_e0),
            "Negative electrode": _electrode(values, "Negative", (x0, x100), t_ref, c_e0),
            "Positive electrode": _electrode(values, "Positive", (y100, y0), t_ref, c_e0),
            "Separator": {
                "Thickness [m]": values.number("Separator thickness [m]"),
                "Porosity": values.number("Separator porosity"),
                "Transport efficiency": values.number("Separator porosity")
                ** values.number("Separator Bruggeman coefficient (electrolyte)"),
            },
            "User-defined": user_defined,
        },
        "State": {
            "Initial conditions": {
                "Initial state-of-charge": soc,
                "Initial temperature [K]": values.number("Initial temperature [K]"),
                "Initial electrolyte concentration [mol.m-3]": c_e0,
            },
            "Thermal environment": {
                "Ambient temperature [K]": values.number("Ambient temperature [K]")
            },
        },
    }
    try:
        bpx.parse_bpx_obj(json.loads(json.dumps(obj)))
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise BpxError(f"the exported object fails BPX {BPX_VERSION} validation: {exc}") from exc
    return obj


def write_bpx(
    parameter_values: pybamm.ParameterValues, path: Path, *, model: str = "SPMe", **header: str
) -> Path:
    """Write `to_bpx(...)` as JSON to `path` (atomically); check `bpx.parse_bpx_file` reads it."""
    import bpx

    obj = to_bpx(parameter_values, model=model, **header)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)
    try:
        bpx.parse_bpx_file(str(path))
    except ValueError as exc:
        raise BpxError(f"{path} fails BPX validation after writing: {exc}") from exc
    return path


def read_bpx(path: Path) -> pybamm.ParameterValues:
    """PyBaMM's parameter set from a BPX file (`ParameterValues.create_from_bpx`)."""
    import pybamm

    path = Path(path)
    if not path.is_file():
        raise BpxInputError(f"BPX file {path} does not exist; allowed: an existing .json file")
    try:
        return pybamm.ParameterValues.create_from_bpx(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise BpxError(f"PyBaMM cannot read {path} as BPX: {exc}") from exc


def evaluate_parameter(
    parameter_values: pybamm.ParameterValues, name: str, *args: float | np.ndarray
) -> np.ndarray:
    """`name` of `parameter_values` at `args`, whether it is stored as a number or a function.

    A BPX read-back stores even constants as functions (e.g. a diffusivity D(sto, T) with an
    Arrhenius factor), so compare sets through this, e.g. `evaluate_parameter(p, "Positive
    particle diffusivity [m2.s-1]", 0.5, 298.15)`.
    """
    return _Values(parameter_values).function(name, *args)


class _Values:
    """Reads numbers and evaluates functions of a ParameterValues, naming what is missing."""

    def __init__(self, parameter_values: pybamm.ParameterValues) -> None:
        self.values = parameter_values
        self.keys = set(parameter_values.keys())

    def get(self, name: str) -> Any:
        if name not in self.keys:
            raise BpxInputError(f"parameter {name!r} is missing; BPX needs it")
        return self.values[name]

    def number(self, name: str) -> float:
        value = self.get(name)
        if not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise BpxInputError(f"parameter {name!r} is {value!r}; allowed: a finite number")
        return float(value)

    def function(self, name: str, *args: Any) -> np.ndarray:
        """`name` at `args` (arrays or numbers), a number broadcast if the parameter is one."""
        value = self.get(name)
        if isinstance(value, numbers.Real):
            return np.full(np.broadcast(*args).shape, float(value))
        if not callable(value):
            raise BpxInputError(f"parameter {name!r} is {value!r}; allowed: number or function")
        return _evaluate(value, *args)


def _evaluate(fn: Callable[..., Any], *args: Any) -> np.ndarray:
    """A PyBaMM parameter function at plain numbers (wrapped as Symbols, STACK.md §9)."""
    import pybamm

    shape = np.broadcast(*args).shape
    wrapped = [pybamm.Vector(np.ravel(a)) if np.ndim(a) else pybamm.Scalar(float(a)) for a in args]
    out = fn(*wrapped)
    out = out.evaluate() if isinstance(out, pybamm.Symbol) else out
    flat = np.ravel(np.asarray(out, dtype=float))
    return np.full(shape, flat[0]) if flat.size == 1 else flat.reshape(shape)


def _activation_energy(f: Callable[[float], float], t_ref: float) -> float:
    """Arrhenius Ea (J/mol) that matches f's change between T_ref ∓ 10 K (0 if f ignores T)."""
    low, high = f(t_ref - _DT), f(t_ref + _DT)
    if low <= 0 or high <= 0:
        return 0.0
    ratio = math.log(high / low)
    return 0.0 if abs(ratio) < 1e-12 else _R * ratio / (1 / (t_ref - _DT) - 1 / (t_ref + _DT))


def _table(x: np.ndarray, y: np.ndarray) -> dict[str, list[float]] | float:
    """A BPX InterpolatedTable, or the number if y is constant."""
    if not np.all(np.isfinite(y)):
        raise BpxInputError("a tabulated parameter has non-finite values; allowed: finite")
    if np.allclose(y, y[0], rtol=0, atol=0):
        return float(y[0])
    return {"x": [float(v) for v in x], "y": [float(f"{v:.12g}") for v in y]}


def _electrolyte(values: _Values, t_ref: float, c_e0: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Cation transference number": values.number("Cation transference number")
    }
    for bpx_name, name in (
        ("Diffusivity", "diffusivity [m2.s-1]"),
        ("Conductivity", "conductivity [S.m-1]"),
    ):
        full = f"Electrolyte {name}"
        unit = name.split(" ", 1)[1]
        out[f"{bpx_name} {unit}"] = _table(_C_E, values.function(full, _C_E, t_ref))
        out[f"{bpx_name} activation energy [J.mol-1]"] = _activation_energy(
            lambda t, full=full: float(values.function(full, c_e0, t)[()]), t_ref
        )
    return out


def _electrode(
    values: _Values, side: str, limits: tuple[float, float], t_ref: float, c_e0: float
) -> dict[str, Any]:
    electrode = f"{side} electrode"
    porosity = values.number(f"{electrode} porosity")
    radius = values.number(f"{side} particle radius [m]")
    c_max = values.number(f"Maximum concentration in {side.lower()} electrode [mol.m-3]")
    am = values.number(f"{electrode} active material volume fraction")
    j0_name = f"{electrode} exchange-current density [A.m-2]"

    def j0(t: float) -> float:
        return float(values.function(j0_name, c_e0, c_max / 2, c_max, t)[()])

    d_name = f"{side} particle diffusivity [m2.s-1]"
    entropic = f"{electrode} OCP entropic change [V.K-1]"
    out: dict[str, Any] = {
        "Thickness [m]": values.number(f"{electrode} thickness [m]"),
        "Porosity": porosity,
        "Transport efficiency": porosity
        ** values.number(f"{electrode} Bruggeman coefficient (electrolyte)"),
        "Conductivity [S.m-1]": values.number(f"{electrode} conductivity [S.m-1]")
        * (1 - porosity) ** values.number(f"{electrode} Bruggeman coefficient (electrode)"),
        "Minimum stoichiometry": float(min(limits)),
        "Maximum stoichiometry": float(max(limits)),
        "Maximum concentration [mol.m-3]": c_max,
        "Particle radius [m]": radius,
        "Surface area per unit volume [m-1]": 3 * am / radius,
        "Diffusivity [m2.s-1]": _table(_STO, values.function(d_name, _STO, t_ref)),
        "Diffusivity activation energy [J.mol-1]": _activation_energy(
            lambda t: float(values.function(d_name, 0.5, t)[()]), t_ref
        ),
        "OCP [V]": _table(_STO_OCP, values.function(f"{electrode} OCP [V]", _STO_OCP)),
        "Reaction rate constant [mol.m-2.s-1]": 2 * j0(t_ref) / _F,
        "Reaction rate constant activation energy [J.mol-1]": _activation_energy(j0, t_ref),
    }
    if entropic in values.keys:
        value = values.get(entropic)
        if isinstance(value, numbers.Real):
            out["Entropic change coefficient [V.K-1]"] = float(value)
        else:
            out["Entropic change coefficient [V.K-1]"] = _table(
                _STO_OCP, values.function(entropic, _STO_OCP, c_max)
            )
    return out


def _stoichiometry_limits(parameter_values: pybamm.ParameterValues) -> tuple[float, ...]:
    """(x0, x100, y100, y0): electrode stoichiometries at 0 % and 100 % SOC (PyBaMM's SOH)."""
    import pybamm

    try:
        limits = pybamm.lithium_ion.get_min_max_stoichiometries(parameter_values)
    except (ValueError, KeyError, pybamm.SolverError) as exc:
        raise BpxInputError(f"cannot find the stoichiometry window: {exc}") from exc
    return tuple(float(v) for v in limits)


def _citations(parameter_values: pybamm.ParameterValues) -> list[str]:
    keys = set(parameter_values.keys())
    cites = parameter_values["citations"] if "citations" in keys else []
    return [str(c) for c in cites] if isinstance(cites, list | tuple) else [str(cites)]
