"""`electroloop` command line: `demo` runs the embedded dry run, `run FILE.toml` runs any campaign,
`resume ID` continues one whose run died, `up`/`down` start and stop the Prefect and MLflow
servers, `serve` registers the deployments technicians start from the Prefect UI, `compare`
compares campaigns recorded in MLflow, `sim up` starts a lab's instrument simulators,
`lab check` looks at every instrument of a lab, `bench planners` benchmarks planners on the
simulator and writes the result to BENCHMARKS.md.

Campaign files are validated before Prefect, MLflow or any instrument starts, so a typo costs a
second, not a minute. Prefect and MLflow keep their data under the project-local home folder.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from electroloop import __version__
from electroloop.errors import ConfigError, ElectroloopError
from electroloop.models import Formulation
from electroloop.orchestrator.campaign import (
    CampaignSpec,
    default_campaign,
    load_campaign,
    parse_campaign,
)
from electroloop.settings import Settings


def prepare_environment(settings: Settings) -> Settings:
    """Point Prefect and MLflow at project-local folders before either is imported; when
    `electroloop up` runs servers for this home, at those (unless the environment says
    otherwise). Returns the settings as the flows will see them."""
    from electroloop.workflows.services import client_environment, running

    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(settings.resolved_prefect_home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ["ELECTROLOOP_HOME"] = str(home)
    services = running(home)
    if services is not None:
        for key, value in client_environment(services).items():
            os.environ.setdefault(key, value)
    return Settings(home=settings.home)


def _describe(formulation: Formulation) -> str:
    mix = ", ".join(f"{name} {value:.3f}" for name, value in formulation.fractions.items())
    return f"{mix} (mass fractions); {formulation.salt} {formulation.molality:.3f} mol/kg"


def run_campaign(spec: CampaignSpec, settings: Settings, resume: str | None = None) -> int:
    """Run (or resume) a campaign through Prefect and print where its results are."""
    settings = prepare_environment(settings)
    from electroloop.workflows.flows import (  # imports Prefect: after env
        conductivity_campaign,
        resume_campaign,
    )

    summary = resume_campaign(resume) if resume else conductivity_campaign(spec)
    print()
    print(
        f"campaign {summary.campaign_id}: {summary.trials} trials, {summary.failures} failed, "
        f"{summary.wall_time:.1f} s"
    )
    if summary.best is not None:
        from electroloop.orchestrator.metrics import METRICS

        primary = spec.goal.primary.name
        value, unit = summary.best.values[primary], METRICS[primary]
        print(
            f"best found:      {primary} {value:.4g} {unit}  {_describe(summary.best.formulation)}"
        )
        if summary.best.as_dosed is not None:
            print(f"  as dosed:      {_describe(summary.best.as_dosed)}")
    if summary.true_optimum is not None and summary.true_optimum_value is not None:
        print(
            f"true optimum:    {summary.true_optimum_value:.3f} mS/cm  "
            f"{_describe(summary.true_optimum)}  (simulator)"
        )
        if summary.best_true_value is not None:
            gap = 1.0 - summary.best_true_value / summary.true_optimum_value
            print(
                f"gap to optimum:  {100 * gap:.2f} % (noise-free σ of the best sample as dosed: "
                f"{summary.best_true_value:.3f} mS/cm)"
            )
    if summary.finished is None:
        print(f"not finished: continue with `electroloop resume {summary.campaign_id}`")
    print(f"convergence plot: {summary.plot}")
    print(f"event log:        {summary.store}")
    print(
        f"MLflow:           {settings.resolved_tracking_uri} "
        f"(experiment {spec.study}, run {summary.mlflow_run_id})"
    )
    return 0


def stored_campaign(settings: Settings, campaign_id: str) -> CampaignSpec:
    """The spec a campaign in the project's event log started with."""
    from electroloop.orchestrator.store import CampaignStore

    with CampaignStore(settings.store_path) as store:
        return CampaignSpec.model_validate(store.started_spec(campaign_id))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("budget", "batch_size", "planner", "seed", "name")
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if getattr(args, "lab", None):
        lab = args.lab
        overrides["lab"] = lab if lab == "simulated" else str(Path(lab).resolve())
    return overrides


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=int, help="number of trials")
    parser.add_argument("--batch-size", type=int, help="candidates per iteration (1-16)")
    parser.add_argument("--planner", help="ax | sobol | random | package.module:ClassName")
    parser.add_argument("--seed", type=int, help="planner seed")
    parser.add_argument("--name", help="campaign name")
    parser.add_argument("--lab", help="'simulated' or a lab file, e.g. lab.toml (see lab check)")


