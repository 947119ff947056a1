"""A PyBaMM DFN whose positive electrode is what the microstructure measured, in a 4680 can.

Why: the cell-level case studies of A. Kench et al., *Matter* 2024 score an electrode by the
Wh/kg and Wh/L of a whole cell at a stated power; this module turns measured electrode
properties (`ElectrodeProperties`, e.g. from `electroloop.simulations.microstructure.measure`)
into one constant-current or constant-power discharge of that cell.

- Chemistry: PyBaMM's "Chen2020" set, the LG M50 NMC811‖graphite cell (C.-H. Chen et al.,
  *J. Electrochem. Soc.* 167 (2020) 080534): OCPs, kinetics, diffusivities, electrolyte
  (A. Nyman et al., *Electrochim. Acta* 53 (2008) 6356), the graphite anode's porosity and
  conductivity, the 2.5–4.2 V window. Isothermal at 25 °C (a 4680 at high power would heat
  up; Chen2020 has no Arrhenius data for its electrodes).
- Model: the DFN (M. Doyle, T. F. Fuller, J. Newman, *J. Electrochem. Soc.* 140 (1993) 1526)
  with the option "transport efficiency": "tortuosity factor", so the electrolyte's effective
  transport in each domain is ε/τ with τ given (pybamm/models/submodels/transport_efficiency/
  tortuosity_factor.py), in place of Bruggeman. The positive τ is the measured one; the anode's
  and separator's are Chen2020's Bruggeman exponent 1.5 written as τ = ε^-0.5, so they are
  unchanged. The solid's measured effective conductivity σ_eff enters as "Positive electrode
  conductivity" = σ_eff / (1 − ε) with an electrode tortuosity factor 1, because PyBaMM
  multiplies the conductivity by (1 − ε)/τ_s.
- Positive electrode: porosity, AM volume fraction, thickness L = mass_loading / (ρ_NMC811 ·
  am_fraction). PyBaMM 26 computes the reacting area as 3 ε_AM / R (spherical particles), so the
  measured AM–electrolyte area a enters by scaling the exchange-current density by
  a / (3 ε_AM / R): the reaction rate per electrode volume is then a · j0, while the particles'
  radius R (Chen2020's 5.22 µm unless given) keeps setting the solid-diffusion length.
- Balance: the anode's thickness gives an N/P ratio (`NP_RATIO`, 1.1) of graphite capacity
  (stoichiometry 0..1) to the cathode's reversible capacity (its stoichiometries at 100 % and
  0 % SOC in the stock Chen2020 cell, from PyBaMM's electrode-SOH solver); the stock LG M50 has
  1.13 by this measure. The cyclable lithium is that of a cell at 0 % SOC with those
  stoichiometries; PyBaMM's `set_initial_state(1.0)` then puts the cell at the top of charge.
- Cell: `electroloop.simulations.cell_stack` winds the electrodes into the can; the electrode
  area is the roll's facing area, and the foils' in-plane resistance along the coated height
  (current collected at one edge, the tabless design: ρ·H / (3·t·length)) enters as the
  model's contact resistance.
- Mesh (`MESH`): 20 points across the anode, 8 across the separator, 30 across the cathode,
  30 and 40 radial points in the graphite and NMC particles. Against 40/20/60 and 60/80 radial
  points the energy differs by < 0.2 % where a discharge runs to its capacity (1C, 10–200 W for
  Chen2020's 75.6 µm electrode) and by up to 3 % on the cliff where it stops within a minute or
  two at the cut-off (thick or tortuous electrodes at 200–400 W), where the radial boundary
  layer and the electrolyte-depletion front need the points; coarser meshes (8/4/8, 8 radial)
  were 15–19 % off there. `tests/unit/simulations/test_electrode_cell.py` repeats one check.
  Solver: IDAKLU.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from electroloop.errors import SimulationError
from electroloop.simulations.cell_stack import (
    AL_THICKNESS,
    CAN_4680,
    CU_THICKNESS,
    NEGATIVE_POROSITY,
    NMC811_DENSITY,
    SEPARATOR_POROSITY,
    SEPARATOR_THICKNESS,
    Can,
    Stack,
    wind,
)

__all__ = [
    "CELL_MODEL",
    "CHEN_PARTICLE_RADIUS",
    "C_RATE_RANGE",
    "MESH",
    "NP_RATIO",
    "POWER_RANGE",
    "REFERENCE",
    "THICKNESS_RANGE",
    "X_EMPTY",
    "Y_EMPTY",
    "Y_FULL",
    "Discharge",
    "DischargeFailed",
    "DischargeRequestError",
    "ElectrodeProperties",
    "ElectrodePropertyError",
    "PowerNotDeliverable",
    "discharge",
    "max_power",
    "parameter_values",
]

CELL_MODEL = "electroloop.simulations.electrode_cell/chen2020-dfn-4680@1"
"""Name and version of this cell model, for callers' cache keys (bump on any change)."""
PARAMETER_SET = "Chen2020"
NP_RATIO = 1.1
"""Negative-to-positive capacity ratio; graphite cells are balanced at about 1.05–1.2 so the
anode never plates lithium (C.-S. Kim et al., *Electrochim. Acta* 155 (2015) 431)."""
Y_FULL, Y_EMPTY, X_EMPTY = 0.2638, 0.8540, 0.0263
"""Positive stoichiometry at 100 % and 0 % SOC and negative at 0 % SOC of the stock Chen2020
cell (PyBaMM 26's `get_min_max_stoichiometries`; a test re-derives them)."""
C_RATE_RANGE = (0.01, 20.0)
"""Accepted C-rates (1/h), relative to the cathode's reversible capacity."""
POWER_RANGE = (1e-3, 1e5)
"""Accepted powers, W (the physical limit is `max_power`)."""
MESH = {"x_n": 20, "x_s": 8, "x_p": 30, "r_n": 30, "r_p": 40}
"""PyBaMM `var_pts` of every discharge (see the module docstring's convergence check)."""
CHEN_PARTICLE_RADIUS = 5.22e-6
"""m: Chen2020's "Positive particle radius"."""
_AL_RESISTIVITY, _CU_RESISTIVITY = 1 / 3.6914e7, 1 / 5.8411e7
"""Ω·m: Chen2020's current-collector conductivities inverted."""
_F, _R = 96485.33212, 8.314462618


