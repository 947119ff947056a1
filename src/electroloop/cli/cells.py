"""`electroloop cells import`: a lab's own cycler file (Neware .nda/.ndax, BioLogic .mpr) read
into the project's record form, summarised per cycle and written as Battery Data Format files
whose sidecar names the file it came from."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from electroloop.cli.common import Commands


def add_parser(commands: Commands) -> None:
    cells = commands.add_parser(
        "cells", help="cells' cycling data", description="Cells' cycling data from other tools."
    )
    verbs = cells.add_subparsers(dest="cells_command", required=True, metavar="COMMAND")
    imported = verbs.add_parser(
        "import",
        help="read a Neware .nda/.ndax or BioLogic .mpr file, print its cycles, write BDF files",
        description="Read a cycler file (Neware .nda/.ndax with fastnda, BioLogic .mpr with "
        "galvani) into the records a campaign's cycler gives, print one line per complete "
        "cycle, and with --bdf write <cell>.bdf.parquet, .bdf.csv and .bdf.metadata.json.",
    )
    imported.add_argument("file", type=Path, help="the .nda, .ndax or .mpr file")
    imported.add_argument("--cell", help="cell id for the BDF files (default: the file's name)")
    imported.add_argument(
        "--temperature",
        type=float,
        help="°C the cell was cycled at, where the file holds no temperature",
    )
    imported.add_argument("--bdf", type=Path, help="folder to write the BDF files into")
    imported.set_defaults(func=run_import)


def run_import(args: argparse.Namespace, command_line: str) -> int:
    """Print the file's cycles; write its BDF files if asked."""
    from electroloop.kinds.cycling.bdf import BdfMetadata, export_bdf
    from electroloop.kinds.cycling.imports import import_cycler_file

    cell = import_cycler_file(args.file, temperature=args.temperature)
    print(
        f"{args.file.name}: {cell.vendor} file, {len(cell.records)} records, "
        f"steps {', '.join(cell.roles)}"
        + (f", started {cell.started.isoformat()}" if cell.started else "")
    )
    if not cell.summary:
        print(f"no complete cycles: {cell.summary_note}")
    for stats in cell.summary:
        efficiency = (
            f"{100 * stats.coulombic_efficiency:.2f} %"
            if math.isfinite(stats.coulombic_efficiency)
            else "-"
        )
        print(
            f"  cycle {stats.cycle:>4}: charge {1000 * stats.charge_capacity:.4f} mAh, "
            f"discharge {1000 * stats.discharge_capacity:.4f} mAh, coulombic {efficiency}"
        )
    if args.bdf:
        cell_id = args.cell or args.file.name.split(".")[0]
        said = json.loads(json.dumps(dict(cell.metadata), default=str))  # plain JSON values
        source = {"file": args.file.name, "vendor": cell.vendor, "file_metadata": said}
        if args.temperature is not None:
            source["temperature_stated"] = args.temperature
        meta = BdfMetadata(started=cell.started, cycler_driver=cell.vendor, source=source)
        files = export_bdf([cell.phase()], args.bdf, cell_id, meta)
        for path in files.values():
            print(f"wrote {path}")
    return 0