def _add_lab_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lab", type=Path, help="lab file (default: the embedded lab.sim.toml, all simulated)"
    )
    parser.add_argument(
        "--campaign",
        type=Path,
        help="campaign whose stock bottles need pumps (default: the embedded demo campaign)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="electroloop", description="Self-driving-lab orchestrator for electrolyte discovery."
    )
    parser.add_argument("--version", action="version", version=f"electroloop {__version__}")
    parser.add_argument("--home", type=Path, help="folder for run data (default: ./runs)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="dry-run the embedded campaign (24 trials, Ax, simulated instruments)",
        description="Run the embedded conductivity campaign (LiPF6 in EC/EMC/DMC at 25 °C) "
        "against protocol-true simulators, then compare the best formulation "
        "found with the simulator's true optimum.",
    )
    _add_overrides(demo)
    run = commands.add_parser(
        "run", help="run a campaign file", description="Validate and run a campaign TOML file."
    )
    run.add_argument("file", type=Path, help="campaign file, e.g. examples/campaigns/*.toml")
    _add_overrides(run)
    resume = commands.add_parser(
        "resume",
        help="continue a campaign whose run died, from its event log",
        description="Continue a campaign whose flow died (worker killed, machine rebooted): "
        "its planner is restored from the log, a vial dosed but not measured is measured, "
        "nothing measured is run again. Waits for the dead run's leases to expire.",
    )
    resume.add_argument("campaign_id", help="the id printed when the campaign started")
    up = commands.add_parser(
        "up",
        help="start the Prefect and MLflow servers (project-local data)",
        description="Start a Prefect server and an MLflow tracking server on 127.0.0.1, "
        "keeping their data under the home folder (SQLite by default; PostgreSQL through "
        "ELECTROLOOP_PREFECT_DATABASE_URL / ELECTROLOOP_MLFLOW_BACKEND_URI), and print their "
        "URLs. Later commands in this home use them. Stop them with `electroloop down`.",
    )
    up.add_argument("--prefect-port", type=int, default=4200, help="0: any free port (4200)")
    up.add_argument("--mlflow-port", type=int, default=5000, help="0: any free port (5000)")
    commands.add_parser(
        "down",
        help="stop the servers `electroloop up` started, and the simulated cycler",
        description="Stop the Prefect and MLflow servers of this home, and the simulated "
        "cycler cycling campaigns started (it ends the cells on it); their data stays.",
    )
    serve = commands.add_parser(
        "serve",
        help="register the deployments technicians start from the Prefect UI, and run them",
        description="Register the deployments start-campaign/lab, screen-molecules/lab and "
        "resume-campaign/lab with the running Prefect server (see `electroloop up`), each "
        "with a typed form, and run their flows on this machine until Ctrl-C.",
    )
    serve.add_argument("--limit", type=int, default=4, help="flow runs at once (default 4)")
    surrogate = commands.add_parser(
        "surrogate",
        help="train, evaluate and use surrogate models (registered in MLflow)",
        description="GNN deep ensembles: mixture (conductivity, CALiSol-23), molecule (xTB "
        "IP/EA, active learning) and crystal (oracle energy per atom).",
    )
    surrogate_commands = surrogate.add_subparsers(
        dest="surrogate_command", required=True, metavar="COMMAND"
    )
    train = surrogate_commands.add_parser(
        "train",
        help="train a surrogate and register it as the next version of NAME",
        description="Train a deep ensemble, score it on data it never saw (held-out sources, "
        "molecules or compositions), train on everything and register it in MLflow.",
    )
    train.add_argument("kind", choices=["mixture", "molecule", "crystal"])
    train.add_argument(
        "--name", help="registered name (default: conductivity, xtb-<property>, crystal-energy)"
    )
    train.add_argument("--data", type=Path, help="mixture: CALiSol-23 calisol23.csv")
    train.add_argument("--salt", default="LiPF6", help="mixture: salt(s), comma-separated, or all")
    train.add_argument("--members", type=int, default=5, help="ensemble members (5)")
    train.add_argument("--epochs", type=int, help="epochs per member (kind's default)")
    train.add_argument("--molecules", type=Path, help="molecule: .smi pool (default: built in)")
    train.add_argument("--property", dest="prop", default="ip", help="molecule: ip | ea")
    for verb, text in (
        ("evaluate", "print a surrogate's card and score it on data"),
        ("predict", "predict inputs with a registered surrogate"),
    ):
        sub = surrogate_commands.add_parser(verb, help=text, description=text + ".")
        sub.add_argument("name", help="registered name")
        sub.add_argument("--version", default="latest", help="a version number or latest")
        if verb == "evaluate":
            sub.add_argument("--data", type=Path, help="mixture: CALiSol-23 CSV to score on")
            sub.add_argument("--salt", default="LiPF6", help="salt(s), comma-separated, or all")
        else:
            sub.add_argument(
                "inputs",
                nargs="+",
                help="SMILES; SMILES=w,SMILES=w (mixture); or CIF files (crystal)",
            )
            sub.add_argument("--salt", default="[Li+].F[P-](F)(F)(F)(F)F", help="salt SMILES")
            sub.add_argument("--molality", type=float, default=1.0, help="mol/kg (1.0)")
            sub.add_argument("--temperature", type=float, default=25.0, help="°C (25)")
    screen = commands.add_parser(
        "screen",
        help="rank a SMILES library with a molecule surrogate",
        description="Score every molecule of a .smi file (SMILES and optional name per line) "
        "with a registered molecule surrogate, chunked and in parallel, and rank by the upper "
        "(or lower, --minimize) confidence bound.",
    )
    screen.add_argument("library", type=Path, help="LIBRARY.smi")
    screen.add_argument("--model", required=True, help="registered molecule surrogate")
    screen.add_argument("--version", default="latest", help="a version number or latest")
    screen.add_argument("--top", type=int, default=20, help="rows to print (20)")
    screen.add_argument("--out", type=Path, help="CSV of every row (default under home)")
    screen.add_argument("--minimize", action="store_true", help="lower is better")
    screen.add_argument("--kappa", type=float, default=1.0, help="score = mean ± kappa·std")
    screen.add_argument("--workers", type=int, default=2, help="featurising processes (2)")
    compare = commands.add_parser(
        "compare",
        help="compare campaigns recorded in MLflow (figure + table)",
        description="Read campaigns from an MLflow tracking URI and write a comparison figure "
        "(best-so-far curves overlaid, repeats of one design shaded over seeds) and a table "
        "(best value, experiments to 95 %%, wall time, failures) to the terminal and to files. "
        "Without CAMPAIGN or --study: every campaign of the most recent campaign's study.",
    )
    compare.add_argument("campaigns", nargs="*", metavar="CAMPAIGN", help="campaign ids")
    compare.add_argument("--study", help="compare every campaign of this study (MLflow experiment)")
    compare.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI, e.g. http://127.0.0.1:5000 or sqlite:///runs/mlflow.db "
        "(default: the project's, ELECTROLOOP_TRACKING_URI)",
    )
    compare.add_argument(
        "--out", type=Path, help="folder for the outputs (default: <home>/comparisons/<time>)"
    )
    compare.add_argument(
        "--fraction",
        type=float,
        default=0.95,
        help="'experiments to' this fraction of the reference (default 0.95)",
    )
    sim = commands.add_parser(
        "sim", help="instrument simulators", description="Protocol-true instrument simulators."
    )
    sim_commands = sim.add_subparsers(dest="sim_command", required=True, metavar="COMMAND")
    up = sim_commands.add_parser(
        "up",
        help="start the simulators of a lab file and print their VISA addresses",
        description="Start every instrument the lab file marks 'sim' as a server on 127.0.0.1, "
        "print each VISA address, and keep them running until Ctrl-C (or --for SECONDS). "
        "With --write, also write a lab file that points at them, for `lab check --lab` or "
        "a campaign's `lab`.",
    )
    _add_lab_options(up)
    up.add_argument("--write", type=Path, help="write a lab file with these addresses here")
    up.add_argument("--for", dest="seconds", type=float, help="stop after this many seconds")
    lab = commands.add_parser("lab", help="the lab's instruments", description="Lab tools.")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True, metavar="COMMAND")
    lab_check = lab_commands.add_parser(
        "check",
        help="connect to every instrument of a lab file, print identity and state",
        description="Connect to every instrument of the lab file (starting simulators for those "
        "marked 'sim'), ask each who it is and what state it is in, and exit 1 if any did "
        "not answer.",
    )
    _add_lab_options(lab_check)
    bench = commands.add_parser(
        "bench", help="benchmarks", description="Benchmarks that write to BENCHMARKS.md."
    )
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    planners = benchmarks.add_parser(
        "planners",
        help="experiments Ax, Sobol and random need to reach 95 %% / 98 %% of the optimum",
        description="Run each planner for several seeds on the simulator's conductivity "
        "problem (the demo campaign, noise-free), write a regret plot and replace the "
        "planners section of BENCHMARKS.md.",
    )
    planners.add_argument("--seeds", type=int, default=10, help="runs per planner (default 10)")
    planners.add_argument(
        "--budget",
        help="trials per run: N for all, or e.g. 'ax=40,random=3000' "
        "(default ax=40, sobol=3000, random=3000, others 100)",
    )
    planners.add_argument(
        "--planners",
        default="ax,sobol,random",
        help="comma-separated: ax | sobol | random | package.module:ClassName "
        "(default ax,sobol,random)",
    )
    planners.add_argument("--batch-size", type=int, default=4, help="candidates per ask (4)")
    planners.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for model-based planners (default 1: 2 threads on 2 shared cores "
        "made Ax's asks over 10x slower; 0 leaves torch's default)",
    )
    planners.add_argument(
        "--out", type=Path, default=Path("BENCHMARKS.md"), help="Markdown file to update"
    )
    planners.add_argument(
        "--plot",
        type=Path,
        default=Path("docs/planner_regret.png"),
        help="regret-curve PNG (default docs/planner_regret.png)",
    )
    return parser