class ElectrodePropertyError(SimulationError):
    """An electrode property outside its physical range (names the field and the range)."""


class DischargeRequestError(SimulationError):
    """A discharge asked for with neither or both of power and C-rate, or out of range."""


class PowerNotDeliverable(SimulationError):
    """The cell cannot deliver the asked power (or current): above `max_power`, refused before
    any solve, or already below the cut-off voltage at the first instant of the solve."""


class DischargeFailed(SimulationError):
    """PyBaMM failed before the discharge reached a stopping condition."""


@dataclass(frozen=True)
class ElectrodeProperties:
    """The positive electrode as the microstructure measures it (plus its loading).

    `porosity`: pore volume fraction; `am_fraction`: active-material volume fraction (the rest
    is carbon-binder); `tortuosity`: the pore phase's tortuosity factor (in place of
    Bruggeman); `surface_area`: electrochemically active AM–electrolyte area per electrode
    volume, 1/m (`Microstructure.surface_area` is in 1/µm: multiply by 1e6); `conductivity`:
    the solid's effective electronic conductivity, S/m; `mass_loading`: AM mass per electrode
    area and side, mg/cm² (sets the thickness); `particle_radius`: the AM particles' radius, m,
    which sets the solid-diffusion length."""

    porosity: float
    am_fraction: float
    tortuosity: float
    surface_area: float
    conductivity: float
    mass_loading: float
    particle_radius: float = CHEN_PARTICLE_RADIUS

    def __post_init__(self) -> None:
        checks = {
            "porosity": (self.porosity, 0.05, 0.8),
            "am_fraction": (self.am_fraction, 0.1, 0.95),
            "tortuosity": (self.tortuosity, 1.0, 100.0),
            "surface_area": (self.surface_area, 1e4, 1e8),
            "conductivity": (self.conductivity, 1e-4, 1e5),
            "mass_loading": (self.mass_loading, 1.0, 100.0),
            "particle_radius": (self.particle_radius, 1e-7, 5e-5),
        }
        for name, (value, low, high) in checks.items():
            if not (isinstance(value, int | float) and math.isfinite(value)) or not (
                low <= value <= high
            ):
                raise ElectrodePropertyError(f"{name} is {value!r}; allowed: {low}..{high}")
        if self.porosity + self.am_fraction > 1.0:
            raise ElectrodePropertyError(
                f"porosity + am_fraction is {self.porosity + self.am_fraction:.4g}; allowed: "
                "<= 1 (the rest is carbon-binder)"
            )
        low, high = THICKNESS_RANGE
        if not low <= self.thickness <= high:
            raise ElectrodePropertyError(
                f"mass_loading {self.mass_loading!r} mg/cm² at am_fraction "
                f"{self.am_fraction!r} makes the electrode {self.thickness * 1e6:.0f} µm "
                f"thick; allowed: {low * 1e6:.0f}..{high * 1e6:.0f} µm"
            )

    @property
    def thickness(self) -> float:
        """m per side: mass_loading / (ρ_NMC811 · am_fraction)."""
        return self.mass_loading * 1e-2 / (NMC811_DENSITY * self.am_fraction)


