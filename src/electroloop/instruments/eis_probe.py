"""Conductivity by impedance spectroscopy: bulk resistance of a two-electrode cell × its constant.

For labs that measure an electrolyte in a sealed glovebox cell (two blocking stainless-steel or
platinum electrodes, a known cell constant K = d/A) with their potentiostat instead of a
conductivity meter: sweep the cell from high to low frequency, find the bulk resistance R_b,
and report κ = K / R_b (Barsoukov & Macdonald, "Impedance Spectroscopy: Theory, Experiment,
and Applications", 3rd ed., Wiley 2018, §4.1 and §4.4; the cell constant from a KCl standard,
OIML R 56).

The spectrum of such a cell is the bulk (R_b parallel to the geometric capacitance C_g) in
series with the electrodes' double layer, a constant-phase element (Irvine, Sinclair & West,
"Electroceramics: characterization by impedance spectroscopy", Adv. Mater. 2 (1990) 132)::

    Z(ω) = R_b / (1 + jω R_b C_g) + 1 / (Q (jω)^n)

A liquid electrolyte's bulk arc lies above 100 MHz (C_g is a few pF), so a sweep below ~1 MHz
shows the capacitive spike only, and R_b is its high-frequency intercept with the real axis.
`bulk_resistance` fits the whole model (scipy least squares on the relative complex residual,
started from that intercept and from each dip between an arc and the spike) so a spectrum that
shows the arc is read right as well.
Assumed: lead resistance and inductance are compensated by the potentiostat (4-wire, short
leads); a fit worse than `MAX_RESIDUAL` is refused, not reported.

`EisConductivityProbe` satisfies `ConductivityProbe` over anything that sweeps an impedance
(`ImpedanceSource`). No driver here speaks a potentiostat's EIS technique yet (a BioLogic
PEIS step through EC-Lab would be one); `electroloop.instruments.sim.eis_cell` simulates one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from scipy.optimize import least_squares

from electroloop.errors import DeviceFault
from electroloop.instruments.scpi import check_range

__all__ = [
    "DEFAULT_FREQUENCIES",
    "BulkFit",
    "EisConductivityProbe",
    "EisFitError",
    "ImpedanceSource",
    "bulk_resistance",
    "cell_impedance",
]

DEFAULT_FREQUENCIES = tuple(float(f) for f in np.logspace(6, 0, 37))
"""1 MHz to 1 Hz, 6 points a decade: the range of a potentiostat's impedance option."""

MAX_RESIDUAL = 0.05
"""Largest rms relative residual of an accepted fit (5 %)."""


class EisFitError(DeviceFault):
    """The spectrum does not show a blocking cell's bulk resistance (too few points, no real-
    axis intercept inside the sweep, or the model does not fit it)."""


class ImpedanceSource(Protocol):
    """A potentiostat channel holding the conductivity cell: complex impedance (Ω) at each
    frequency (Hz) of a sweep, and the cell's temperature (°C)."""

    def sweep(self, frequencies: Sequence[float]) -> list[complex]: ...

    def temperature(self) -> float: ...


@dataclass(frozen=True)
class BulkFit:
    """The fitted cell: bulk resistance (Ω), geometric capacitance (F), the double layer's CPE
    (`q` in F·s^(n−1), exponent `n`), and the rms relative residual of the fit."""

    resistance: float
    capacitance: float
    q: float
    n: float
    residual: float


def cell_impedance(
    frequencies: np.ndarray, resistance: float, capacitance: float, q: float, n: float
) -> np.ndarray:
    """Z(ω) of the blocking cell (module docstring), Ω; `frequencies` in Hz, shape `m`."""
    jw = 2j * np.pi * np.asarray(frequencies, dtype=float)
    return resistance / (1.0 + jw * resistance * capacitance) + 1.0 / (q * jw**n)


