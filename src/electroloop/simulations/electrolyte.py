"""Ionic conductivity of Li-salt electrolytes in carbonate / ether blends, fitted to CALiSol-23.

Form for LiPF6 (`FORMS`; LiBF4 and LiBOB keep the issue-6 form of `electrolyte_form`); m molality
in mol/kg of solvent, T in K, w_i solvent mass fractions, Σ w_i = 1:

    ln σ = ln m + Σ_i w_i (k_i √m + α_i + β_i m + b_i m²)
           − (Σ_i B_i w_i + B_m m + B_s √m) / (T − T₀) + Σ_i<j γ_ij w_i w_j

- Concentration (@2, issue 20; the design matrices are in `electrolyte_form`): σ = m·Λ(m) with
  the Kohlrausch / Debye–Hückel–Onsager dilute limit Λ = Λ₀ − S√c (L. Onsager, Phys. Z. 28 (1927)
  277) built in: the ln m coefficient is fixed at 1 and k_i √m is the first correction; ion
  association in low-permittivity blends (R. M. Fuoss, J. Am. Chem. Soc. 80 (1958) 5059,
  doi:10.1021/ja01552a016) lowers σ further with m (k_i, β_i per solvent); the fall past the
  maximum is the Casteel–Amis b·m² term (J. F. Casteel and E. S. Amis, J. Chem. Eng. Data 17
  (1972) 55, doi:10.1021/je60052a029), per solvent. Why it replaced @1 (one fitted exponent
  a·ln m, a ≈ 0.7, for every blend): `electrolyte_form`. The linear coefficients depend on the
  blend, so the optimum molality does too.
- Temperature: Vogel–Tammann–Fulcher, σ ∝ exp[−B/(T − T₀)] (H. Vogel, Phys. Z. 22 (1921) 645;
  G. S. Fulcher, J. Am. Ceram. Soc. 8 (1925) 339, doi:10.1111/j.1151-2916.1925.tb16731.x), the
  form used for these electrolytes by e.g. Landesfeind & Gasteiger, J. Electrochem. Soc. 166
  (2019) A3079, doi:10.1149/2.0571912jes. B grows with salt content (B_m, B_s: viscosity rises),
  so the optimum molality moves up with T, as measured. T₀ is one constant per salt, chosen on a
  grid.
- Composition: coefficients linear in mass fractions (a Redlich–Kister-style mixing expansion,
  O. Redlich and A. T. Kister, Ind. Eng. Chem. 40 (1948) 345, doi:10.1021/ie50458a036; the
  optional γ_ij are its first binary terms), the log-linear mixing of Grunberg–Nissan
  (Nature 164 (1949) 799, doi:10.1038/164799b0) combined with Walden's rule.

All terms are linear in the unknowns once T₀ is fixed, so the fit is a weighted ridge least
squares in ln σ with weights σ (so that squared errors are ≈ in mS/cm, the unit of the MAE target),
times a per-source balance (`BALANCE`).
Coefficients are fitted once by `refit` from CALiSol-23 (de Blasio et al., Sci. Data 2024,
doi:10.1038/s41597-024-03575-8, cleaned by `electroloop.simulations.calisol`) and shipped in
`electrolyte_fit.json`; nothing is fitted at import. Leave-one-source-out errors and the form
comparison are in `docs/electrolyte_model.md` (`benchmarks/electrolyte_fit.py`).

CALiSol-23 holds conductivity only: density comes from `calisol.blend_density` (ideal mixing of
pure solvents, 25 °C) and this module gives no viscosity.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from electroloop.errors import SimulationError
from electroloop.simulations.calisol import (
    SALT_MOLAR_MASS,
    CalisolData,
    CalisolPoint,
    load_calisol,
)
from electroloop.simulations.cost import PRICE_USD_PER_KG as _SMILES_PRICES
from electroloop.simulations.density import SALTS as _SALT_SMILES
from electroloop.simulations.density import SOLVENTS as _SOLVENT_SMILES
from electroloop.simulations.electrolyte_form import (
    CURRENT_FORM,
    LEGACY_FORM,
    LN_M_OFFSET,
    feature_names,
    features,
)

MODEL = "electroloop.simulations.electrolyte/kohlrausch-casteel-amis-vtf+calisol23@2"
"""Name and version of this model, recorded with every value it produces (bump on any change)."""

FIT_PATH = Path(__file__).with_name("electrolyte_fit.json")
"""The shipped coefficients, written by `refit`."""

SALTS: tuple[str, ...] = ("LiPF6", "LiBF4", "LiBOB")
"""Salts fitted. Not fitted: LiFSI (19 rows, one source, one concentration); LiClO4 and LiAsF6
(no held-out source lies inside the domain of the others, so no error can be measured); LiTFSI
(4 sources with disjoint solvents at only 0.5 and 1 mol/L: leave-one-source-out reaches 15 of 223
rows with MAE 2.6 mS/cm, and the concentration shape is unidentified)."""

CARBONATES = frozenset({"EC", "PC", "DMC", "EMC", "DEC", "FEC"})
"""Solvents counted as carbonates for the LiPF6-in-carbonates benchmark."""

MIN_SOLVENT_ROWS = 15
"""A solvent enters a salt's fit (and its validity domain) with at least this many rows."""

