"""Sim-to-real calibration: measured discharge curves refit a PyBaMM twin's uncertain parameters.

- Fit: PyBOP 26.3 (B. Planden et al., "PyBOP: A Python package for battery model optimisation and
  parameterisation", J. Open Source Softw. 10 (2025) 7874, doi:10.21105/joss.07874). One
  `pybop.Problem` per curve — a `pybop.pybamm.Simulator` driven by the curve's own current
  (`pybop.Dataset`, interpolated in time) with a `pybop.SumSquaredError` on voltage — joined by
  `pybop.MetaProblem`, minimised by `pybop.SciPyMinimize` (L-BFGS-B, bounded) with the exact
  gradient from the IDAKLU solver's forward sensitivities. Log-scale parameters are searched in
  ln(x) through `pybop.LogTransformation` (natural log: the same fit as log10, another unit).
- Uncertainty: the Laplace (Gauss–Newton) approximation at the optimum, Cov = s²(JᵀJ)⁻¹, with J
  the voltage sensitivities to the searched coordinates (again from the solver, not finite
  differences) and s² = SSR/(N − p) the residual variance (Bates & Watts, *Nonlinear Regression
  Analysis and Its Applications*, Wiley 1988, ch. 2). Chosen over PyBOP's MCMC samplers because it
  costs one extra solve per curve instead of thousands, and is accurate when the posterior is
  tight and near-Gaussian, which is what a useful calibration has; standard errors of log-scale
  parameters come from the delta method (se_x = x · se_ln x). It assumes independent Gaussian
  noise of one σ for all curves and a model that can fit the data (model error inflates s and
  hence the errors, which is the honest direction).
- Curves: as a cycler records them, in PyBaMM's sign convention (current > 0 on discharge); time
  is shifted to start at 0. Each curve's temperature sets the ambient and initial temperature.
  `initial_soc` None keeps the set's own initial concentrations (Chen2020's are its charged
  state); a number sets them with `ParameterValues.set_initial_state` from the starting values.
- `Contact resistance [Ohm]` turns on PyBaMM's "contact resistance" option when it is fitted or
  non-zero, so a cell-to-cell ohmic offset can be calibrated.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from electroloop.errors import ConfigError, SimulationError

if TYPE_CHECKING:
    import pybamm

__all__ = [
    "MIN_POINTS",
    "MODELS",
    "TEMPERATURE_RANGE_C",
    "BoundsError",
    "Calibration",
    "CalibrationError",
    "CalibrationInputError",
    "CurveError",
    "DischargeCurve",
    "Uncertain",
    "UnknownParameterError",
    "calibrate",
]

MODELS = ("SPM", "SPMe", "DFN")
MIN_POINTS = 10
"""Fewest samples a curve may have (and more than the number of fitted parameters overall)."""
TEMPERATURE_RANGE_C = (-20.0, 60.0)
CONTACT_RESISTANCE = "Contact resistance [Ohm]"
_MAX_ITERATIONS = 200
_MARGIN_V = 0.5
_MAX_CONDITION = 1e8
"""Largest condition number of the sensitivities' correlation matrix (scale-free)."""


class CalibrationInputError(ConfigError):
    """A curve, parameter name, bound or model choice is invalid; nothing was solved."""


class UnknownParameterError(CalibrationInputError):
    """An uncertain parameter's name is not in the parameter set (or is not a plain number)."""


class BoundsError(CalibrationInputError):
    """Bounds are not ordered, not finite, or do not contain the starting value."""


class CurveError(CalibrationInputError):
    """A discharge curve has mismatched lengths, non-finite values or too few points."""


class CalibrationError(SimulationError):
    """The fit ran but failed: the twin cannot simulate a curve, or the data cannot identify it."""


@dataclass(frozen=True)
class DischargeCurve:
    """One measured discharge as a cycler records it (`n` samples each).

    `current_a` is positive on discharge (PyBaMM's convention; flip the sign of cycler files that
    record discharge as negative). `initial_soc`: None keeps the parameter set's initial
    concentrations; 0..1 sets them from that state of charge.
    """

    time_s: np.ndarray
    current_a: np.ndarray
    voltage_v: np.ndarray
    temperature_c: float = 25.0
    initial_soc: float | None = None


@dataclass(frozen=True)
class Uncertain:
    """A scalar PyBaMM parameter to fit within `bounds` (same units), in log space if asked."""

    name: str
    bounds: tuple[float, float]
    log_scale: bool = False