def bench_planners(args: argparse.Namespace, command: str) -> int:
    """`electroloop bench planners`: run, print progress, write the PNG and the Markdown."""
    from electroloop.orchestrator.planner_bench import (  # numpy/scipy work: only when asked
        FRACTIONS,
        benchmark_planners,
        conductivity_problem,
        parse_budgets,
        render_section,
        torch_threads,
        write_section,
    )
    from electroloop.planners.benchmark import Progress, regret_plot

    if args.seeds < 1 or args.batch_size < 1 or args.threads < 0:
        raise ConfigError(
            f"--seeds {args.seeds} --batch-size {args.batch_size} --threads {args.threads}; "
            "allowed: seeds and batch size >= 1, threads >= 0"
        )
    planners = [p.strip() for p in args.planners.split(",") if p.strip()]
    if not planners or len(set(planners)) != len(planners):
        raise ConfigError(f"--planners {args.planners!r}; allowed: distinct planner names")
    budgets = parse_budgets(args.budget, planners)
    started = time.perf_counter()
    problem = conductivity_problem()
    print(
        f"problem: {problem.description}; optimum {problem.optimum:.3f} {problem.unit}",
        flush=True,
    )

    def report(step: Progress) -> None:
        if step.trials == step.budget:
            print(
                f"  {step.planner:>8} seed {step.seed:>3} ({step.run + 1}/{step.runs}): "
                f"best {100 * step.best / problem.optimum:6.2f} % of the optimum after "
                f"{step.trials} trials, {step.elapsed:.1f} s",
                flush=True,
            )

    threads = args.threads or None
    with torch_threads(threads, planners):
        results = benchmark_planners(
            problem, planners, budgets, args.seeds, batch_size=args.batch_size, progress=report
        )
    plot = regret_plot(results, args.plot, problem.optimum)
    total = time.perf_counter() - started
    out = args.out
    link = os.path.relpath(plot.resolve(), out.resolve().parent)
    write_section(
        out,
        render_section(
            problem, results, command=command, plot=link, total_seconds=total, threads=threads
        ),
    )
    print()
    for name, result in results.items():
        cells = ", ".join(
            f"{100 * f:g} %: {result.summary(f).format()} ({result.summary(f).reached}/"
            f"{result.runs})"
            for f in FRACTIONS
        )
        print(f"{name:>8}: experiments to {cells}")
    print(f"regret plot: {plot}")
    print(f"written to:  {out} ({total:.0f} s)")
    return 0


