"""Chaos: SIGKILL what a campaign depends on at random moments of real campaigns, restart what was
killed, resume, and audit what is left: no measurement or cell record lost, none duplicated, no
sample dosed twice, no cell set up or phase started twice, no channel double-booked, no lease
left held, MLflow agreeing with the event log, the campaign finished.

Targets: the orchestrator (`electroloop run`, then `electroloop resume ID`, as the technician's
command line runs them), the simulated cycler (its own process; restarted at its address, as a
rebooted instrument comes back), the Prefect and MLflow servers of `electroloop up`
(restarted with `up`, on the same ports), and the worker (`electroloop serve` and the flow run
it runs, started from the `start-campaign/lab` deployment and resumed through
`resume-campaign/lab`). Each campaign runs in its own home on the simulated lab; both kinds,
electrolyte (conductivity) and cycling, run.

`make chaos` runs `python -m tests.chaos` (a table and the last line
`N kills, L lost, D duplicated`); `tests/integration/test_chaos.py` runs short versions in
`make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from electroloop.kinds.cycling.records import CellRecordStore
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import load_campaign
from electroloop.orchestrator.events import (
    CampaignState,
    CandidateAbandoned,
    CandidateFailed,
    CellAssembled,
    DosingRecorded,
    InterimObservation,
    MeasurementRecorded,
    ObservationAdded,
    PhaseStarted,
)
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings, default_lab_text
from electroloop.workflows.cycler_service import cycler_process, ensure_cycler, stop_cycler
from electroloop.workflows.mlflow_server import free_port
from electroloop.workflows.processes import orphaned_prefect_servers
from electroloop.workflows.services import ServiceConfig, down, up

NAME = "chaos"
KINDS = ("electrolyte", "cycling")
TARGETS = ("orchestrator", "cycler", "prefect", "mlflow", "worker")
"""What is killed: `orchestrator` for every kind, then the rest (`cycler` for cycling only)."""
CYCLING_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "campaigns" / "cycling.toml"
CYCLER_SPEEDUP = 20000.0
"""The simulated cycler's clock in chaos runs: a cell's 12 cycles take a few wall seconds."""
PROGRESS_SPAN = {"electrolyte": 12, "cycling": 14}
"""At most this many new events between one kill and the next (a random number of them)."""
DEADLINE = 600.0  # wall s any one command may take before the run counts as hung

Fact = tuple[Hashable, ...]


@dataclass
class Audit:
    """What one campaign's kills cost, by the event log, the cell records, the lease book and
    MLflow."""

    kind: str
    target: str
    campaign_id: str
    kills: int
    lost: int = 0
    """Facts (measurements, observations, cells, phases, interims, records) the log held at
    some kill and not at the end, and gaps in a cell's record indices."""
    duplicated: int = 0
    """Measurements, observations, interim observations or cell records stored twice."""
    run_twice: int = 0
    """Samples dosed, cells set up or phases started twice, and channels double-booked."""
    leases_held: int = 0
    mlflow_mismatch: int = 0
    """Candidates whose MLflow trial run is missing, doubled, or still RUNNING."""
    finished: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            not (self.lost or self.duplicated or self.run_twice or self.leases_held)
            and not self.mlflow_mismatch
            and self.finished is not None
        )


# --- what a campaign has stored ---------------------------------------------------------------


def _events(store: Path, campaign_id: str) -> list[Any]:
    with CampaignStore(store) as log:
        return log.events(campaign_id) if campaign_id in log.campaign_ids() else []