@dataclass(frozen=True)
class Calibration:
    """The fit: estimates and standard errors (parameter units), residuals before and after.

    `covariance` is `p x p` in the searched coordinates (ln x where `log_scale`), rows in the
    order of `uncertain`; `sigma_v` the residual noise estimate s; `n_points` all samples used.
    """

    estimates: dict[str, float]
    standard_errors: dict[str, float]
    rmse_before_v: float
    rmse_after_v: float
    parameter_values: pybamm.ParameterValues = field(compare=False)
    method: str
    covariance: np.ndarray = field(compare=False)
    sigma_v: float
    n_points: int
    evaluations: int


def calibrate(
    parameter_values: pybamm.ParameterValues,
    curves: Sequence[DischargeCurve],
    uncertain: Sequence[Uncertain],
    *,
    model: str = "SPMe",
    seed: int = 0,
    var_pts: Mapping[str, int] | None = None,
) -> Calibration:
    """Fit `uncertain` parameters of `parameter_values` to `curves`; start from the set's values.
    `var_pts` is PyBaMM's mesh (None: PyBaMM's default): fit on the mesh the twin runs on, or
    the fit absorbs the mesh's error into the parameters.

    Deterministic: L-BFGS-B from a fixed start; `seed` fixes numpy's global random state (what
    PyBOP draws from should it resample a start) for the call and restores it afterwards.
    Raises `CalibrationInputError` subclasses before any solve, `CalibrationError` after.
    """
    start = _check_uncertain(parameter_values, uncertain)
    checked = [_check_curve(i, c) for i, c in enumerate(curves)]
    if not checked:
        raise CurveError("curves is empty; allowed: 1 or more discharge curves")
    if model not in MODELS:
        raise CalibrationInputError(f"model is {model!r}; allowed: {', '.join(MODELS)}")
    n_points = sum(c.time_s.size for c in checked)
    if n_points <= len(uncertain):
        raise CurveError(
            f"{n_points} samples for {len(uncertain)} parameters; allowed: more samples than "
            "parameters"
        )
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return _fit(parameter_values, checked, list(uncertain), start, model, n_points, var_pts)
    finally:
        np.random.set_state(state)


def _check_uncertain(
    parameter_values: pybamm.ParameterValues, uncertain: Sequence[Uncertain]
) -> dict[str, float]:
    if not uncertain:
        raise CalibrationInputError("uncertain is empty; allowed: 1 or more parameters")
    names = [u.name for u in uncertain]
    if len(set(names)) != len(names):
        raise CalibrationInputError(f"uncertain names repeat: {names}; allowed: each once")
    keys = list(parameter_values.keys())
    start: dict[str, float] = {}
    for u in uncertain:
        if u.name not in keys:
            near = difflib.get_close_matches(u.name, keys, n=3, cutoff=0.5)
            raise UnknownParameterError(
                f"uncertain parameter {u.name!r} is not in the parameter set; near names: "
                f"{near or 'none'}"
            )
        value = parameter_values[u.name]
        if not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise UnknownParameterError(
                f"uncertain parameter {u.name!r} is {value!r}; allowed: a finite number "
                "(functions of state cannot be fitted as one value)"
            )
        low, high = (float(b) for b in u.bounds)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise BoundsError(
                f"bounds of {u.name!r} are {u.bounds}; allowed: finite (low, high), low < high"
            )
        if u.log_scale and low <= 0:
            raise BoundsError(
                f"bounds of {u.name!r} are {u.bounds} on a log scale; allowed: low > 0"
            )
        if not low <= float(value) <= high:
            raise BoundsError(
                f"bounds of {u.name!r} are {u.bounds}; allowed: they contain the starting "
                f"value {float(value):g}"
            )
        start[u.name] = float(value)
    return start


