"""The three electrode case studies of A. Kench et al. (*Matter* 2024) on this project's twin.

Runs the example campaigns `examples/campaigns/electrode/case*.toml` through the engine
(planner, event store, twin experiment; no Prefect or MLflow, which add nothing to what is
measured here) and prints a Markdown report: each campaign's best design, whether case 1 is
degenerate at every rate, whether case 2's optimum flips with power, and case 3's energy and
power designs with the power where their Ragone curves cross. Every campaign of a run shares
one content cache, so the Ragone curves reuse the trials' cubes.

    .venv/bin/python benchmarks/electrode_cases.py            # the campaigns as written
    .venv/bin/python benchmarks/electrode_cases.py --fast     # 2 cubes of 48³ per design
    .venv/bin/python benchmarks/electrode_cases.py --budget 6 # a quick look (not for the record)

`--fast` draws 2 cubes of 48³ voxels per design instead of the files' 3 of 64³: TauFactor's
solid-conductivity solve takes most of a trial (thousands of SOR sweeps at the AM/CBD contrast)
and grows with the volume, so the full files take about 4× as long on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.evaluation import evaluate
from electroloop.kinds.electrode.ragone import RagoneCurve, crossover, ragone_curve
from electroloop.kinds.registry import load_campaign, parse_campaign
from electroloop.models import DesignPoint
from electroloop.settings import Settings
from electroloop.workflows.build import build_planner
from electroloop.workflows.twin_build import assemble_twin, twin_cache

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "campaigns" / "electrode"
RAGONE_POWERS = (5.0, 10.0, 20.0, 40.0, 80.0, 150.0, 300.0, 600.0, 1000.0)
"""W: where case 3's two designs are compared."""
EDGE = 0.1
"""A parameter 'at its bound' lies within this share of its range from it."""


def run(spec: ElectrodeCampaign, settings: Settings) -> dict[str, Any]:
    """Run one campaign to its budget; its best design, values and seconds per trial."""
    started = time.perf_counter()
    with assemble_twin(spec, settings, spec.name, [], build_planner) as campaign:
        state = campaign.run()
    seconds = (time.perf_counter() - started) / max(1, state.trials_run)
    best = state.best(spec.goal)
    assert best is not None and isinstance(best.design, DesignPoint)
    return {
        "spec": spec,
        "design": {**spec.design.fixed(), **best.design.values},
        "searched": dict(best.design.values),
        "value": best.values[spec.goal.primary.name],
        "error": best.errors.get(spec.goal.primary.name, 0.0),
        "seconds_per_trial": seconds,
        "trials": state.trials_run,
    }


def at_edge(spec: ElectrodeCampaign, design: dict[str, float], name: str) -> str:
    """'high', 'low' or 'inside': where `design[name]` sits in the campaign's range."""
    low, high = spec.design.searched()[name]
    share = (design[name] - low) / (high - low)
    return "high" if share >= 1 - EDGE else "low" if share <= EDGE else "inside"


FAST = {"size": 48, "realisations": 2}
CASE1_RATES = (0.5, 2.0, 5.0)
"""`--fast`: the cubes of each design."""


def case1_grid(settings: Settings, fast: bool, points: int = 5) -> list[str]:
    """Case 1's objective on a `points` × `points` grid of (porosity, AM share) at each rate:
    where the twin's own optimum lies, beside what the campaigns found."""
    lines = []
    cache = twin_cache(settings)
    for rate in CASE1_RATES:
        spec = variant(
            EXAMPLES / "case1_capacity_per_gram.toml", None, fast, discharge={"c_rate": rate}
        )
        ranges = spec.design.searched()
        grid = {
            name: [low + (high - low) * i / (points - 1) for i in range(points)]
            for name, (low, high) in ranges.items()
        }
        values = {}
        for porosity in grid["porosity"]:
            for am in grid["am_share"]:
                design = {**spec.design.fixed(), "porosity": porosity, "am_share": am}
                result = evaluate(design, spec.microstructure, spec.discharge, spec.seed, cache)
                values[(porosity, am)] = result.values["mah_per_g_am"]
        (porosity, am), best = max(values.items(), key=lambda item: item[1])
        spread = best - min(values.values())
        lines.append(
            f"- Case 1 grid at {rate:g} C ({points}×{points}): best at porosity {porosity:.3g}, "
            f"am_share {am:.3g}: {best:.1f} mAh/g (grid spread {spread:.1f}); at (max porosity, "
            f"min AM): {values[(grid['porosity'][-1], grid['am_share'][0])]:.1f}"
        )
    return lines


