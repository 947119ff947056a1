"""A built electrode cell for the simulated cycler: the twin's DFN with hidden build offsets.

Why: the electrode campaign's twin (`electroloop.simulations.electrode_cell`) predicts a cell
from measured microstructure; a cell built from that electrode differs from it in what the
microstructure does not measure. `BuiltCell` is that cell, a stand-in for the real one on a
cycler channel (`CyclerServer.connect`): the same SCPI bytes and the same `MultichannelCycler`
driver fetch its records, so sim-to-real calibration runs exactly as it would against hardware.

- Truth: `electrode_cell.parameter_values(props)` (Chen2020 chemistry, the measured positive
  electrode, the 4680 stack, charged to the top) and the DFN with the twin's options
  (`electrode_cell._OPTIONS`: tortuosity-factor transport, contact resistance), changed by
  `HiddenOffsets`, which the test that builds the cell knows and the calibration does not:
  - the positive particles' solid diffusivity ×`positive_diffusivity_factor` (literature values
    for NMC811 spread over two decades, e.g. 1e-15..1e-13 m²/s in the review of
    A. Tian et al. / Chen2020's own GITT fit of 4e-15 m²/s; it sets how much capacity a
    rate loses, so CC discharges at two C-rates identify it);
  - the negative electrode's active-material volume fraction ×`negative_am_factor` (coating
    and calendering scatter: less graphite at the same lithium concentration means less
    cyclable lithium and a faster-moving anode stoichiometry, so the whole curve's shape and
    the capacity at a low rate identify it);
  - a contact resistance added (`contact_resistance`, Ω: tab welds and can contacts, which the
    twin's foil resistance leaves out; an ohmic drop ∝ current identifies it at two rates).
  The offsets are applied after the charged state is set, so the built cell starts at the
  twin's top-of-charge concentrations (the same OCV) with less lithium in less graphite.
- Discretisation (`var_pts`): the twin's own mesh (`electrode_cell.MESH`) unless given, the
  one `kinds.electrode.recalibration` fits with, so a fit sees the hidden offsets and the
  cycler's noise, not the difference between two meshes; another mesh makes a "real" cell with
  discretisation error too (`benchmarks/electrode_calibration.py` reports what that does to the
  recovery).
- Integration: the channel calls `step(current, dt)` and `terminal_voltage(current)` as it does
  on an `EquivalentCircuitCell`. A change of current starts a segment; each segment is solved
  lazily with PyBaMM's IDAKLU solver (`BaseSolver.step`, the current an input parameter of one
  discretised model) in chunks of `CHUNK_S`, and its voltage interpolated on a 1-s grid. Past
  the model's own stopping event (voltage window `MODEL_WINDOW_V`, wider than any channel
  limit the driver allows, or a solver failure at an exhausted electrode) the voltage goes on
  along its last slope: the cell has nothing left, and the cycler's cut-off is reached.
- Copies: `copy.copy(cell)` is an independent trial (the channel lands a step on its cut-off
  with trial copies); segments are shared, immutable once solved, and memoised, so a trial
  never solves what its parent already has.
- CV steps: the current that holds a voltage is estimated from the present voltage and the
  cell's 1-s pulse resistance (one extra solve), a linear step as
  `EquivalentCircuitCell.current_for_voltage` takes; recalibration needs CC steps only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from electroloop.errors import SimulationError
from electroloop.simulations import electrode_cell
from electroloop.simulations.cell_circuit import CellSpec
from electroloop.simulations.electrode_cell import ElectrodeProperties

__all__ = [
    "AM_N",
    "CHUNK_S",
    "CONTACT",
    "D_P",
    "MODEL_WINDOW_V",
    "BuiltCell",
    "BuiltCellError",
    "HiddenOffsets",
    "true_parameter_values",
]

D_P = "Positive particle diffusivity [m2.s-1]"
AM_N = "Negative electrode active material volume fraction"
CONTACT = "Contact resistance [Ohm]"
MODEL_WINDOW_V = (2.3, 4.4)
"""V: the truth's own stopping voltages, outside every window `ChannelLimits` accepts for this
chemistry (2.5–4.2 V), so a channel's cut-off always falls inside a solved trajectory."""
SOLVER_RTOL, SOLVER_ATOL = 1e-8, 1e-8
"""IDAKLU tolerances of the truth: PyBaMM's default rtol of 1e-4 leaves voltage errors of
tens of µV, correlated in time, beside the cycler's 100 µV noise; a fit's standard errors
assume white noise, so the truth is solved well inside what any fit resolves."""
CHUNK_S = 1800.0
"""s of instrument time solved at once in a segment, at most (unless a rest asks for more)."""
_GRID_S = 1.0
_MAX_GRID = 20_000
_FIRST_CHUNK_S = 60.0
_PULSE_S = 1.0