THICKNESS_RANGE = (10e-6, 400e-6)
"""m: electrode thicknesses the DFN is run for."""

REFERENCE = ElectrodeProperties(
    porosity=0.335,
    am_fraction=0.665,
    tortuosity=0.335**-0.5,
    surface_area=3 * 0.665 / CHEN_PARTICLE_RADIUS,
    conductivity=0.18,
    mass_loading=NMC811_DENSITY * 0.665 * 75.6e-6 * 100,
)
"""Chen2020's own positive electrode (75.6 µm, Bruggeman τ = ε^-0.5, spheres of 5.22 µm),
about 24 mg/cm² of NMC811: the reference design of the tests."""


@dataclass(frozen=True)
class Discharge:
    """One discharge of the whole cell, top of charge to the 2.5 V cut-off (or another PyBaMM
    stopping event, named in `termination`). Energies Wh, capacities Ah, powers W, times s;
    `mah_per_g_am` per gram of cathode active material; `thickness_um` the cathode's per side;
    `jelly_roll_m` the roll's length; `windings` its turns."""

    energy_wh: float
    capacity_ah: float
    average_power_w: float
    duration_s: float
    wh_per_kg: float
    wh_per_l: float
    mah_per_g_am: float
    mass_kg: float
    volume_l: float
    thickness_um: float
    negative_thickness_um: float
    jelly_roll_m: float
    windings: float
    nominal_capacity_ah: float
    termination: str