def _check_curve(index: int, curve: DischargeCurve) -> DischargeCurve:
    arrays = {}
    for name in ("time_s", "current_a", "voltage_v"):
        try:
            arrays[name] = np.asarray(getattr(curve, name), dtype=float)
        except (TypeError, ValueError) as exc:
            raise CurveError(f"curve {index} {name} is not numeric: {exc}") from exc
        if arrays[name].ndim != 1:
            raise CurveError(f"curve {index} {name} has shape {arrays[name].shape}; allowed: 1-D")
    lengths = {k: v.size for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise CurveError(f"curve {index} lengths differ: {lengths}; allowed: equal lengths")
    n = lengths["time_s"]
    if n < MIN_POINTS:
        raise CurveError(f"curve {index} has {n} points; allowed: >= {MIN_POINTS}")
    for name, values in arrays.items():
        if not np.all(np.isfinite(values)):
            raise CurveError(f"curve {index} {name} has non-finite values; allowed: finite")
    time = arrays["time_s"] - arrays["time_s"][0]
    if np.any(np.diff(time) <= 0):
        raise CurveError(f"curve {index} time_s is not strictly increasing; allowed: increasing")
    if float(np.mean(arrays["current_a"])) <= 0:
        raise CurveError(
            f"curve {index} mean current is {float(np.mean(arrays['current_a'])):g} A; allowed: "
            "> 0 (discharge is positive, PyBaMM's convention)"
        )
    low, high = TEMPERATURE_RANGE_C
    if not (math.isfinite(curve.temperature_c) and low <= curve.temperature_c <= high):
        raise CurveError(
            f"curve {index} temperature_c is {curve.temperature_c!r}; allowed: {low}..{high} °C"
        )
    soc = curve.initial_soc
    if soc is not None and not (math.isfinite(soc) and 0.0 <= soc <= 1.0):
        raise CurveError(f"curve {index} initial_soc is {soc!r}; allowed: None or 0..1")
    return DischargeCurve(
        time, arrays["current_a"], arrays["voltage_v"], float(curve.temperature_c), soc
    )


def _fit(
    parameter_values: pybamm.ParameterValues,
    curves: list[DischargeCurve],
    uncertain: list[Uncertain],
    start: dict[str, float],
    model: str,
    n_points: int,
    var_pts: Mapping[str, int] | None = None,
) -> Calibration:
    import pybop

    problems = [_problem(parameter_values, c, uncertain, start, model, var_pts) for c in curves]
    if not all(p.has_sensitivities for p in problems):
        raise CalibrationError("the solver gives no sensitivities for these curves")
    window = _window(parameter_values)
    residuals_before, _ = _residuals(problems, curves, start, window, with_jacobian=False)
    for i, r in enumerate(residuals_before):
        if r is None:
            raise CalibrationError(
                f"the starting parameter values cannot simulate curve {i} within "
                f"{window[0]:g}..{window[1]:g} V (a curve longer than the twin's capacity?)"
            )
    if len(problems) == 1:
        problem = problems[0]
    else:
        with contextlib.redirect_stdout(io.StringIO()):  # PyBOP prints each shared parameter
            problem = pybop.MetaProblem(*problems)
    options = pybop.SciPyMinimizeOptions(method="L-BFGS-B", maxiter=_MAX_ITERATIONS)
    try:
        result = pybop.SciPyMinimize(problem, options).run()
    except ValueError as exc:  # PyBOP: no finite cost anywhere it looked
        raise CalibrationError(f"the fit found no finite cost: {exc}") from exc
    found = dict(zip(problem.parameters.names, np.ravel(result.x), strict=True))
    best = {u.name: float(found[u.name]) for u in uncertain}  # PyBOP may reorder the names
    residuals_after, jacobians = _residuals(problems, curves, best, window, with_jacobian=True)
    if any(r is None for r in residuals_after):
        raise CalibrationError(f"the fitted values {best} cannot simulate every curve")
    r = np.concatenate([np.ravel(x) for x in residuals_after if x is not None])
    jac = np.vstack([j for j in jacobians if j is not None])
    scale = np.array([best[u.name] if u.log_scale else 1.0 for u in uncertain])
    jac_search = jac * scale  # dV/d(ln x) = x dV/dx
    dof = n_points - len(uncertain)
    sigma = float(np.sqrt(np.sum(r**2) / dof))
    information = jac_search.T @ jac_search
    diagonal = np.diag(information)
    if not (np.all(np.isfinite(information)) and np.all(diagonal > 0)) or (
        np.linalg.cond(information / np.sqrt(np.outer(diagonal, diagonal))) > _MAX_CONDITION
    ):
        raise CalibrationError(
            f"the curves cannot identify {[u.name for u in uncertain]} together (JᵀJ is "
            "singular); fit fewer parameters or add curves at other rates"
        )
    covariance = sigma**2 * np.linalg.inv(information)
    se_search = np.sqrt(np.diag(covariance))
    errors = {u.name: float(se_search[k] * scale[k]) for k, u in enumerate(uncertain)}
    fitted = parameter_values.copy()
    fitted.update(best)
    before = np.concatenate([np.ravel(x) for x in residuals_before if x is not None])
    return Calibration(
        estimates=best,
        standard_errors=errors,
        rmse_before_v=float(np.sqrt(np.mean(before**2))),
        rmse_after_v=float(np.sqrt(np.mean(r**2))),
        parameter_values=fitted,
        method=(
            f"pybop.SciPyMinimize(L-BFGS-B, IDAKLU sensitivities) on pybop.SumSquaredError of "
            f"voltage over {len(curves)} curve(s), {model}; Laplace (Gauss-Newton) covariance "
            "s^2 (J^T J)^-1 from solver sensitivities, s^2 = SSR/(N-p); log-scale errors by the "
            "delta method"
        ),
        covariance=covariance,
        sigma_v=sigma,
        n_points=n_points,
        evaluations=int(np.ravel(result.n_evaluations)[0]),
    )


def _problem(
    parameter_values: pybamm.ParameterValues,
    curve: DischargeCurve,
    uncertain: list[Uncertain],
    start: dict[str, float],
    model: str,
    var_pts: Mapping[str, int] | None = None,
) -> Any:
    import pybamm
    import pybop

    values = parameter_values.copy()
    kelvin = curve.temperature_c + 273.15
    values.update({"Ambient temperature [K]": kelvin, "Initial temperature [K]": kelvin})
    contact = any(u.name == CONTACT_RESISTANCE for u in uncertain) or (
        CONTACT_RESISTANCE in values.keys() and float(values[CONTACT_RESISTANCE]) != 0.0
    )
    options = {"contact resistance": "true"} if contact else {}
    if curve.initial_soc is not None:
        values.set_initial_state(float(curve.initial_soc), options=options or None)
    for u in uncertain:
        values[u.name] = pybop.Parameter(
            initial_value=start[u.name],
            bounds=[float(u.bounds[0]), float(u.bounds[1])],
            transformation=pybop.LogTransformation() if u.log_scale else None,
        )
    dataset = pybop.Dataset(
        {"Time [s]": curve.time_s, "Current [A]": curve.current_a, "Voltage [V]": curve.voltage_v}
    )
    battery = getattr(pybamm.lithium_ion, model)(options)
    simulator = pybop.pybamm.Simulator(
        battery,
        parameter_values=values,
        protocol=dataset,
        var_pts=dict(var_pts) if var_pts is not None else None,
    )
    return pybop.Problem(simulator, pybop.SumSquaredError(dataset))


def _window(parameter_values: pybamm.ParameterValues) -> tuple[float, float]:
    """Voltages a simulated discharge may reach: the set's cut-offs widened by `_MARGIN_V`."""
    keys = set(parameter_values.keys())
    low = (
        parameter_values["Lower voltage cut-off [V]"] if "Lower voltage cut-off [V]" in keys else 0
    )
    high = (
        parameter_values["Upper voltage cut-off [V]"] if "Upper voltage cut-off [V]" in keys else 9
    )
    return float(low) - _MARGIN_V, float(high) + _MARGIN_V


def _residuals(
    problems: list[Any],
    curves: list[DischargeCurve],
    inputs: dict[str, float],
    window: tuple[float, float],
    *,
    with_jacobian: bool,
) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
    """Voltage residuals (model − data, `n`) per curve and, if asked, dV/dx (`n x p`).

    None for a curve the model cannot follow: a failed solve, or a voltage outside `window`
    (PyBOP drops the cut-off events, so a model past its capacity returns nonsense).
    """
    import pybop

    residuals: list[np.ndarray | None] = []
    jacobians: list[np.ndarray | None] = []
    for problem, curve in zip(problems, curves, strict=True):
        solution = problem.simulate(dict(inputs), calculate_sensitivities=with_jacobian)
        if isinstance(solution, pybop.FailedSolution):
            residuals.append(None)
            jacobians.append(None)
            continue
        voltage = solution["Voltage [V]"]
        model_v = np.ravel(voltage.data)
        if (
            model_v.size != curve.voltage_v.size
            or not np.all(np.isfinite(model_v))
            or np.min(model_v) < window[0]
            or np.max(model_v) > window[1]
        ):
            residuals.append(None)
            jacobians.append(None)
            continue
        residuals.append(model_v - curve.voltage_v)
        if with_jacobian:
            sens = voltage.sensitivities
            jacobians.append(np.column_stack([np.ravel(sens[name]) for name in inputs]))
        else:
            jacobians.append(None)
    return residuals, jacobians