class BuiltCellError(SimulationError):
    """A hidden offset outside its physical range, or a cell the solver cannot start."""


@dataclass(frozen=True)
class HiddenOffsets:
    """How the built cell differs from the twin (module docstring): two factors and an added
    contact resistance, Ω."""

    positive_diffusivity_factor: float = 0.5
    negative_am_factor: float = 0.95
    contact_resistance: float = 1.5e-3

    def __post_init__(self) -> None:
        checks = {
            # the twin's graphite fills its electrode (Chen2020: ε_AM 0.75 + porosity 0.25), so
            # a built anode can only hold less
            "negative_am_factor": (self.negative_am_factor, 0.8, 1.0),
            "positive_diffusivity_factor": (self.positive_diffusivity_factor, 0.05, 20.0),
            "contact_resistance": (self.contact_resistance, 0.0, 0.05),
        }
        for name, (value, low, high) in checks.items():
            if not (isinstance(value, int | float) and math.isfinite(value)) or not (
                low <= value <= high
            ):
                raise BuiltCellError(f"{name} is {value!r}; allowed: {low}..{high}")


def true_parameter_values(props: ElectrodeProperties, offsets: HiddenOffsets) -> Any:
    """The built cell's `pybamm.ParameterValues`: the twin's, changed by `offsets`."""
    values = electrode_cell.parameter_values(props)
    values.update(
        {
            D_P: values[D_P] * offsets.positive_diffusivity_factor,
            AM_N: values[AM_N] * offsets.negative_am_factor,
            CONTACT: values[CONTACT] + offsets.contact_resistance,
        }
    )
    return values


@dataclass
class _Engine:
    """One discretised DFN and its solver, shared by every copy of a cell."""

    model: Any
    solver: Any
    pulse_resistance: float | None = None


@dataclass
class _Chunk:
    start: Any  # pybamm.Solution (last state) or None for the initial conditions
    t0: float  # s into the segment
    time: np.ndarray  # s into the segment, on the 1-s grid
    voltage: np.ndarray


@dataclass(eq=False)
class _Segment:
    """Constant `current` (PyBaMM sign: + discharges) from state `start` on."""

    engine: _Engine
    start: Any
    current: float
    chunks: list[_Chunk] = field(default_factory=list)
    ended: bool = False  # the model stopped: nothing to solve past the last chunk
    _chunk_end: Any = None  # the state at the end of the last chunk
    _states: dict[float, Any] = field(default_factory=dict)
    _next: dict[tuple[float, float], _Segment] = field(default_factory=dict)

    def voltage(self, t: float) -> float:
        self._solve_to(t)
        time = np.concatenate([c.time for c in self.chunks])
        volts = np.concatenate([c.voltage for c in self.chunks])
        if t <= time[-1] or time.size < 2:
            return float(np.interp(t, time, volts))
        slope = (volts[-1] - volts[-2]) / (time[-1] - time[-2])
        return float(volts[-1] + slope * (t - time[-1]))

    def state(self, t: float) -> Any:
        """The model's state `t` s into the segment (a one-point pybamm.Solution)."""
        if t in self._states:
            return self._states[t]
        self._solve_to(t)
        chunk = next((c for c in reversed(self.chunks) if c.t0 <= t), self.chunks[0])
        if t >= chunk.time[-1] and self.ended:
            state = self._chunk_end
        elif t - chunk.t0 <= 0.0:
            state = chunk.start
        else:
            state = self._solve(chunk.start, t - chunk.t0)[0]
        self._states[t] = state
        return state

    def then(self, t: float, current: float) -> _Segment:
        """The segment that follows this one `t` s in, at `current` (memoised)."""
        key = (t, current)
        if key not in self._next:
            self._next[key] = _Segment(self.engine, self.state(t), current)
        return self._next[key]

    def _solve_to(self, t: float) -> None:
        while not self.ended and (not self.chunks or self.chunks[-1].time[-1] < t):
            start = self.start if not self.chunks else self._chunk_end
            t0 = 0.0 if not self.chunks else float(self.chunks[-1].time[-1])
            # short first chunks (a CV step changes the current every few seconds), doubling
            # up to CHUNK_S, and at least to `t` (a long rest is one solve)
            span = max(t - t0, min(CHUNK_S, _FIRST_CHUNK_S * 2 ** len(self.chunks)))
            self._chunk_end, time, voltage, self.ended = self._solve(start, span, grid=True)
            self.chunks.append(_Chunk(start, t0, t0 + time, voltage))

    def _solve(
        self, start: Any, span: float, *, grid: bool = False
    ) -> tuple[Any, np.ndarray, np.ndarray, bool]:
        """Run `span` s from `start`: (last state, grid times, voltages, stopped early)."""
        import pybamm

        engine = self.engine
        inputs = {"Current function [A]": self.current}
        try:
            solution = engine.solver.step(
                start, engine.model, span, t_eval=np.array([0.0, span]), inputs=inputs, save=False
            )
        except pybamm.SolverError as exc:
            raise BuiltCellError(f"the built cell cannot run at {self.current:g} A: {exc}") from exc
        stopped = not str(solution.termination).startswith("final time")
        last = solution.last_state
        # a state the model stopped in is still a state to go on from at another current
        last.termination = "final time"
        if not grid:
            return last, np.empty(0), np.empty(0), stopped
        t_start, t_end = float(solution.t[0]), float(solution.t[-1])
        time = np.arange(t_start, t_end, max(_GRID_S, (t_end - t_start) / _MAX_GRID))
        time = np.append(time, t_end) if time.size == 0 or time[-1] < t_end else time
        voltage = np.ravel(solution["Voltage [V]"](time))
        return last, time - t_start, voltage, stopped