def discharge(
    props: ElectrodeProperties,
    *,
    power_w: float | None = None,
    c_rate: float | None = None,
    can: Can = CAN_4680,
    overrides: Mapping[str, float] | None = None,
) -> Discharge:
    """Discharge the cell built from `props` in `can` at constant power `power_w` (W) or at
    `c_rate` (1/h of the nominal, reversible capacity): exactly one of the two. `overrides`
    (PyBaMM parameter name -> value) replace parameters of the set, e.g. those a calibration
    against built cells fitted (`kinds.electrode.recalibration`).

    Raises `DischargeRequestError` (neither/both, out of range, an override the set lacks),
    `PowerNotDeliverable` (above `max_power`, before any solve; or below the cut-off at once),
    `DischargeFailed`."""
    import pybamm

    if (power_w is None) == (c_rate is None):
        raise DischargeRequestError("give exactly one of power_w (W) or c_rate (1/h)")
    values, stack = _parameter_values(props, can)
    unknown = sorted(set(overrides or {}) - set(values.keys()))
    if unknown:
        raise DischargeRequestError(f"overrides {unknown}; allowed: parameters of the set")
    values.update(dict(overrides or {}))
    nominal = values["Nominal cell capacity [A.h]"]
    options = dict(_OPTIONS)
    if power_w is not None:
        low, high = POWER_RANGE
        if not (isinstance(power_w, int | float) and math.isfinite(power_w)) or not (
            low <= power_w <= high
        ):
            raise DischargeRequestError(f"power_w is {power_w!r} W; allowed: {low}..{high} W")
        limit = _max_power(values, stack, props)
        if power_w > limit:
            raise PowerNotDeliverable(
                f"power_w is {power_w:.4g} W; this cell delivers at most {limit:.4g} W "
                "(`max_power`, an upper bound at the top of charge)"
            )
        options["operating mode"] = "power"
        values.update({"Power function [W]": float(power_w)}, check_already_exists=False)
        end = 1.5 * 3600 * nominal * _V_MAX / power_w
    else:
        low, high = C_RATE_RANGE
        if not (isinstance(c_rate, int | float) and math.isfinite(c_rate)) or not (
            low <= c_rate <= high
        ):
            raise DischargeRequestError(f"c_rate is {c_rate!r} 1/h; allowed: {low}..{high}")
        values.update({"Current function [A]": c_rate * nominal})
        end = 1.5 * 3600 / c_rate
    model = _model(options)
    solver = pybamm.IDAKLUSolver(on_failure="ignore")
    simulation = pybamm.Simulation(
        model, parameter_values=values, solver=solver, var_pts=dict(MESH)
    )
    asked = f"{power_w:.4g} W" if power_w is not None else f"{c_rate:g}C"
    try:
        solution = simulation.solve([0.0, end])
    except pybamm.SolverError as exc:
        if "non-positive at initial conditions" in str(exc):
            raise PowerNotDeliverable(
                f"the cell is below the {_V_MIN} V cut-off at once at {asked}; allowed: less"
            ) from exc
        raise DischargeFailed(f"PyBaMM failed at the start at {asked}: {exc}") from exc
    termination = str(solution.termination)
    if not termination.startswith("event"):
        reached = solution["Time [s]"].entries[-1], solution["Voltage [V]"].entries[-1]
        raise DischargeFailed(
            f"PyBaMM stopped by {termination!r} at {reached[0]:.4g} s and {reached[1]:.3f} V "
            f"at {asked}, before the {_V_MIN} V cut-off"
        )
    time = float(solution["Time [s]"].entries[-1])
    capacity = float(solution["Discharge capacity [A.h]"].entries[-1])
    energy = float(solution["Discharge energy [W.h]"].entries[-1])
    am_grams = stack.masses["positive active material"] * 1e3
    return Discharge(
        energy_wh=energy,
        capacity_ah=capacity,
        average_power_w=energy * 3600 / time if time > 0 else 0.0,
        duration_s=time,
        wh_per_kg=energy / stack.mass,
        wh_per_l=energy / (stack.volume * 1e3),
        mah_per_g_am=capacity * 1e3 / am_grams,
        mass_kg=stack.mass,
        volume_l=stack.volume * 1e3,
        thickness_um=props.thickness * 1e6,
        negative_thickness_um=stack.negative_thickness * 1e6,
        jelly_roll_m=stack.length,
        windings=stack.windings,
        nominal_capacity_ah=nominal,
        termination=termination.removeprefix("event: "),
    )


def _model(options: dict[str, str]) -> Any:
    """The DFN with `options`, plus stopping events where it would leave its domain.

    PyBaMM 26's DFN stops only at voltage limits; at high power (or with a poorly conducting
    solid) a cathode particle's surface can fill (stoichiometry → 1) before the voltage reaches
    2.5 V, and the solver then fails (IDA_CONV_FAIL). These events end the discharge there
    instead, with the energy delivered until then. A local electrolyte depletion is not a
    stop: the rest of the electrode keeps working, and the DFN solves through it."""
    import pybamm

    model = pybamm.lithium_ion.DFN(options)
    variables = model.variables
    model.events += [
        pybamm.Event(
            "Positive particle surface full",
            _FULL - pybamm.max(variables["Positive particle surface stoichiometry"]),
        ),
        pybamm.Event(
            "Negative particle surface empty",
            pybamm.min(variables["Negative particle surface stoichiometry"]) - _EMPTY,
        ),
    ]
    return model


_FULL, _EMPTY = 0.9999, 1e-4
"""Particle-surface stoichiometries that end a discharge (the exchange-current density
∝ (c_s (c_max − c_s))^0.5 has no value past them)."""