def facts(store: Path, campaign_id: str) -> Counter[Fact]:
    """Every fact the campaign stored that must never be lost, with how often it is stored."""
    found: Counter[Fact] = Counter()
    cells: dict[str, str] = {}
    for e in _events(store, campaign_id):
        if isinstance(e, DosingRecorded):
            found["dosing", e.record.candidate_id] += 1
        elif isinstance(e, MeasurementRecorded):
            found["measurement", e.measurement.candidate_id] += 1
        elif isinstance(e, ObservationAdded):
            found["observation", e.observation.candidate_id] += 1
        elif isinstance(e, CellAssembled):
            found["cell", e.candidate_id] += 1
            cells[e.candidate_id] = e.cell_id
        elif isinstance(e, PhaseStarted):
            found["phase", e.candidate_id, e.phase] += 1
        elif isinstance(e, InterimObservation):
            found["interim", e.candidate_id, e.cycle] += 1
    if cells:
        with CellRecordStore(store) as records:
            for cell_id in cells.values():
                for _, record in records.records(campaign_id, cell_id):
                    found["record", cell_id, record.index] += 1
    return found


def progress(store: Path, campaign_id: str | None) -> int:
    """Events in the campaign's log: where a kill lands."""
    return len(_events(store, campaign_id)) if campaign_id is not None else 0


def _campaign_id(store: Path) -> str | None:
    if not store.exists():
        return None
    with CampaignStore(store) as log:
        ids = [c for c in log.campaign_ids() if c.startswith(NAME)]
    return ids[0] if ids else None


# --- campaigns ---------------------------------------------------------------------------------


def write_campaign(home: Path, kind: str, budget: int) -> Path:
    """The campaign file next to the home: the default conductivity campaign, or the cycling
    example shrunk to 12 cycles on a faster simulated cycler; Sobol, so proposals are cheap."""
    path = home.parent / f"{home.name}.toml"
    if kind == "electrolyte":
        design = default_campaign().model_dump(mode="json", exclude_none=True)
        design |= {"name": NAME, "planner": "sobol", "budget": budget}
    else:
        lab = home.parent / f"{home.name}-lab.toml"
        text = default_lab_text().replace(
            "cycler_speedup = 10000.0", f"cycler_speedup = {CYCLER_SPEEDUP}"
        )
        assert f"cycler_speedup = {CYCLER_SPEEDUP}" in text
        lab.write_text(text, encoding="utf-8")
        design = load_campaign(CYCLING_EXAMPLE).model_dump(mode="json", exclude_none=True)
        design |= {
            "name": NAME,
            "planner": "sobol",
            "budget": budget,
            "batch_size": 2,
            "lab": str(lab),
        }
        design["cycling"] |= {
            "formation_cycles": 1,
            "formation_c_rate": 0.5,
            "rate_c_rates": [0.5, 2.0],
            "cycles": 12,
            "checkpoints": [4, 8],
            "record_interval": 300.0,
        }
    path.write_text(tomli_w.dumps(design), encoding="utf-8")
    return path


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ELECTROLOOP_"))}