def compare_campaigns(args: argparse.Namespace, settings: Settings) -> int:
    """`electroloop compare`: print the table and where the figure and files are."""
    settings = prepare_environment(settings)
    from electroloop.workflows.compare import compare  # imports MLflow: only when asked

    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = args.out or settings.resolved_home / "comparisons" / stamp
    result = compare(
        args.tracking_uri or settings.resolved_tracking_uri,
        args.campaigns,
        args.study,
        out,
        args.fraction,
    )
    print(result.table)
    print()
    print(f"figure: {result.figure}")
    print(f"table:  {result.table_file}  (CSV: {result.csv_file})")
    return 0


def lab_command(args: argparse.Namespace) -> int:
    """`electroloop sim up` and `electroloop lab check`."""
    import signal
    import threading

    from electroloop.settings import load_lab
    from electroloop.workflows.lab_tools import (
        check,
        describe,
        endpoints,
        local_lab_toml,
        simulators,
    )

    lab = load_lab(args.lab)
    spec = load_campaign(args.campaign) if args.campaign else default_campaign()
    with simulators(lab, spec) as sim:
        points = endpoints(lab, spec, sim)
        if args.command == "lab":
            results = check(lab, points)
            print(describe(results))
            return 1 if any(r.error for r in results) else 0
        width = max(len(p.name) for p in points)
        print(f"lab {lab.name!r}: instrument time runs {lab.speedup:g}x faster than the wall clock")
        for point in points:
            where = point.address if point.simulated else f"{point.address} (real, not started)"
            print(f"  {point.name:<{width}}  {where}")
        if args.write:
            args.write.write_text(local_lab_toml(lab, spec, sim), encoding="utf-8")
            print(f"lab file for these addresses: {args.write}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print("running; Ctrl-C stops the simulators", flush=True)
        try:
            stop.wait(args.seconds)
        except KeyboardInterrupt:
            pass
    print("simulators stopped")
    return 0


def services_command(args: argparse.Namespace, settings: Settings) -> int:
    """`electroloop up`, `down` and `serve`."""
    from electroloop.workflows.services import ServiceConfig, down, format_services, up

    if args.command == "down":
        from electroloop.workflows.cycler_service import cycler_process, stop_cycler

        for line in down(settings.resolved_home):
            print(line)
        cycler = cycler_process(settings.resolved_home)
        if cycler is not None and stop_cycler(settings.resolved_home):
            print(f"stopped the simulated cycler (pid {cycler.pid}, {cycler.resource})")
        return 0
    if args.command == "up":
        config = ServiceConfig.from_settings(
            settings,
            prefect_port=args.prefect_port,
            mlflow_port=args.mlflow_port,
            prefect_database_url=settings.prefect_database_url,
            mlflow_backend_uri=settings.mlflow_backend_uri,
        )
        print("starting Prefect and MLflow (about 30 s on two cores)...", flush=True)
        print(format_services(up(config)))
        return 0
    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit}; allowed: >= 1")
    prepare_environment(settings)
    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigError(
            "serve needs a Prefect server: start one with `electroloop up` (or set PREFECT_API_URL)"
        )
    from electroloop.workflows.deployments import serve_deployments

    print(f"Prefect UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}/v2/deployments")
    serve_deployments(limit=args.limit)
    return 0