def parameter_values(props: ElectrodeProperties, can: Can = CAN_4680) -> Any:
    """The full `pybamm.ParameterValues` the DFN runs with (at the top of charge; the current
    is set to 1C of the nominal capacity), for calibration and inspection."""
    return _parameter_values(props, can)[0]


def max_power(props: ElectrodeProperties, can: Can = CAN_4680) -> float:
    """W: an upper bound, without a DFN solve, on the power the cell can give at the top of
    charge while staying above the 2.5 V cut-off; `discharge` refuses more.

    At the first instant (uniform concentrations, isothermal) the voltage lost at a current I
    times I is the dissipation, which is at least (a) the ohmic part with the current split
    between the phases as cheaply as possible — I² times the separator's L_s / (κ ε_s/τ_s A),
    each electrode's L / ((κ ε/τ + σ_eff) A) and the foils' resistance — plus (b) the
    Butler–Volmer part with the reaction spread evenly over each electrode, I · (2RT/F)
    asinh(I / (2 j0 a L A)) (Jensen's inequality: x·asinh(x) is convex). So V(I) ≤ V_ocv − I
    R_min − Σ η_uniform(I), and no power above max over I of I·V(I), with V(I) ≥ 2.5 V, is
    deliverable. It is an upper bound (1.1–4× the DFN's own first-instant limit over thin,
    thick, tortuous, poorly conducting and porous designs; 1.24× for `REFERENCE`): powers
    below it may still end at the cut-off at once (then `discharge` raises
    `PowerNotDeliverable` from the solve) or within seconds."""
    return _max_power(*_parameter_values(props, can), props)


def _max_power(values: Any, stack: Stack, props: ElectrodeProperties) -> float:
    """`max_power` from the parameter values and stack `discharge` already built."""
    from scipy.optimize import brentq, minimize_scalar

    resistance, exchange = _bound_terms(values, props, stack)
    kelvin = values["Reference temperature [K]"]

    def voltage(current: float) -> float:
        kinetic = sum(2 * _R * kelvin / _F * math.asinh(current / (2 * i0)) for i0 in exchange)
        return _V_MAX - current * resistance - kinetic

    cut = brentq(lambda current: voltage(current) - _V_MIN, 0.0, (_V_MAX - _V_MIN) / resistance)
    best = minimize_scalar(
        lambda current: -current * voltage(current), bounds=(0.0, cut), method="bounded"
    )
    return float(max(-best.fun, cut * _V_MIN))


_V_MIN, _V_MAX = 2.5, 4.2
_OPTIONS = {
    "transport efficiency": "tortuosity factor",
    "contact resistance": "true",
    "calculate discharge energy": "true",
}


def _negative_thickness(props: ElectrodeProperties, values: Any) -> float:
    """m per side: the anode that gives `NP_RATIO` (module docstring)."""
    reversible = props.am_fraction * props.thickness * values[_CMAX_P] * (Y_EMPTY - Y_FULL)
    return NP_RATIO * reversible / ((1 - NEGATIVE_POROSITY) * values[_CMAX_N])


_CMAX_P = "Maximum concentration in positive electrode [mol.m-3]"
_CMAX_N = "Maximum concentration in negative electrode [mol.m-3]"