def variant(path: Path, budget: int | None, fast: bool, **changes: Any) -> ElectrodeCampaign:
    spec = load_campaign(path)
    data = spec.model_dump(mode="json") | changes
    if budget is not None:
        data["budget"] = budget
    if fast:
        data["microstructure"] = data["microstructure"] | FAST
    parsed = parse_campaign(data, str(path))
    assert isinstance(parsed, ElectrodeCampaign)
    return parsed


def describe(design: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in design.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=int, default=None, help="Override every budget.")
    parser.add_argument("--fast", action="store_true", help="2 cubes of 48³ per design.")
    parser.add_argument(
        "--case1-grid", action="store_true", help="Only case 1's objective on a 5×5 grid."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        if args.case1_grid:
            print("\n".join(case1_grid(settings, args.fast)))
            return
        flag = (f" --budget {args.budget}" if args.budget else "") + (
            " --fast" if args.fast else ""
        )
        lines = [
            f"Machine: {platform.machine()}, Python {platform.python_version()}, "
            f"{os.cpu_count()} cores; command: "
            f"`.venv/bin/python benchmarks/electrode_cases.py{flag}`",
            "",
            "| case | condition | best design | value ± s.e. | trials | s/trial |",
            "|---|---|---|---|---|---|",
        ]
        results: dict[str, dict[str, Any]] = {}
        for rate in CASE1_RATES:
            spec = variant(
                EXAMPLES / "case1_capacity_per_gram.toml",
                args.budget,
                args.fast,
                name=f"case1-{rate:g}C",
                discharge={"c_rate": rate},
            )
            results[spec.name] = run(spec, settings)
        for name in (
            "case2_low_power",
            "case2_high_power",
            "case3_energy_cell",
            "case3_power_cell",
        ):
            spec = variant(EXAMPLES / f"{name}.toml", args.budget, args.fast)
            results[spec.name] = run(spec, settings)
        for name, r in results.items():
            spec = r["spec"]
            unit = spec.unit(spec.goal.primary.name)
            lines.append(
                f"| {name} | {spec.discharge.label} | {describe(r['searched'])} | "
                f"{r['value']:.1f} ± {r['error']:.1f} {unit} | {r['trials']} | "
                f"{r['seconds_per_trial']:.1f} |"
            )
        lines.append("")
        case1 = [r for n, r in results.items() if n.startswith("case1")]
        degenerate = all(
            at_edge(r["spec"], r["design"], "porosity") == "high"
            and at_edge(r["spec"], r["design"], "am_share") == "low"
            for r in case1
        )
        lines.append(
            f"- Case 1 degenerate (max porosity, min AM share) at 0.5, 2 and 5 C: "
            f"{'yes' if degenerate else 'no'} "
            f"({'; '.join(describe(r['searched']) for r in case1)})"
        )
        low, high = results["case2-low-power"], results["case2-high-power"]
        lines.append(
            f"- Case 2 optimum at 10 W: {describe(low['searched'])}; at 300 W: "
            f"{describe(high['searched'])} (loading {low['design']['mass_loading']:.1f} → "
            f"{high['design']['mass_loading']:.1f} mg/cm²)"
        )
        energy, power = results["case3-energy-cell"], results["case3-power-cell"]
        cache = twin_cache(settings)
        micro, seed = energy["spec"].microstructure, energy["spec"].seed
        curves: list[RagoneCurve] = [
            ragone_curve("energy", energy["design"], RAGONE_POWERS, micro, seed, cache),
            ragone_curve("power", power["design"], RAGONE_POWERS, micro, seed, cache),
        ]
        cross = crossover(curves[0], curves[1])
        lines.append(f"- Case 3 energy design: {describe(energy['design'])}")
        lines.append(f"- Case 3 power design: {describe(power['design'])}")
        lines.append(
            "- Ragone (Wh/L): "
            + "; ".join(
                f"{p:g} W: {a:.0f} vs {b:.0f}"
                for p, a, b in zip(
                    RAGONE_POWERS, curves[0].wh_per_l, curves[1].wh_per_l, strict=True
                )
            )
        )
        lines.append(f"- Crossover: {cross:.0f} W" if cross is not None else "- Crossover: none")
        median = statistics.median(r["seconds_per_trial"] for r in results.values())
        lines.append(f"- Median seconds per trial over all campaigns: {median:.1f}")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