def surrogate_command(args: argparse.Namespace, settings: Settings) -> int:
    """`electroloop surrogate train|evaluate|predict` and `electroloop screen`."""
    settings = prepare_environment(settings)
    from electroloop.workflows import surrogate_commands as commands  # torch: only when asked

    if args.command == "screen":
        commands.screen_library(
            args.library,
            args.model,
            args.version,
            settings,
            out=args.out,
            top=args.top,
            minimize=args.minimize,
            kappa=args.kappa,
            workers=args.workers,
        )
        return 0
    salts = None if getattr(args, "salt", "all") == "all" else args.salt.split(",")
    if args.surrogate_command == "train":
        default = {"mixture": "conductivity", "molecule": f"xtb-{args.prop}"}
        commands.train(
            args.kind,
            args.name or default.get(args.kind, "crystal-energy"),
            settings,
            data=args.data,
            salts=salts,
            members=args.members,
            epochs=args.epochs,
            molecules=args.molecules,
            prop=args.prop,
        )
    elif args.surrogate_command == "evaluate":
        commands.evaluate(args.name, args.version, settings, args.data, salts)
    else:
        commands.predict(
            args.name,
            args.version,
            args.inputs,
            settings,
            salt=args.salt,
            molality=args.molality,
            temperature=args.temperature,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "bench":
            words = sys.argv[1:] if argv is None else argv
            return bench_planners(args, shlex.join(["electroloop", *words]))
        settings = Settings(**({"home": args.home} if args.home else {}))
        if args.command == "compare":
            return compare_campaigns(args, settings)
        if args.command in ("up", "down", "serve"):
            return services_command(args, settings)
        if args.command in ("surrogate", "screen"):
            return surrogate_command(args, settings)
        if args.command == "resume":
            return run_campaign(
                stored_campaign(settings, args.campaign_id), settings, args.campaign_id
            )
        if args.command in ("sim", "lab"):
            return lab_command(args)
        spec = default_campaign() if args.command == "demo" else load_campaign(args.file)
        overrides = _overrides(args)
        if overrides:
            spec = parse_campaign(spec.model_dump(mode="json") | overrides, "command-line options")
        return run_campaign(spec, settings)
    except ElectroloopError as exc:
        print(f"electroloop: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