def _parameter_values(props: ElectrodeProperties, can: Can) -> tuple[Any, Stack]:
    import pybamm

    values = pybamm.ParameterValues(PARAMETER_SET)
    thickness_n = _negative_thickness(props, values)
    stack = wind(
        props.thickness,
        thickness_n,
        porosity=props.porosity,
        am_fraction=props.am_fraction,
        can=can,
    )
    length, height = stack.length, can.coated_height
    collectors = _AL_RESISTIVITY * height / (
        3 * AL_THICKNESS * length
    ) + _CU_RESISTIVITY * height / (3 * CU_THICKNESS * length)
    chen_j0 = values["Positive electrode exchange-current density [A.m-2]"]
    area_ratio = props.surface_area / (3 * props.am_fraction / props.particle_radius)

    def exchange_current(c_e: Any, c_s_surf: Any, c_s_max: Any, temperature: Any) -> Any:
        return area_ratio * chen_j0(c_e, c_s_surf, c_s_max, temperature)

    nominal = (
        props.am_fraction
        * props.thickness
        * stack.area
        * values[_CMAX_P]
        * (Y_EMPTY - Y_FULL)
        * _F
        / 3600
    )
    values.update(
        {
            "Positive electrode porosity": props.porosity,
            "Positive electrode active material volume fraction": props.am_fraction,
            "Positive electrode thickness [m]": props.thickness,
            "Positive particle radius [m]": props.particle_radius,
            "Positive electrode conductivity [S.m-1]": props.conductivity / (1 - props.porosity),
            "Positive electrode exchange-current density [A.m-2]": exchange_current,
            "Negative electrode thickness [m]": thickness_n,
            "Negative current collector thickness [m]": CU_THICKNESS,
            "Positive current collector thickness [m]": AL_THICKNESS,
            "Separator thickness [m]": SEPARATOR_THICKNESS,
            "Electrode height [m]": height,
            "Electrode width [m]": 2 * length,
            "Nominal cell capacity [A.h]": nominal,
            "Current function [A]": nominal,
            "Contact resistance [Ohm]": collectors,
            "Initial concentration in positive electrode [mol.m-3]": Y_EMPTY * values[_CMAX_P],
            "Initial concentration in negative electrode [mol.m-3]": X_EMPTY * values[_CMAX_N],
        }
    )
    values.update(
        {
            "Positive electrode tortuosity factor (electrolyte)": props.tortuosity,
            "Positive electrode tortuosity factor (electrode)": 1.0,
            "Negative electrode tortuosity factor (electrolyte)": NEGATIVE_POROSITY**-0.5,
            "Negative electrode tortuosity factor (electrode)": 1.0 - NEGATIVE_POROSITY,
            "Separator tortuosity factor (electrolyte)": SEPARATOR_POROSITY**-0.5,
        },
        check_already_exists=False,
    )
    values.set_initial_state(1.0)
    return values, stack


def _bound_terms(
    values: Any, props: ElectrodeProperties, stack: Stack
) -> tuple[float, tuple[float, float]]:
    """(R_min in Ω, each electrode's total exchange current j0·a·L·A in A) of `max_power`, at
    the top-of-charge state in `values` and 1 mol/L."""
    kelvin = values["Reference temperature [K]"]
    kappa = _number(values["Electrolyte conductivity [S.m-1]"], 1000.0, kelvin)
    area = stack.area
    resistance = SEPARATOR_THICKNESS / (kappa * SEPARATOR_POROSITY**1.5 * area)
    resistance += values["Contact resistance [Ohm]"]
    exchange = []
    for domain, eps, tau, sigma_eff, a in (
        (
            "Positive",
            props.porosity,
            props.tortuosity,
            props.conductivity,
            # the model's 3 ε_AM / R: its exchange-current density already carries a / (3 ε_AM / R)
            3 * props.am_fraction / props.particle_radius,
        ),
        (
            "Negative",
            NEGATIVE_POROSITY,
            NEGATIVE_POROSITY**-0.5,
            values["Negative electrode conductivity [S.m-1]"],
            3
            * values["Negative electrode active material volume fraction"]
            / values["Negative particle radius [m]"],
        ),
    ):
        thickness = values[f"{domain} electrode thickness [m]"]
        c_max = values[f"Maximum concentration in {domain.lower()} electrode [mol.m-3]"]
        c_s = values[f"Initial concentration in {domain.lower()} electrode [mol.m-3]"]
        j0 = _number(
            values[f"{domain} electrode exchange-current density [A.m-2]"],
            1000.0,
            c_s,
            c_max,
            kelvin,
        )
        resistance += thickness / ((kappa * eps / tau + sigma_eff) * area)
        exchange.append(j0 * a * thickness * area)
    return resistance, (exchange[0], exchange[1])


def _number(function: Any, *args: float) -> float:
    """A PyBaMM parameter function evaluated at plain numbers (../shared/STACK.md §9)."""
    import pybamm

    out = function(*(pybamm.Scalar(a) for a in args))
    return float(out.evaluate() if isinstance(out, pybamm.Symbol) else out)