def _command(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "electroloop.cli", "--home", str(home), *args]


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            env=_environment(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _cells_running(store: Path) -> bool:
    """Whether a cell is on the cycler: what a kill of the cycler must hit."""
    campaign_id = _campaign_id(store)
    if campaign_id is None:
        return False
    with CampaignStore(store) as log:
        state = log.state(campaign_id)
    return bool(state.cells.keys() - state.observations.keys() - state.failures.keys())


def _wait_for_progress(
    process: subprocess.Popen[bytes], store: Path, target: int, rng: random.Random, cells: bool
) -> None:
    """Until the campaign's log holds `target` events (and, if `cells`, a cell is on the
    cycler), then a random moment more; or until the process ends."""
    deadline = time.monotonic() + DEADLINE
    while process.poll() is None and time.monotonic() < deadline and not _finished(store):
        if progress(store, _campaign_id(store)) >= target and (not cells or _cells_running(store)):
            time.sleep(rng.uniform(0.0, 0.6))  # somewhere inside the next step
            return
        time.sleep(0.05)


@dataclass
class Chaos:
    """One campaign of one kind in its own home, and the kills of one target."""

    home: Path
    kind: str
    target: str
    rng: random.Random
    snapshots: list[Counter[Fact]] = field(default_factory=list)
    services: ServiceConfig | None = None

    @property
    def store(self) -> Path:
        return Settings(home=self.home).store_path

    @property
    def log(self) -> Path:
        return self.home.parent / f"{self.home.name}.log"

    def snapshot(self) -> None:
        campaign_id = _campaign_id(self.store)
        if campaign_id is not None:
            self.snapshots.append(facts(self.store, campaign_id))

    def resume_command(self, campaign: Path) -> list[str]:
        campaign_id = _campaign_id(self.store)
        if campaign_id is None:  # killed before its first event: start it again
            return _command(self.home, "run", str(campaign))
        return _command(self.home, "resume", campaign_id)

    def kill(self, process: subprocess.Popen[bytes]) -> bool:
        """SIGKILL the target (the orchestrator only, as kill -9 does; a server's whole group),
        and bring back what is not the orchestrator; False if there was nothing to kill."""
        if self.target == "orchestrator":
            if process.poll() is not None:
                return False
            os.kill(process.pid, signal.SIGKILL)
            return True
        if self.target == "cycler":
            cycler = cycler_process(self.home)
            if cycler is None:
                return False
            os.kill(cycler.pid, signal.SIGKILL)
            time.sleep(self.rng.uniform(0.2, 2.0))  # the instrument is down meanwhile
            ensure_cycler(
                self.home,
                channels=cycler.channels,
                speedup=cycler.speedup,
                seed=cycler.seed,
                max_current=cycler.max_current,
            )
            return True
        assert self.services is not None
        services = up(self.services)
        server = services.prefect if self.target == "prefect" else services.mlflow
        os.killpg(server.pid, signal.SIGKILL)  # the server and its workers
        time.sleep(self.rng.uniform(0.5, 3.0))  # the server is down meanwhile
        up(self.services)  # both back on the same ports (`up` restarts both)
        return True

    def run(self, budget: int, kills: int) -> Audit:
        """The campaign from the command line, or (target worker) through `electroloop serve`."""
        if self.target == "worker":
            return self.run_served(budget, kills)
        return self.run_commands(budget, kills)

    def run_commands(self, budget: int, kills: int) -> Audit:
        """Run the campaign, kill the target `kills` times at random moments (each a random
        number of new events in), restart and resume after each; then finish and audit."""
        campaign = write_campaign(self.home, self.kind, budget)
        if self.target in ("prefect", "mlflow"):
            self.services = ServiceConfig(
                self.home, prefect_port=free_port(), mlflow_port=free_port()
            )
            up(self.services)
        done, killed, exits = 0, 0, 0
        process = _start(_command(self.home, "run", str(campaign)), self.log)
        try:
            for _ in range(kills):
                target = done + self.rng.randint(0, PROGRESS_SPAN[self.kind])
                _wait_for_progress(
                    process, self.store, target, self.rng, cells=self.target == "cycler"
                )
                if _finished(self.store):
                    break  # nothing left to kill it in
                killed += self.kill(process)
                if self.target == "orchestrator":
                    process.wait(timeout=60)
                self.snapshot()
                done = progress(self.store, _campaign_id(self.store))
                if process.poll() is not None:  # killed, or died of what was killed
                    if process.returncode != -signal.SIGKILL:
                        exits += 1
                    process = _start(self.resume_command(campaign), self.log)
            try:
                process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
            if not _finished(self.store):  # the last run died of the last kill
                process = _start(self.resume_command(campaign), self.log)
                process.wait(timeout=DEADLINE)
            campaign_id = _campaign_id(self.store)
            assert campaign_id is not None, self.log.read_text()[-2000:]
            audit = audit_campaign(self, campaign_id, killed)
            if exits:  # resumed: the data survive, but a technician had to act
                audit.notes.append(f"the orchestrator exited {exits} times, resumed")
            if process.returncode != 0:
                audit.notes.append(f"last command exited {process.returncode}")
            return audit
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
            self.clean_up()

    def run_served(self, budget: int, kills: int) -> Audit:
        """Start the campaign from the `start-campaign/lab` deployment of a worker
        (`electroloop serve` in a project folder holding the campaign file), SIGKILL the
        worker's whole process group (it and its flow run) at random moments, start a new
        worker and resume through `resume-campaign/lab` each time; then finish and audit."""
        project = self.home.parent / "project"
        folder = project / "examples" / "campaigns"
        folder.mkdir(parents=True, exist_ok=True)
        campaign = write_campaign(self.home, self.kind, budget)
        (folder / "chaos.toml").write_text(campaign.read_text("utf-8"), "utf-8")
        start = {"campaign": {"campaign_file": "examples/campaigns/chaos.toml"}}
        self.services = ServiceConfig(self.home, prefect_port=free_port(), mlflow_port=free_port())
        api = up(self.services).prefect.api_url
        worker = self._serve(project)
        killed, done = 0, 0
        try:
            run_id = _submit(api, "start-campaign", start)
            for _ in range(kills):
                target = done + self.rng.randint(0, PROGRESS_SPAN[self.kind])
                _wait_for_progress(worker, self.store, target, self.rng, cells=False)
                if _finished(self.store):
                    break
                os.killpg(worker.pid, signal.SIGKILL)  # the worker and the flow run it runs
                worker.wait(timeout=60)
                killed += 1
                self.snapshot()
                done = progress(self.store, _campaign_id(self.store))
                worker = self._serve(project)
                campaign_id = _campaign_id(self.store)
                run_id = (
                    _submit(api, "resume-campaign", {"campaign_id": campaign_id})
                    if campaign_id is not None
                    else _submit(api, "start-campaign", start)
                )
            state = _wait_for_run(api, run_id)
            campaign_id = _campaign_id(self.store)
            assert campaign_id is not None, self.log.read_text()[-2000:]
            audit = audit_campaign(self, campaign_id, killed)
            if state != "COMPLETED":
                audit.notes.append(f"last flow run {state}")
            return audit
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=60)
            self.clean_up()

    def _serve(self, project: Path) -> subprocess.Popen[bytes]:
        """A worker running this home's deployments from the project folder; it asks the
        server for runs every second (Prefect's default: every 10 s)."""
        with self.log.open("ab") as out:
            return subprocess.Popen(
                _command(self.home, "serve"),
                cwd=project,
                env=_environment() | {"PREFECT_RUNNER_POLL_FREQUENCY": "1"},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def clean_up(self) -> None:
        """Leave nothing running: the servers, the cycler, a killed run's Prefect server."""
        if self.services is not None:
            down(self.home)
        stop_cycler(self.home)
        for pid in orphaned_prefect_servers(Settings(home=self.home).resolved_prefect_home):
            os.kill(pid, signal.SIGKILL)


def _api(api: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """GET (no body) or POST JSON to the Prefect REST API; a 404 (a deployment a new worker
    has not registered yet) or 503 (SQLite busy) is asked again."""
    request = urllib.request.Request(
        f"{api}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    for attempt in range(60):
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            if exc.code not in (404, 503) or attempt == 59:
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")


def _submit(api: str, flow: str, parameters: dict[str, Any]) -> str:
    """A flow run of the flow's `lab` deployment, as the technician's Submit creates it."""
    deployment = _api(api, f"/deployments/name/{flow}/lab")
    run = _api(api, f"/deployments/{deployment['id']}/create_flow_run", {"parameters": parameters})
    return str(run["id"])


def _wait_for_run(api: str, run_id: str) -> str:
    """The flow run's final state type (COMPLETED, FAILED, CRASHED, ...)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        state = _api(api, f"/flow_runs/{run_id}").get("state") or {}
        if state.get("type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return str(state["type"])
        time.sleep(1.0)
    return "HUNG"


def _finished(store: Path) -> bool:
    campaign_id = _campaign_id(store)
    if campaign_id is None:
        return False
    with CampaignStore(store) as log:
        return log.state(campaign_id).finished is not None


def run_with_kills(
    home: Path,
    budget: int,
    kills: int,
    rng: random.Random,
    kind: str = "electrolyte",
    target: str = "orchestrator",
) -> Audit:
    """One campaign of `kind` with `budget` trials, its `target` killed `kills` times."""
    home.parent.mkdir(parents=True, exist_ok=True)
    return Chaos(home, kind, target, rng).run(budget, kills)


# --- the audit ---------------------------------------------------------------------------------

_STORED_ONCE = ("measurement", "observation", "interim", "record")
_DONE_ONCE = ("dosing", "cell", "phase")


def audit_campaign(chaos: Chaos, campaign_id: str, kills: int) -> Audit:
    """Check the invariants for one campaign after its last resume."""
    settings = Settings(home=chaos.home)
    audit = Audit(chaos.kind, chaos.target, campaign_id, kills)
    final = facts(settings.store_path, campaign_id)
    audit.lost = len({f for snap in chaos.snapshots for f in snap if f not in final})
    audit.lost += _record_gaps(settings.store_path, campaign_id)
    audit.duplicated = sum(1 for f, n in final.items() if f[0] in _STORED_ONCE and n > 1)
    audit.run_twice = sum(1 for f, n in final.items() if f[0] in _DONE_ONCE and n > 1)
    audit.run_twice += _double_booked(settings.store_path, campaign_id)
    with CampaignStore(settings.store_path) as log:
        state = log.state(campaign_id)
    audit.finished = state.finished
    with LeaseBook(settings.store_path) as book:
        audit.leases_held = sum(1 for lease in book.all() if lease.holder.startswith(campaign_id))
    _audit_mlflow(audit, settings, state)
    if state.failures:
        audit.notes.append(f"{len(state.failures)} failed")
    return audit


def _record_gaps(store: Path, campaign_id: str) -> int:
    """Cell records missing between a cell's first and its last stored index."""
    gaps = 0
    with CampaignStore(store) as log:
        cells = log.state(campaign_id).cells
    with CellRecordStore(store) as records:
        for cell in cells.values():
            if not cell.phases:
                continue
            indices = [r.index for _, r in records.records(campaign_id, cell.assembled.cell_id)]
            if indices:
                gaps += indices[-1] + 1 - cell.phases[0].first_index - len(set(indices))
    return gaps


def _double_booked(store: Path, campaign_id: str) -> int:
    """Cells put on a channel while another cell's test there had not ended."""
    holding: dict[int, str] = {}
    clashes = 0
    for e in _events(store, campaign_id):
        if isinstance(e, CellAssembled):
            clashes += e.channel in holding
            holding[e.channel] = e.candidate_id
        elif isinstance(e, ObservationAdded | CandidateFailed | CandidateAbandoned):
            ended = (
                e.observation.candidate_id if isinstance(e, ObservationAdded) else e.candidate_id
            )
            holding = {c: h for c, h in holding.items() if h != ended}
    return clashes


def _audit_mlflow(audit: Audit, settings: Settings, state: CampaignState) -> None:
    """One finished trial run per ended candidate, none for others, the campaign run ended."""
    from mlflow.tracking import MlflowClient

    from electroloop.workflows.tracking import trial_runs

    client = MlflowClient(settings.resolved_tracking_uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`electroloop.campaign_id` = '{audit.campaign_id}' "
        "and tags.`electroloop.kind` = 'campaign'",
    )
    if len(runs) != 1:
        audit.mlflow_mismatch += 1
        audit.notes.append(f"{len(runs)} MLflow campaign runs")
        return
    trials = Counter(
        r.data.tags.get("electroloop.candidate_id")
        for r in trial_runs(client, runs[0].info.experiment_id, runs[0].info.run_id)
        if r.info.status != "RUNNING"
    )
    ended = state.observations.keys() | state.failures.keys()
    audit.mlflow_mismatch += sum(1 for c in ended if trials[c] != 1)
    audit.mlflow_mismatch += sum(1 for c in trials if c not in ended)
    if runs[0].info.status != "FINISHED":
        audit.mlflow_mismatch += 1
        audit.notes.append(f"campaign run {runs[0].info.status}")


# --- the suite ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How many campaigns of a kind kill a target, how often each, with what budget."""

    kind: str
    target: str
    campaigns: int
    kills: int
    budget: int


BUDGETS = {"electrolyte": (24, 96), "cycling": (8, 12)}
"""Trials per campaign when the orchestrator is killed, and when another target is (the
campaign goes on while a server restarts, so it needs more trials to be killed in)."""


def plans(kinds: tuple[str, ...], campaigns: int, kills: int, server_kills: int) -> list[Plan]:
    """The orchestrator of every kind `campaigns` × `kills` times; then, once per kind,
    `server_kills` times each: the cycler (cycling only), the Prefect server, the MLflow server
    and the worker."""
    found = []
    for kind in kinds:
        short, long = BUDGETS[kind]
        found.append(Plan(kind, "orchestrator", campaigns, kills, short))
        for target in TARGETS[1:]:
            if server_kills and (target != "cycler" or kind == "cycling"):
                found.append(Plan(kind, target, 1, server_kills, long))
    return found


def chaos(chosen: list[Plan], seed: int, root: Path) -> list[Audit]:
    """Every campaign of every plan; their audits."""
    rng = random.Random(seed)
    audits = []
    for plan in chosen:
        for number in range(plan.campaigns):
            home = root / f"{plan.kind}-{plan.target}-{number}" / "home"
            begin = time.monotonic()
            audit = run_with_kills(home, plan.budget, plan.kills, rng, plan.kind, plan.target)
            audit.notes.append(f"{time.monotonic() - begin:.0f} s")
            audits.append(audit)
            print(row(audit), flush=True)
    return audits


HEADER = (
    "| kind | target | campaign | kills | lost | duplicated | run twice | leases held "
    "| MLflow mismatch | finished | notes |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def row(a: Audit) -> str:
    return (
        f"| {a.kind} | {a.target} | {a.campaign_id} | {a.kills} | {a.lost} | {a.duplicated} "
        f"| {a.run_twice} | {a.leases_held} | {a.mlflow_mismatch} | {a.finished} "
        f"| {'; '.join(a.notes)} |"
    )


def report(audits: list[Audit]) -> str:
    """The table and the last line `N kills, L lost, D duplicated`."""
    lines = [HEADER, *(row(a) for a in audits)]
    kills = sum(a.kills for a in audits)
    lost = sum(a.lost for a in audits)
    duplicated = sum(a.duplicated + a.run_twice for a in audits)
    lines.append(f"\n{kills} kills, {lost} lost, {duplicated} duplicated")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=(*KINDS, "all"), default="all")
    parser.add_argument("--campaigns", type=int, default=4, help="per kind, orchestrator kills")
    parser.add_argument("--kills", type=int, default=5, help="orchestrator kills per campaign")
    parser.add_argument(
        "--server-kills", type=int, default=5, help="kills of the cycler and of each server"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    kinds = KINDS if args.kind == "all" else (args.kind,)
    begin = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        audits = chaos(
            plans(kinds, args.campaigns, args.kills, args.server_kills), args.seed, Path(tmp)
        )
    print(report(audits))
    print(f"({time.monotonic() - begin:.0f} s)", file=sys.stderr)
    sys.exit(0 if all(a.clean for a in audits) else 1)


if __name__ == "__main__":
    main()