def bulk_resistance(frequencies: Sequence[float], impedance: Sequence[complex]) -> BulkFit:
    """Fit the blocking-cell model to a spectrum (`m` frequencies in Hz, `m` impedances in Ω)."""
    f = np.asarray(frequencies, dtype=float)
    z = np.asarray(impedance, dtype=complex)
    if f.shape != z.shape or f.size < 8:
        raise EisFitError(
            f"impedance spectrum of {f.size} frequencies and {z.size} points; expected the "
            "same number, at least 8"
        )
    if not (np.all(np.isfinite(f)) and np.all(f > 0) and np.all(np.isfinite(z))):
        raise EisFitError("impedance spectrum holds non-finite values or frequencies <= 0 Hz")
    fmax, low = float(f.max()), int(np.argmin(f))
    q0 = 1.0 / (2 * np.pi * f[low] * max(abs(z.imag[low]), 1e-12))

    def residual(p: np.ndarray) -> np.ndarray:
        model = cell_impedance(f, math.exp(p[0]), math.exp(p[1]), math.exp(p[2]), p[3])
        error = (model - z) / np.abs(z)
        return np.concatenate([error.real, error.imag])

    best = None
    lower, upper = np.log([1e-3, 1e-16, 1e-12]), np.log([1e9, 1e-3, 1.0])
    bounds = ([*lower, 0.5], [*upper, 1.0])  # Ω, F, F·s^(n−1): far beyond any real cell
    for r0, c0 in _starts(f, z):
        logs = np.clip(np.log([r0, c0, q0]), lower + 1e-9, upper - 1e-9)
        guess = np.array([*logs, 0.9])
        result = least_squares(residual, guess, bounds=bounds, x_scale=[1.0, 1.0, 1.0, 0.1])
        if result.success and (best is None or result.cost < best.cost):
            best = result
    if best is None:
        raise EisFitError("the blocking-cell model could not be fitted to the spectrum")
    rms = float(np.sqrt(np.mean(best.fun**2)))
    fit = BulkFit(
        resistance=math.exp(best.x[0]),
        capacitance=math.exp(best.x[1]),
        q=math.exp(best.x[2]),
        n=float(best.x[3]),
        residual=rms,
    )
    if rms > MAX_RESIDUAL:
        raise EisFitError(
            f"the blocking-cell model fits the spectrum to {rms:.1%} rms; allowed: "
            f"{MAX_RESIDUAL:.0%} (is the cell filled and both electrodes wet?)"
        )
    double_layer = 1.0 / (fit.q * (2 * np.pi * fmax) ** fit.n)
    if double_layer > 0.2 * fit.resistance:
        raise EisFitError(
            f"at {fmax:g} Hz the double layer ({double_layer:.3g} Ω) still hides the bulk "
            f"({fit.resistance:.3g} Ω); expected below 20 %: sweep to higher frequency"
        )
    return fit


def _starts(f: np.ndarray, z: np.ndarray) -> list[tuple[float, float]]:
    """Starting (R_b, C_g) for the fit: the real part where the spectrum comes closest to the
    real axis (an intercept), at each dip of −Z'' between an arc and the spike, and at the
    largest Z'; C_g from the arc's apex, or an arc far above the sweep."""
    minus = -z.imag
    dips = [
        i for i in range(1, f.size - 1) if minus[i] <= minus[i - 1] and minus[i] <= minus[i + 1]
    ]
    candidates = {int(np.argmin(np.abs(z.imag))), int(np.argmax(z.real)), *dips}
    starts = []
    for i in sorted(candidates):
        r0 = float(z.real[i])
        if not r0 > 0:
            continue
        above = f > f[i]
        apex = float(f[above][np.argmax(minus[above])]) if above.any() else float(f.max())
        starts += [
            (r0, 1e-3 / (2 * np.pi * float(f.max()) * r0)),
            (r0, 1 / (2 * np.pi * apex * r0)),
        ]
    if not starts:
        raise EisFitError("the spectrum has no positive real part: is the cell connected?")
    return starts


class EisConductivityProbe:
    """κ = K / R_b from one sweep: conductivity in mS/cm, temperature in °C.

    `cell_constant` K in cm⁻¹ (from the cell's KCl calibration); `frequencies` the sweep, Hz.
    """

    PARSER_VERSION: ClassVar[str] = "1"
    """Version of the fit that turns a spectrum into a conductivity."""

    CELL_CONSTANT_RANGE = (0.01, 100.0)  # cm⁻¹, as for meter cells

    def __init__(
        self,
        source: ImpedanceSource,
        cell_constant: float,
        frequencies: Sequence[float] = DEFAULT_FREQUENCIES,
    ) -> None:
        self.source = source
        self.cell_constant = check_range(
            "cell constant", cell_constant, *self.CELL_CONSTANT_RANGE, "cm⁻¹"
        )
        if len(frequencies) < 8 or not all(0 < f <= 1e7 for f in frequencies):
            raise EisFitError(
                f"sweep of {len(frequencies)} frequencies; expected at least 8, each in (0, 10 MHz]"
            )
        self.frequencies = tuple(float(f) for f in frequencies)
        self.last_fit: BulkFit | None = None

    def fit(self) -> BulkFit:
        """Sweep the cell and fit it; the fit is kept as `last_fit`."""
        spectrum = self.source.sweep(self.frequencies)
        self.last_fit = bulk_resistance(self.frequencies, spectrum)
        return self.last_fit

    def conductivity(self) -> float:
        """K / R_b in mS/cm (cm⁻¹ / Ω = S/cm; × 1000)."""
        return self.cell_constant / self.fit().resistance * 1000.0

    def temperature(self) -> float:
        """The cell's temperature, °C, as its potentiostat channel reports it."""
        return self.source.temperature()
