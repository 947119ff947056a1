"""Sim-to-real: discharges of built cells recalibrate the electrode twin (issue 19, item 6).

Why: the twin (`electroloop.simulations.electrode_cell`) predicts a cell from its measured
microstructure, but a built cell also depends on what no microstructure measures. Constant-
current discharges of built cells at two or more C-rates, recorded by a cycler, refit those
parameters with PyBOP (`electroloop.simulations.calibration.calibrate`: L-BFGS-B on the voltage
error, Laplace standard errors, RMSE before and after); later iterations of a campaign then pass
the fitted values to the twin (`twin_overrides` → `electrode_cell.discharge(overrides=...)`),
and the fitted set is exchanged as BPX (`electroloop.simulations.bpx_export`).

- What is uncertain (`UNCERTAIN`): the positive particles' solid diffusivity (published NMC
  values spread over decades; Chen2020's GITT fit, 4e-15 m²/s, is searched from a quarter to
  four times, in log space); the anode's active-material volume fraction (Chen2020's 0.75 fills
  the solid of its 25 %-porous anode; a built anode holds less, searched down to 0.65); and the
  contact resistance (tab welds, can contacts: 0..4 mΩ; a whole tabless 4680's DC resistance is
  a few mΩ). `sim.built_cell.HiddenOffsets` moves exactly these in the simulated lab.
- Bounds are also the optimiser's first step: `calibrate`'s L-BFGS-B steps one unit in the
  searched coordinates at once, clipped to the box, so every corner must be a cell the twin
  can run over the curves. Measured on `REFERENCE`: with the anode's bound at 0.6, or the twin's
  0.75 on the upper bound, that first corner had no finite cost and the fit stopped where it
  began (hence the upper bound 0.8, past the physical 0.75, so the start is inside).
- Measurement (`measure_built_cells`): one charged built cell per channel and C-rate (a batch
  built alike, so one rate does not start from another's discharged state), a CC discharge to
  the chemistry's lower voltage through the `MultichannelCycler` driver, records turned into
  `DischargeCurve`s in PyBaMM's sign (+ discharges) with the set current and, if given, the
  chamber's set temperature (not the noisy recorded ones: `_curve`). Identification needs ≥ 2
  distinct rates: at one rate an ohmic drop and a diffusion loss look alike.
- Fit window (`FIT_ABOVE_V`): each curve is cut where its voltage first falls below 3.0 V. On
  the last, steep part of a discharge a twin with a little less capacity than the cell has run
  out, and PyBOP, which drops the model's cut-off events, then has no finite cost there: the
  optimiser's first bounded step lands on such points and stops. The cut keeps ≥ 75 % of each
  discharge here, enough to see capacity, curvature and the ohmic drop.
- Model: the same DFN as the twin, on the twin's mesh (`electrode_cell.MESH`). `calibrate`
  builds PyBaMM's DFN with Bruggeman transport, so `fit_parameter_values` writes the twin's
  tortuosity factors as the equivalent Bruggeman exponents (ε/τ = ε^b ⇒ b = 1 − ln τ / ln ε;
  the solid's (1 − ε)/τ_s likewise), which is exact because porosities are not fitted; the BPX
  file stores the same transport efficiencies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from electroloop.errors import ConfigError, DeviceFault
from electroloop.instruments.cycler import (
    CycleRecord,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.simulations import bpx_export, electrode_cell
from electroloop.simulations.calibration import (
    MIN_POINTS,
    Calibration,
    DischargeCurve,
    Uncertain,
    calibrate,
)
from electroloop.simulations.electrode_cell import ElectrodeProperties

__all__ = [
    "AM_N",
    "BPX_NAME",
    "CONTACT",
    "D_P",
    "FIT_ABOVE_V",
    "MEASURE_C_RATES",
    "UNCERTAIN",
    "RecalibrationInputError",
    "bpx_path",
    "fit_parameter_values",
    "measure_built_cells",
    "recalibrate",
    "twin_overrides",
]

D_P = "Positive particle diffusivity [m2.s-1]"
AM_N = "Negative electrode active material volume fraction"
CONTACT = "Contact resistance [Ohm]"
UNCERTAIN = (
    Uncertain(D_P, (1e-15, 1.6e-14), log_scale=True),
    Uncertain(AM_N, (0.65, 0.8)),
    Uncertain(CONTACT, (0.0, 4e-3)),
)
"""What a lab does not know well about a built cell (module docstring), with physical bounds."""
MEASURE_C_RATES = (0.05, 3.0)
"""C-rates (1/h of the twin's nominal capacity) `measure_built_cells` runs."""
FIT_ABOVE_V = 3.0
"""V: each curve is fitted down to where it first falls below this (module docstring)."""
BPX_NAME = "recalibrated_twin.bpx.json"
_WAIT_MARGIN = 1.5  # a discharge may last this many times its nominal duration


class RecalibrationInputError(ConfigError):
    """A measurement or recalibration asked for with bad input (field and allowed range named);
    nothing was run."""


def measure_built_cells(
    cycler: MultichannelCycler,
    props: ElectrodeProperties,
    c_rates: Sequence[float],
    *,
    channels: Sequence[int] | None = None,
    record_interval: float = 30.0,
    poll_interval: float = 600.0,
    temperature_c: float | None = None,
) -> list[DischargeCurve]:
    """CC-discharge the charged built cell on `channels[i]` (default 1, 2, …) at `c_rates[i]`
    (1/h of the twin's nominal capacity for `props`) to the driver's lower voltage limit, all
    channels at once; the records of each as a `DischargeCurve` (+ discharges, time from 0).
    `temperature_c` is the chamber's set point, which the isothermal fit takes as the cells'
    temperature; None takes the records' mean (their thermocouple noise then shifts the fit's
    Arrhenius terms by its error, a few mK, which is of the order of the standard errors).

    Raises `RecalibrationInputError` (fewer than 2 distinct rates, a rate outside
    `MEASURE_C_RATES` or above the driver's current limit, channels not matching) and the
    driver's `LimitViolation`/`ConfigError` before anything is sent; `ChannelFault`,
    `InstrumentTimeout` while running."""
    rates = [float(c) for c in c_rates]
    chosen = list(range(1, len(rates) + 1)) if channels is None else list(channels)
    low, high = MEASURE_C_RATES
    if temperature_c is not None and not (
        math.isfinite(temperature_c) and -20.0 <= temperature_c <= 60.0
    ):
        raise RecalibrationInputError(f"temperature_c is {temperature_c!r}; allowed: -20..60 °C")
    for c in rates:
        if not (math.isfinite(c) and low <= c <= high):
            raise RecalibrationInputError(f"c_rates holds {c!r}; allowed: {low}..{high} 1/h")
    if len(set(rates)) < 2:
        raise RecalibrationInputError(
            f"c_rates is {rates}; allowed: at least 2 distinct rates (one cannot tell an ohmic "
            "drop from a diffusion loss)"
        )
    if len(chosen) != len(rates) or len(set(chosen)) != len(chosen):
        raise RecalibrationInputError(
            f"channels is {chosen}; allowed: {len(rates)} distinct channels, one per C-rate"
        )
    nominal = float(electrode_cell.parameter_values(props)["Nominal cell capacity [A.h]"])
    limits = cycler.limits
    protocols = []
    for c in rates:
        current = c * nominal
        if current > limits.max_current:
            raise RecalibrationInputError(
                f"c_rates holds {c:g} 1/h = {current:.4g} A for this {nominal:.4g} Ah cell; "
                f"allowed: <= {limits.max_current / nominal:.4g} 1/h (the driver's "
                f"{limits.max_current:g} A)"
            )
        step = ProtocolStep.cc(-current, limits.min_voltage, max_duration=_WAIT_MARGIN * 3600.0 / c)
        protocols.append(CyclingProtocol((step,), record_interval=record_interval))
    for protocol in protocols:
        cycler.validate(protocol)
    for channel in chosen:
        if not (isinstance(channel, int) and 1 <= channel <= cycler.channel_count()):
            raise RecalibrationInputError(
                f"channels holds {channel!r}; allowed: 1..{cycler.channel_count()}"
            )
    starts = {}
    for channel, protocol in zip(chosen, protocols, strict=True):
        cycler.load(channel, protocol)
    for channel in chosen:
        starts[channel] = cycler.record_count(channel)
        cycler.start(channel)
    curves = []
    for channel, c in zip(chosen, rates, strict=True):
        timeout = 2 * _WAIT_MARGIN * 3600.0 / c
        cycler.wait(channel, timeout=timeout, poll_interval=min(poll_interval, timeout))
        records, _ = cycler.fetch_all(channel, since=starts[channel])
        curves.append(_curve(records, c * nominal, temperature_c))
    return curves


def _curve(
    records: Sequence[CycleRecord], current: float, temperature_c: float | None
) -> DischargeCurve:
    """A cycler's records (+ charges) of one CC step at set `current` (A, + discharges) as a
    `DischargeCurve` (+ discharges, time from 0). The curve carries the set current at every
    sample, not the recorded one: the channel held the set current, and the records' 0.02 %
    current noise fed to the model as its input would integrate into a random walk of charge
    (its mean alone is off by ~1e-5 of the capacity, the size of the fit's standard errors):
    correlated errors the Laplace standard errors do not account for. The recorded mean is
    checked against the set current instead."""
    time = np.array([r.time for r in records], dtype=float)
    keep = np.concatenate([[True], np.diff(time) > 0])  # the cut-off landing may repeat a time
    recorded = -float(np.mean([r.current for r in records]))
    if not math.isclose(recorded, current, rel_tol=0.01):
        raise DeviceFault(
            f"the cycler recorded {recorded:.6g} A on average for a set {current:.6g} A: "
            "the channel did not hold its current"
        )
    return DischargeCurve(
        time_s=time[keep] - time[0],
        current_a=np.full(int(keep.sum()), current),
        voltage_v=np.array([r.voltage for r in records], dtype=float)[keep],
        temperature_c=float(np.mean([r.temperature for r in records]))
        if temperature_c is None
        else temperature_c,
    )


def fit_parameter_values(props: ElectrodeProperties) -> Any:
    """The twin's `pybamm.ParameterValues` for `props`, its tortuosity factors also written as
    the Bruggeman exponents `calibrate`'s DFN uses (module docstring): the same model."""
    values = electrode_cell.parameter_values(props)
    bruggeman = {}
    for domain in ("Positive", "Negative"):
        porosity = float(values[f"{domain} electrode porosity"])
        for phase, fraction in (("electrolyte", porosity), ("electrode", 1.0 - porosity)):
            tau = float(values[f"{domain} electrode tortuosity factor ({phase})"])
            bruggeman[f"{domain} electrode Bruggeman coefficient ({phase})"] = 1.0 - math.log(
                tau
            ) / math.log(fraction)
    separator = float(values["Separator porosity"])
    tau_s = float(values["Separator tortuosity factor (electrolyte)"])
    bruggeman["Separator Bruggeman coefficient (electrolyte)"] = 1.0 - math.log(tau_s) / math.log(
        separator
    )
    values.update(bruggeman)
    return values


def bpx_path(folder: Path) -> Path:
    """Where `recalibrate` writes the recalibrated set in `folder`."""
    return Path(folder) / BPX_NAME


def recalibrate(
    props: ElectrodeProperties,
    curves: Sequence[DischargeCurve],
    uncertain: Sequence[Uncertain] = UNCERTAIN,
    *,
    folder: Path | None = None,
    fit_above_v: float = FIT_ABOVE_V,
    seed: int = 0,
) -> Calibration:
    """Fit `uncertain` parameters of the twin for `props` (the DFN, `fit_parameter_values`) to
    `curves`, each cut at `fit_above_v`; write the fitted set to `bpx_path(folder)` when a
    folder is given. The result's `rmse_before_v`/`rmse_after_v` are the twin's voltage RMSE
    against the fitted part of the curves before and after; `estimates` are what
    `twin_overrides` passes on.

    Raises `RecalibrationInputError` (bad props, cut, curves too short after the cut) and
    `calibration.CalibrationInputError` subclasses (unknown parameter, bounds) before any
    solve; `calibration.CalibrationError` when the fit fails."""
    if not isinstance(props, ElectrodeProperties):
        raise RecalibrationInputError(
            f"props is {type(props).__name__}; allowed: ElectrodeProperties"
        )
    if not (math.isfinite(fit_above_v) and 2.5 <= fit_above_v <= 3.8):
        raise RecalibrationInputError(f"fit_above_v is {fit_above_v!r} V; allowed: 2.5..3.8 V")
    cut = [_cut(i, curve, fit_above_v) for i, curve in enumerate(curves)]
    values = fit_parameter_values(props)
    result = calibrate(values, cut, uncertain, model="DFN", seed=seed, var_pts=electrode_cell.MESH)
    if folder is not None:
        bpx_export.write_bpx(
            result.parameter_values,
            bpx_path(folder),
            model="DFN",
            title="electroloop electrode twin, recalibrated against built cells",
            description=result.method,
        )
    return result


def _cut(index: int, curve: DischargeCurve, above: float) -> DischargeCurve:
    voltage = np.asarray(curve.voltage_v, dtype=float)
    below = np.flatnonzero(voltage < above)
    n = int(below[0]) if below.size else voltage.size
    if n < MIN_POINTS:
        raise RecalibrationInputError(
            f"curve {index} has {n} samples above fit_above_v {above:g} V; allowed: >= "
            f"{MIN_POINTS} (record more often, or lower fit_above_v)"
        )
    return DischargeCurve(
        np.asarray(curve.time_s, dtype=float)[:n],
        np.asarray(curve.current_a, dtype=float)[:n],
        voltage[:n],
        curve.temperature_c,
        curve.initial_soc,
    )


def twin_overrides(
    estimates: Mapping[str, float],
    measured: ElectrodeProperties,
    props: ElectrodeProperties | None = None,
) -> dict[str, float]:
    """PyBaMM parameter name -> value for `electrode_cell.discharge(props, overrides=...)`.

    The fitted contact resistance contains the foils' resistance of the design that was built
    (`measured`); for another design (`props`) the excess over that design's foils is added to
    its own, since the foils change with the jelly roll while the welds and contacts do not.
    Other estimates pass on unchanged."""
    out = dict(estimates)
    if CONTACT in out:
        built = float(electrode_cell.parameter_values(measured)[CONTACT])
        target = float(electrode_cell.parameter_values(props or measured)[CONTACT])
        out[CONTACT] = target + max(out[CONTACT] - built, 0.0)
    return out
