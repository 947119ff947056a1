"""`electroloop surrogate train|evaluate|predict`: GNN deep ensembles registered in MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path

from electroloop.cli.common import Commands, prepare_environment, settings


def add_parser(commands: Commands) -> None:
    surrogate = commands.add_parser(
        "surrogate",
        help="train, evaluate and use surrogate models (registered in MLflow)",
        description="GNN deep ensembles: mixture (conductivity, CALiSol-23), molecule (xTB "
        "IP/EA, active learning) and crystal (oracle energy per atom).",
    )
    verbs = surrogate.add_subparsers(dest="surrogate_command", required=True, metavar="COMMAND")
    train_parser = verbs.add_parser(
        "train",
        help="train a surrogate and register it as the next version of NAME",
        description="Train a deep ensemble, score it on data it never saw (held-out sources, "
        "molecules or compositions), train on everything and register it in MLflow.",
    )
    train_parser.add_argument("kind", choices=["mixture", "molecule", "crystal"])
    train_parser.add_argument(
        "--name", help="registered name (default: conductivity, xtb-<property>, crystal-energy)"
    )
    train_parser.add_argument("--data", type=Path, help="mixture: CALiSol-23 calisol23.csv")
    train_parser.add_argument(
        "--salt", default="LiPF6", help="mixture: salt(s), comma-separated, or all"
    )
    train_parser.add_argument("--members", type=int, default=5, help="ensemble members (5)")
    train_parser.add_argument("--epochs", type=int, help="epochs per member (kind's default)")
    train_parser.add_argument(
        "--molecules", type=Path, help="molecule: .smi pool (default: built in)"
    )
    train_parser.add_argument("--property", dest="prop", default="ip", help="molecule: ip | ea")
    train_parser.set_defaults(func=train)

    text = "print a surrogate's card and score it on data"
    evaluate_parser = verbs.add_parser("evaluate", help=text, description=text + ".")
    _add_registered(evaluate_parser)
    evaluate_parser.add_argument("--data", type=Path, help="mixture: CALiSol-23 CSV to score on")
    evaluate_parser.add_argument("--salt", default="LiPF6", help="salt(s), comma-separated, or all")
    evaluate_parser.set_defaults(func=evaluate)

    text = "predict inputs with a registered surrogate"
    predict_parser = verbs.add_parser("predict", help=text, description=text + ".")
    _add_registered(predict_parser)
    predict_parser.add_argument(
        "inputs", nargs="+", help="SMILES; SMILES=w,SMILES=w (mixture); or CIF files (crystal)"
    )
    predict_parser.add_argument("--salt", default="[Li+].F[P-](F)(F)(F)(F)F", help="salt SMILES")
    predict_parser.add_argument("--molality", type=float, default=1.0, help="mol/kg (1.0)")
    predict_parser.add_argument("--temperature", type=float, default=25.0, help="°C (25)")
    predict_parser.set_defaults(func=predict)


def _add_registered(parser: argparse.ArgumentParser) -> None:
    """Which registered surrogate: `evaluate` and `predict` name one the same way."""
    parser.add_argument("name", help="registered name")
    parser.add_argument("--version", default="latest", help="a version number or latest")


def _salts(args: argparse.Namespace) -> list[str] | None:
    return None if args.salt == "all" else args.salt.split(",")


def train(args: argparse.Namespace, command_line: str) -> int:
    """Train, score on unseen data, train on everything and register."""
    config = prepare_environment(settings(args))
    from electroloop.workflows import surrogate_commands  # torch: only when asked

    default = {"mixture": "conductivity", "molecule": f"xtb-{args.prop}"}
    surrogate_commands.train(
        args.kind,
        args.name or default.get(args.kind, "crystal-energy"),
        config,
        data=args.data,
        salts=_salts(args),
        members=args.members,
        epochs=args.epochs,
        molecules=args.molecules,
        prop=args.prop,
    )
    return 0


def evaluate(args: argparse.Namespace, command_line: str) -> int:
    """Print a registered surrogate's card and score it on data."""
    config = prepare_environment(settings(args))
    from electroloop.workflows import surrogate_commands  # torch: only when asked

    surrogate_commands.evaluate(args.name, args.version, config, args.data, _salts(args))
    return 0


def predict(args: argparse.Namespace, command_line: str) -> int:
    """Predict the inputs given with a registered surrogate."""
    config = prepare_environment(settings(args))
    from electroloop.workflows import surrogate_commands  # torch: only when asked

    surrogate_commands.predict(
        args.name,
        args.version,
        args.inputs,
        config,
        salt=args.salt,
        molality=args.molality,
        temperature=args.temperature,
    )
    return 0
