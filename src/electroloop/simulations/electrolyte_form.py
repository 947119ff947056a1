"""The design matrices of `electrolyte`'s conductivity model, one per published version.

Why a module of its own: the fitted coefficients only mean something with the features they
multiply, and a held-out comparison of the old and new form (`conductivity_loso`) needs both.
Each form is "ln σ − offset·ln m = features @ coefficients" (m mol/kg, w_i mass fractions, T K):

- ``"casteel-amis@1"`` (issue 6): a·ln m + b·m² + Σ w_i (α_i + β_i m) − (Σ B_i w_i + B_m m)/(T − T₀)
  + Σ γ_ij w_i w_j, offset 0. The Casteel–Amis equation (J. F. Casteel and E. S. Amis, J. Chem.
  Eng. Data 17 (1972) 55, doi:10.1021/je60052a029) expanded; one exponent a for every blend.
- ``"kohlrausch@2"`` (issue 20): Σ w_i (k_i √m + α_i + β_i m + b_i m²) − (Σ B_i w_i + B_m m +
  B_s √m)/(T − T₀) + Σ γ_ij w_i w_j, offset 1, i.e. σ = m·Λ(m) with Λ → Λ₀ exp(k√m) as m → 0:
  the Kohlrausch / Debye–Hückel–Onsager limiting law Λ = Λ₀ − S√c (L. Onsager, Phys. Z. 28
  (1927) 277) to first order, with the Casteel–Amis b·m² fall and ion association (R. M. Fuoss,
  J. Am. Chem. Soc. 80 (1958) 5059, doi:10.1021/ja01552a016) per solvent.

Why @2 for LiPF6: held out one source at a time over all 716 LiPF6 EC/EMC/DMC rows
(`conductivity_loso`, every row computed), @1 has bias −0.26 / +0.47 / +0.21 mS/cm below 0.5 /
0.5–1.5 / above 1.5 mol/kg (MAE 0.59); @2 +0.01 / +0.44 / +0.04 (MAE 0.55). Below the data @1
rises as m^0.7, far above the dilute limit σ ≈ Λ₀·m.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from electroloop.errors import SimulationError

CURRENT_FORM = "kohlrausch@2"
"""The form of issue 20 (LiPF6 in `electrolyte.FORMS`)."""

LEGACY_FORM = "casteel-amis@1"
"""The form of issue 6."""

LN_M_OFFSET: dict[str, float] = {"casteel-amis@1": 0.0, "kohlrausch@2": 1.0}
"""Coefficient of ln m fixed outside the fit, per form (1: the dilute limit σ ∝ m)."""

_KELVIN = 273.15


def _check(form: str) -> None:
    if form not in LN_M_OFFSET:
        raise SimulationError(f"form is {form!r}; allowed: {sorted(LN_M_OFFSET)}")


def feature_names(
    solvents: Sequence[str], pairs: Sequence[tuple[str, str]], form: str
) -> tuple[str, ...]:
    """Names of the columns of `features`, in order."""
    _check(form)
    binary = tuple(f"w[{a}]*w[{b}]" for a, b in pairs)
    linear = (
        *(f"w[{s}]" for s in solvents),
        *(f"w[{s}]*m" for s in solvents),
        *(f"-w[{s}]/(T-T0)" for s in solvents),
        "-m/(T-T0)",
    )
    if form == "casteel-amis@1":
        return ("ln m", "m^2", *linear, *binary)
    return (
        *(f"w[{s}]*sqrt m" for s in solvents),
        *(f"w[{s}]*m^2" for s in solvents),
        *linear,
        "-sqrt m/(T-T0)",
        *binary,
    )


def features(
    solvents: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    t0: float,
    fractions: np.ndarray,
    molality: np.ndarray,
    temperature: np.ndarray,
    form: str,
) -> np.ndarray:
    """Design matrix `n x p` for `fractions` `n x len(solvents)`, molality and °C arrays `n`."""
    _check(form)
    m = molality[:, None]
    inv = 1.0 / (temperature[:, None] + _KELVIN - t0)
    index = {s: i for i, s in enumerate(solvents)}
    linear = [fractions, fractions * m, -fractions * inv, -m * inv]
    binary = [fractions[:, [index[a]]] * fractions[:, [index[b]]] for a, b in pairs]
    if form == "casteel-amis@1":
        return np.hstack([np.log(m), m**2, *linear, *binary])
    root = np.sqrt(m)
    return np.hstack([fractions * root, fractions * m**2, *linear, -root * inv, *binary])