class BuiltCell:
    """A charged 4680 cell built from `props` with `offsets` (module docstring), for a cycler
    channel. `step` and `terminal_voltage` take the cycler's sign (+ charges); `capacity` is
    the twin's nominal capacity, Ah; `spec` describes it to the channel (capacity, temperature).
    """

    def __init__(
        self,
        props: ElectrodeProperties,
        offsets: HiddenOffsets,
        *,
        temperature: float = 25.0,
        var_pts: dict[str, int] | None = None,
    ) -> None:
        import pybamm

        if not (isinstance(offsets, HiddenOffsets) and isinstance(props, ElectrodeProperties)):
            raise BuiltCellError("props must be ElectrodeProperties and offsets HiddenOffsets")
        if not (math.isfinite(temperature) and -20.0 <= temperature <= 60.0):
            raise BuiltCellError(f"temperature is {temperature!r} °C; allowed: -20..60 °C")
        values = true_parameter_values(props, offsets)
        kelvin = temperature + 273.15
        values.update(
            {
                "Current function [A]": "[input]",
                "Lower voltage cut-off [V]": MODEL_WINDOW_V[0],
                "Upper voltage cut-off [V]": MODEL_WINDOW_V[1],
                "Ambient temperature [K]": kelvin,
                "Initial temperature [K]": kelvin,
            }
        )
        simulation = pybamm.Simulation(
            pybamm.lithium_ion.DFN(dict(electrode_cell._OPTIONS)),
            parameter_values=values,
            # a failure mid-run (an electrode exhausted) ends the trajectory like an event
            solver=pybamm.IDAKLUSolver(rtol=SOLVER_RTOL, atol=SOLVER_ATOL, on_failure="ignore"),
            var_pts=dict(var_pts if var_pts is not None else electrode_cell.MESH),
        )
        simulation.build()
        self.capacity = float(values["Nominal cell capacity [A.h]"])
        self.spec = CellSpec(capacity=self.capacity, temperature=temperature, initial_soc=1.0)
        self.props = props
        self.offsets = offsets
        self._engine = _Engine(simulation.built_model, simulation.solver)
        self._segment = _Segment(self._engine, None, 0.0)
        self._elapsed = 0.0

    def step(self, current: float, dt: float) -> None:
        """Pass `current` (A, + charges) for `dt` seconds of instrument time."""
        if not (math.isfinite(current) and math.isfinite(dt)) or dt < 0.0:
            raise SimulationError(f"cannot step the cell by {dt} s at {current} A")
        if -current != self._segment.current:
            self._segment = self._segment.then(self._elapsed, -current)
            self._elapsed = 0.0
        self._elapsed += dt

    def terminal_voltage(self, current: float) -> float:
        """Voltage at the terminals if `current` (A, + charges) flowed now."""
        if -current == self._segment.current:
            return self._segment.voltage(self._elapsed)
        return self._segment.then(self._elapsed, -current).voltage(0.0)

    def current_for_voltage(self, voltage: float, dt: float = 0.0) -> float:
        """Current (A, + charges) that brings the terminals to `voltage`: a linear step from the
        present voltage with the 1-s pulse resistance (module docstring)."""
        present = -self._segment.current
        return present + (voltage - self.terminal_voltage(present)) / self._pulse_resistance()

    def _pulse_resistance(self) -> float:
        engine = self._engine
        if engine.pulse_resistance is None:
            rest = self._segment.then(self._elapsed, 0.0)
            pulse = rest.then(0.0, self.capacity)  # a 1C discharge pulse
            drop = rest.voltage(0.0) - pulse.voltage(_PULSE_S)
            engine.pulse_resistance = max(drop / self.capacity, 1e-6)
        return engine.pulse_resistance