T0_GRID = (0.0, 100.0, 120.0, 140.0, 150.0, 160.0, 170.0, 180.0)
"""K; candidate VTF T₀ (0 = Arrhenius). Each salt takes the one with the least weighted SSE."""

RIDGE = 1e-4
"""Ridge penalty on standardised features: keeps rarely-seen solvent terms finite."""

BALANCE: dict[str, float] = {"LiPF6": 0.75}
"""Exponent β of the per-source weight n_source^(−β/2) (0 = every row alike). LiPF6's rows are
2/3 from two PC/DEC sources; weighting them alike lets those labs set the EC/EMC/DMC shape, and a
new lab is a new source, so sources are partly balanced (β chosen by leave-one-source-out,
`benchmarks/conductivity_loso.py`)."""

DOMAIN_EXTENSION: dict[str, float] = {"mass fraction": 0.1, "molality factor": 0.5}
"""How far the validity box reaches past the fitted rows' envelope: each solvent's highest mass
fraction + 0.1 (e.g. EC 0.6 → 0.7 in LiPF6), the lowest molality × 0.5 (0.089 → 0.045 mol/kg).
Why the data support it: the Kohlrausch form has the dilute limit σ → Λ₀·m built in, so going
below the data follows the limiting law instead of a fitted power, and composition enters
log-linearly (Grunberg–Nissan). Held out one source at a time (`conductivity_loso`), rows past
their fold's envelope are scored: Landesfeind's 0.09–0.2 mol/kg rows (refused before) and the
EC 0.5–0.6 rows of 10.1149/1.1566019, with errors like the in-box rows'
(`benchmarks/conductivity_loso.py`)."""

FORMS: dict[str, str] = {"LiPF6": CURRENT_FORM}
"""`electrolyte_form` form per salt; others keep `LEGACY_FORM`. LiPF6 is the salt with dilute
(0.09 mol/kg) and concentrated (3.3 mol/kg) rows from several labs to judge the form on; for
LiBF4 the Kohlrausch form extrapolated badly in leave-one-source-out, so it stays @1."""

EXTENDED_SALTS = frozenset({"LiPF6"})
"""Salts whose box is widened by `DOMAIN_EXTENSION`. LiBF4's widened box let in 237 held-out rows
that raised its leave-one-source-out MAE from 0.32 to 0.39 mS/cm, so its box stays the envelope."""

MIN_FIT_CONDUCTIVITY = 0.01
"""mS/cm; rows below it carry no usable ln σ (digitised zeros) and are left out of fits."""

_KELVIN = 273.15


@dataclass(frozen=True)
class Domain:
    """Where a salt's fit is valid: solvents with their mass-fraction range, molality, T (°C)."""

    solvents: Mapping[str, tuple[float, float]]
    molality: tuple[float, float]
    temperature: tuple[float, float]


