"""`electroloop electrode converge`: how large and how many microstructure cubes a material needs
before its tortuosity, conductivity and surface area are each known to ±1 % at 95 % confidence
(run it before trusting a volume size)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from electroloop.cli.common import Commands
from electroloop.errors import ConfigError

if TYPE_CHECKING:
    from electroloop.simulations.microstructure import Convergence


def add_parser(commands: Commands) -> None:
    electrode = commands.add_parser(
        "electrode", help="electrode microstructures", description="Electrode design tools."
    )
    verbs = electrode.add_subparsers(dest="electrode_command", required=True, metavar="COMMAND")
    converge = verbs.add_parser(
        "converge",
        help="metrics over cube sizes and counts: which volume gives ±1 %% at 95 %%",
        description="Generate COUNT independent cubes of each size for one electrode design, "
        "measure each (pore tortuosity, solid conductivity, AM-pore surface area), and print "
        "each metric's mean, spread, 95 %% confidence half-width, drift from the largest size "
        "and the number of cubes each size needs for ±TARGET; then, of the sizes whose means "
        "agree with the largest size's, the size and count that reach it on every metric in "
        "the fewest seconds on this machine.",
    )
    converge.add_argument("--porosity", type=float, default=0.35, help="pore volume fraction")
    converge.add_argument("--am-share", type=float, default=0.9, help="AM share of the solid")
    converge.add_argument("--adhesion", type=float, default=0.5, help="CBD adhesion 0..1")
    converge.add_argument("--radius", type=int, default=6, help="AM particle radius, voxels")
    converge.add_argument("--sizes", default="32,48,64", help="cube edges in voxels (32,48,64)")
    converge.add_argument("--count", type=int, default=5, help="cubes per size (5)")
    converge.add_argument("--voxel", type=float, default=0.5, help="voxel edge, µm (0.5)")
    converge.add_argument("--target", type=float, default=0.01, help="relative half-width (0.01)")
    converge.add_argument("--seed", type=int, default=0)
    converge.set_defaults(func=run_converge)


def run_converge(args: argparse.Namespace, command_line: str) -> int:
    """Print the convergence table and the cheapest size and count that reach the target."""
    from electroloop.simulations.microstructure import ElectrodeDesign, convergence, justified

    try:
        sizes = tuple(int(part) for part in args.sizes.split(","))
    except ValueError:
        raise ConfigError(
            f"--sizes {args.sizes!r}; allowed: edges in voxels, e.g. 32,48,64"
        ) from None
    design = ElectrodeDesign(args.porosity, args.am_share, args.adhesion, args.radius)
    rows = convergence(
        design, sizes, args.count, voxel_size=args.voxel, target=args.target, seed=args.seed
    )
    print(f"{command_line}\n")
    print("\n".join(convergence_table(rows)))
    best = justified(rows)
    print(
        f"\nfor ±{100 * args.target:g} % at 95 % on every metric: {best.cubes_needed} cubes of "
        f"{best.size}³ voxels ({best.size * args.voxel:g} µm edges), about "
        f"{best.cubes_needed * best.seconds_per_cube:.0f} s of drawing and measuring per "
        "design here"
    )
    return 0


def convergence_table(rows: list[Convergence]) -> list[str]:
    """The convergence study as Markdown: one row per cube size and metric, with each mean's
    drift from the largest cube's."""
    largest = max(rows, key=lambda r: r.size)
    lines = [
        "| cube (voxels) | cubes | s/cube | metric | mean | std | 95 % half-width | "
        f"vs {largest.size}³ | cubes needed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for name, m in r.metrics.items():
            drift = m.mean / largest.metrics[name].mean - 1
            lines.append(
                f"| {r.size}³ | {r.count} | {r.seconds_per_cube:.2f} | {name} | {m.mean:.4g} | "
                f"{m.std:.3g} | ±{100 * m.relative_half_width:.1f} % | {100 * drift:+.1f} % | "
                f"{m.cubes_needed} |"
            )
    return lines