@dataclass(frozen=True)
class SaltFit:
    """Fitted coefficients of one salt; `coefficients` follow `feature_names`."""

    salt: str
    t0: float
    solvents: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    coefficients: tuple[float, ...]
    domain: Domain
    n_points: int
    sources: tuple[str, ...]
    form: str = CURRENT_FORM

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the columns of `electrolyte_form.features`, in order."""
        return feature_names(self.solvents, self.pairs, self.form)


@dataclass(frozen=True)
class Prediction:
    """A conductivity (mS/cm) and the variables, if any, outside the validity domain."""

    conductivity: float
    extrapolated: tuple[str, ...]
    model: str = MODEL


def _matrix(points: Sequence[CalisolPoint], solvents: Sequence[str]) -> np.ndarray:
    return np.array([[p.fraction(s) for s in solvents] for p in points], dtype=float).reshape(
        len(points), len(solvents)
    )


def _solve(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, float]:
    """Weighted ridge least squares on standardised columns; returns (β, weighted SSE)."""
    scale = np.sqrt(np.mean(x**2, axis=0))
    scale[scale == 0.0] = 1.0
    xs = x / scale * weight[:, None]
    ys = y * weight
    p = xs.shape[1]
    lhs = xs.T @ xs + RIDGE * len(y) * np.eye(p)
    beta = np.linalg.solve(lhs, xs.T @ ys) / scale
    sse = float(np.sum((weight * (x @ beta - y)) ** 2))
    return beta, sse


def fit_salt(
    points: Iterable[CalisolPoint],
    salt: str,
    *,
    pairs: bool = True,
    t0_grid: Sequence[float] = T0_GRID,
    balance: float | None = None,
    form: str | None = None,
    extend: bool | None = None,
) -> SaltFit:
    """Fit one salt to cleaned CALiSol points (rows of other salts are ignored).

    `balance`: the per-source weight exponent (default `BALANCE` of the salt, else 0); `form`: a
    key of `electrolyte_form.LN_M_OFFSET` (default: `FORMS` of the salt, else `LEGACY_FORM`);
    `extend`: widen the domain by `DOMAIN_EXTENSION` (default: for `EXTENDED_SALTS`; off: the
    fitted rows' envelope, as before issue 20).

    Rows with a solvent seen in fewer than `MIN_SOLVENT_ROWS` rows are left out; `pairs` adds the
    binary w_i·w_j terms for solvent pairs that co-occur in at least `MIN_SOLVENT_ROWS` rows.
    """
    form = FORMS.get(salt, LEGACY_FORM) if form is None else form
    extend = salt in EXTENDED_SALTS if extend is None else extend
    rows = [p for p in points if p.salt == salt]
    counts: dict[str, int] = {}
    for p in rows:
        for s in p.solvents:
            counts[s] = counts.get(s, 0) + 1
    solvents = tuple(sorted(s for s, n in counts.items() if n >= MIN_SOLVENT_ROWS))
    rows = [p for p in rows if p.solvents <= set(solvents)]
    rows = [p for p in rows if p.conductivity >= MIN_FIT_CONDUCTIVITY]
    if not rows:
        raise SimulationError(f"no CALiSol rows to fit for salt {salt!r}")
    pair_list: list[tuple[str, str]] = []
    if pairs:
        for i, a in enumerate(solvents):
            for b in solvents[i + 1 :]:
                both = sum(1 for p in rows if a in p.solvents and b in p.solvents)
                if both >= MIN_SOLVENT_ROWS:
                    pair_list.append((a, b))
    w = _matrix(rows, solvents)
    m = np.array([p.molality for p in rows])
    t = np.array([p.temperature for p in rows])
    sigma = np.array([p.conductivity for p in rows])
    y = np.log(sigma) - LN_M_OFFSET[form] * np.log(m)  # a fixed dilute limit is not fitted
    beta_source = BALANCE.get(salt, 0.0) if balance is None else balance
    per_source = Counter(p.doi for p in rows)
    weight = sigma * np.array([per_source[p.doi] for p in rows], dtype=float) ** (-beta_source / 2)
    best: tuple[float, np.ndarray, float] | None = None
    for t0 in t0_grid:
        if t0 >= t.min() + _KELVIN - 10.0:
            continue
        beta, sse = _solve(features(solvents, pair_list, t0, w, m, t, form), y, weight)
        if best is None or sse < best[2]:
            best = (t0, beta, sse)
    assert best is not None  # T0_GRID holds 0 K, always below the data
    widen = DOMAIN_EXTENSION if extend else {"mass fraction": 0.0, "molality factor": 1.0}
    domain = Domain(
        solvents={
            s: (float(w[:, i].min()), min(1.0, float(w[:, i].max()) + widen["mass fraction"]))
            for i, s in enumerate(solvents)
        },
        molality=(float(m.min()) * widen["molality factor"], float(m.max())),
        temperature=(float(t.min()), float(t.max())),
    )
    return SaltFit(
        salt=salt,
        t0=best[0],
        solvents=solvents,
        pairs=tuple(pair_list),
        coefficients=tuple(float(b) for b in best[1]),
        domain=domain,
        n_points=len(rows),
        sources=tuple(sorted({p.doi for p in rows})),
        form=form,
    )


def _outside(fit: SaltFit, fractions: Mapping[str, float], molality: float, t: float) -> list[str]:
    """Messages for every variable outside `fit.domain`."""
    d = fit.domain
    issues = []
    for name, w in fractions.items():
        if w > 0.0 and name not in d.solvents:
            issues.append(f"solvent {name!r} is not in the domain; allowed: {sorted(d.solvents)}")
    for name, (low, high) in d.solvents.items():
        w = fractions.get(name, 0.0)
        if not low - 1e-9 <= w <= high + 1e-9:
            issues.append(f"mass fraction of {name} is {w:.4g}; allowed: {low:.3g}..{high:.3g}")
    low, high = d.molality
    if not low <= molality <= high:
        issues.append(f"molality is {molality:.4g} mol/kg; allowed: {low:.3g}..{high:.3g} mol/kg")
    low, high = d.temperature
    if not low <= t <= high:
        issues.append(f"temperature is {t:.4g} °C; allowed: {low:.4g}..{high:.4g} °C")
    return issues


def _evaluate(fit: SaltFit, fractions: Mapping[str, float], molality: float, t: float) -> float:
    w = np.array([[fractions.get(s, 0.0) for s in fit.solvents]])
    x = features(fit.solvents, fit.pairs, fit.t0, w, np.array([molality]), np.array([t]), fit.form)
    offset = LN_M_OFFSET[fit.form] * math.log(molality)
    return float(math.exp(float(x[0] @ np.array(fit.coefficients)) + offset))


class ElectrolyteModel:
    """Conductivity of the fitted salts; build it with `from_json` (the shipped fit) or `refit`."""

    def __init__(self, fits: Mapping[str, SaltFit]) -> None:
        self.fits: dict[str, SaltFit] = dict(fits)

    @classmethod
    def from_json(cls, path: Path = FIT_PATH) -> ElectrolyteModel:
        """Load coefficients written by `to_json`."""
        raw = json.loads(path.read_text(encoding="utf-8"))
        fits = {}
        for salt, f in raw["salts"].items():
            d = f["domain"]
            fits[salt] = SaltFit(
                salt=salt,
                t0=float(f["t0"]),
                solvents=tuple(f["solvents"]),
                pairs=tuple((a, b) for a, b in f["pairs"]),
                coefficients=tuple(float(c) for c in f["coefficients"]),
                domain=Domain(
                    solvents={s: (float(lo), float(hi)) for s, (lo, hi) in d["solvents"].items()},
                    molality=(float(d["molality"][0]), float(d["molality"][1])),
                    temperature=(float(d["temperature"][0]), float(d["temperature"][1])),
                ),
                n_points=int(f["n_points"]),
                sources=tuple(f["sources"]),
                form=str(f.get("form", "casteel-amis@1")),
            )
        return cls(fits)

    def to_json(self, path: Path = FIT_PATH) -> None:
        """Write the coefficients (with feature names, domain and provenance) as JSON."""
        salts = {}
        for salt, f in self.fits.items():
            salts[salt] = {
                "form": f.form,
                "t0": f.t0,
                "solvents": list(f.solvents),
                "pairs": [list(p) for p in f.pairs],
                "feature_names": list(f.feature_names),
                "coefficients": [round(c, 8) for c in f.coefficients],
                "domain": {
                    "solvents": {
                        s: [round(lo, 4), round(hi, 4)] for s, (lo, hi) in f.domain.solvents.items()
                    },
                    "molality": [round(v, 4) for v in f.domain.molality],
                    "temperature": [round(v, 2) for v in f.domain.temperature],
                },
                "n_points": f.n_points,
                "sources": list(f.sources),
            }
        doc = {
            "model": MODEL,
            "data": "CALiSol-23, de Blasio et al., Sci. Data 2024, doi:10.1038/s41597-024-03575-8",
            "units": {
                "conductivity": "mS/cm",
                "molality": "mol/kg",
                "temperature": "degC",
                "t0": "K",
            },
            "salts": salts,
        }
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    def domain(self, salt: str) -> Domain:
        """The validity domain of `salt`; raises `SimulationError` for an unfitted salt."""
        return self._fit(salt).domain

    def _fit(self, salt: str) -> SaltFit:
        try:
            return self.fits[salt]
        except KeyError:
            raise SimulationError(f"salt is {salt!r}; allowed: {sorted(self.fits)}") from None

    def predict(
        self,
        salt: str,
        fractions: Mapping[str, float],
        molality: float,
        temperature: float,
        *,
        extrapolate: bool = False,
    ) -> Prediction:
        """σ in mS/cm with the list of out-of-domain variables.

        `fractions`: solvent mass fractions of the salt-free blend keyed by CALiSol names
        (``"EC"``, ``"EMC"`` …), summing to 1; `molality`: mol/kg of solvent; `temperature`: °C.
        Outside the domain raises `SimulationError` naming each variable and its allowed range,
        unless `extrapolate`, in which case the value is returned and the variables are listed.
        """
        fit = self._fit(salt)
        total = math.fsum(fractions.values())
        if any(not (math.isfinite(w) and w >= 0.0) for w in fractions.values()) or not (
            abs(total - 1.0) <= 1e-6
        ):
            raise SimulationError(
                f"solvent fractions are {dict(fractions)} (sum {total:.6g}); "
                "allowed: each >= 0, sum 1 within 1e-6"
            )
        if not (math.isfinite(molality) and molality > 0.0 and math.isfinite(temperature)):
            raise SimulationError(
                f"molality {molality!r} mol/kg, temperature {temperature!r} °C; "
                "allowed: molality > 0, both finite"
            )
        issues = _outside(fit, fractions, molality, temperature)
        if issues and not extrapolate:
            raise SimulationError(f"{salt}: " + "; ".join(issues))
        known = {s: w for s, w in fractions.items() if s in fit.solvents}
        return Prediction(_evaluate(fit, known, molality, temperature), tuple(issues))

    def conductivity(
        self, salt: str, fractions: Mapping[str, float], molality: float, temperature: float
    ) -> float:
        """σ in mS/cm inside the validity domain (see `predict`)."""
        return self.predict(salt, fractions, molality, temperature).conductivity


@cache
def default_model() -> ElectrolyteModel:
    """The shipped fit, read from `FIT_PATH` on first use."""
    return ElectrolyteModel.from_json(FIT_PATH)


def conductivity(
    salt: str, fractions: Mapping[str, float], molality: float, temperature: float
) -> float:
    """σ in mS/cm from the shipped fit; see `ElectrolyteModel.predict` for arguments and errors."""
    return default_model().conductivity(salt, fractions, molality, temperature)


def fit_calisol(
    data: CalisolData, salts: Sequence[str] = SALTS, *, pairs: bool = True
) -> ElectrolyteModel:
    """Fit every salt in `salts` to cleaned CALiSol data."""
    return ElectrolyteModel({s: fit_salt(data.points, s, pairs=pairs) for s in salts})


def refit(csv_path: Path, out: Path | None = FIT_PATH) -> ElectrolyteModel:
    """Reproduce the shipped fit from `calisol23.csv` (or its folder); write it to `out`."""
    model = fit_calisol(load_calisol(csv_path))
    if out is not None:
        model.to_json(out)
    return model


@dataclass(frozen=True)
class LosoResult:
    """Leave-one-source-out errors for one salt (and optional solvent subset).

    `n_covered` of `n_total` held-out rows lay inside the domain of the fold's fit; MAE (mS/cm)
    and R² are over those rows only, since the model refuses the others.
    """

    salt: str
    n_total: int
    n_covered: int
    n_sources: int
    mae: float
    r2: float


def loso(
    data: CalisolData,
    salt: str,
    *,
    solvents: frozenset[str] | None = None,
    pairs: bool = True,
    t0_grid: Sequence[float] = T0_GRID,
    form: str | None = None,
) -> LosoResult:
    """Leave-one-source-out (grouped by DOI) errors of `fit_salt` on `salt`, in-domain rows only.

    `solvents` restricts the *scored* rows to blends of those solvents (training uses all);
    `form` overrides the salt's `FORMS` entry. Every held-out row: `conductivity_loso`.
    """
    rows = [p for p in data.points if p.salt == salt]
    scored = [p for p in rows if solvents is None or p.solvents <= solvents]
    truth: list[float] = []
    pred: list[float] = []
    sources = sorted({p.doi for p in scored})
    for doi in sources:
        train = [p for p in rows if p.doi != doi]
        if not train:
            continue
        fit = fit_salt(train, salt, pairs=pairs, t0_grid=t0_grid, form=form)
        for p in scored:
            if p.doi != doi:
                continue
            fractions = dict(p.fractions)
            if _outside(fit, fractions, p.molality, p.temperature):
                continue
            truth.append(p.conductivity)
            pred.append(_evaluate(fit, fractions, p.molality, p.temperature))
    y, f = np.array(truth), np.array(pred)
    if len(y) == 0:
        return LosoResult(salt, len(scored), 0, len(sources), math.nan, math.nan)
    mae = float(np.mean(np.abs(y - f)))
    r2 = float(1.0 - np.sum((y - f) ** 2) / np.sum((y - y.mean()) ** 2))
    return LosoResult(salt, len(scored), len(y), len(sources), mae, r2)


PRICE_USD_PER_KG: dict[str, float] = {
    **{name: _SMILES_PRICES[smiles] for name, smiles in _SOLVENT_SMILES.items()},
    **{name: _SMILES_PRICES[smiles] for name, smiles in _SALT_SMILES.items()},
    "PC": 1.5,
    "DEC": 2.5,
    "FEC": 10.0,
    "DME": 5.0,
    "LiBF4": 30.0,
    "LiBOB": 30.0,
}
"""Indicative battery-grade bulk price, USD/kg, keyed by CALiSol name. EC, EMC, DMC and LiPF6 are
taken from `electroloop.simulations.cost` (sources there: Susarla & Ahmed, Ind. Eng. Chem. Res.
58 (2019) 3754, doi:10.1021/acs.iecr.8b03752, for LiPF6). The others are order-of-magnitude
placeholders (PC, DEC: commodity carbonates like EC/DMC; FEC, DME: specialty solvents ~5–10×;
LiBF4, LiBOB: ~1.5× LiPF6); no primary source could be checked offline — replace with purchasing
data."""


def cost_per_kg(salt: str, fractions: Mapping[str, float], molality: float) -> float:
    """Material cost, USD per kg of electrolyte, from `PRICE_USD_PER_KG` (names as CALiSol)."""
    names = [salt, *fractions]
    missing = [
        n for n in names if n not in PRICE_USD_PER_KG or (n == salt and n not in SALT_MOLAR_MASS)
    ]
    if missing:
        raise SimulationError(f"no price for {missing}; allowed: {sorted(PRICE_USD_PER_KG)}")
    if not (math.isfinite(molality) and molality >= 0.0):
        raise SimulationError(f"molality is {molality!r}; allowed: >= 0 mol/kg")
    salt_mass = molality * SALT_MOLAR_MASS[salt] / 1000.0  # kg salt per kg solvent
    solvent = math.fsum(w * PRICE_USD_PER_KG[n] for n, w in fractions.items())
    return (solvent + salt_mass * PRICE_USD_PER_KG[salt]) / (1.0 + salt_mass)
