"""Chaos: kill the orchestrator with SIGKILL at random moments of real campaigns, resume each
time, and audit what is left: no measurement lost, none duplicated, no sample dosed twice, no
lease left held, MLflow agreeing with the event log.

`make chaos` runs `python -m tests.chaos` (20 kills or more; a table and the last line
`N kills, 0 lost, 0 duplicated`); `tests/integration/test_chaos.py` runs a short version in
`make test`. Each campaign runs as the technician's command line runs it (`electroloop run`,
then `electroloop resume ID`), in its own home, on the simulated lab.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.orchestrator.events import (
    DosingRecorded,
    MeasurementRecorded,
    ObservationAdded,
)
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings
from electroloop.workflows.processes import orphaned_prefect_servers

NAME = "chaos"


@dataclass
class Audit:
    """What one campaign's kills cost, by the event log, the lease book and MLflow."""

    campaign_id: str
    kills: int
    lost: int = 0
    """Measurements the log held at some kill and not at the end."""
    duplicated: int = 0
    """Candidates measured or observed more than once."""
    dosed_twice: int = 0
    """Candidates whose sample was weighed into a vial more than once."""
    leases_held: int = 0
    mlflow_mismatch: int = 0
    """Candidates whose MLflow trial run is missing, doubled, or still RUNNING."""
    finished: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            not (self.lost or self.duplicated or self.dosed_twice or self.leases_held)
            and not self.mlflow_mismatch
            and self.finished is not None
        )


def measured(store: Path, campaign_id: str) -> Counter[str]:
    with CampaignStore(store) as log:
        events = log.events(campaign_id) if campaign_id in log.campaign_ids() else []
    return Counter(e.measurement.candidate_id for e in events if isinstance(e, MeasurementRecorded))


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ELECTROLOOP_"))}


def _command(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "electroloop.cli", "--home", str(home), *args]


def _campaign_id(store: Path) -> str | None:
    if not store.exists():
        return None
    with CampaignStore(store) as log:
        ids = [c for c in log.campaign_ids() if c.startswith(NAME)]
    return ids[0] if ids else None


def run_with_kills(home: Path, budget: int, kills: int, rng: random.Random) -> Audit:
    """One campaign of `budget` trials, killed `kills` times at random moments (each a random
    number of new measurements in, or while it is still starting), resumed after each."""
    campaign = home.parent / f"{home.name}.toml"
    design = default_campaign().model_dump(mode="json", exclude_none=True)
    campaign.write_text(
        tomli_w.dumps(design | {"name": NAME, "planner": "sobol", "budget": budget}), "utf-8"
    )
    store = Settings(home=home).store_path
    snapshots: list[Counter[str]] = []
    command = _command(home, "run", str(campaign))
    done = 0
    for _ in range(kills):
        process = subprocess.Popen(
            command,
            env=_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        target = done + rng.randint(0, 3)  # 0: killed before its first new measurement
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            campaign_id = _campaign_id(store)
            if campaign_id is not None and sum(measured(store, campaign_id).values()) >= target:
                time.sleep(rng.uniform(0.0, 0.6))  # somewhere inside the next step
                break
            time.sleep(0.05)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)  # the orchestrator only, as kill -9 does
        process.wait(timeout=60)
        campaign_id = _campaign_id(store)
        if campaign_id is not None:
            snapshot = measured(store, campaign_id)
            snapshots.append(snapshot)
            done = sum(snapshot.values())
            command = _command(home, "resume", campaign_id)
    finish = subprocess.run(
        command, env=_environment(), capture_output=True, text=True, timeout=900, check=False
    )
    campaign_id = _campaign_id(store)
    assert campaign_id is not None, finish.stderr[-2000:]
    audit = audit_campaign(home, campaign_id, snapshots, kills)
    if finish.returncode != 0:
        audit.notes.append(finish.stderr.strip().splitlines()[-1] if finish.stderr else "failed")
    return audit


def audit_campaign(
    home: Path, campaign_id: str, snapshots: list[Counter[str]], kills: int
) -> Audit:
    """Check the invariants for one campaign after its last resume."""
    from mlflow.tracking import MlflowClient

    from electroloop.workflows.tracking import trial_runs

    settings = Settings(home=home)
    audit = Audit(campaign_id, kills)
    with CampaignStore(settings.store_path) as log:
        events = log.events(campaign_id)
        state = log.state(campaign_id)
    final = Counter(
        e.measurement.candidate_id for e in events if isinstance(e, MeasurementRecorded)
    )
    audit.lost = sum(1 for snap in snapshots for c in snap if c not in final)
    observed = Counter(
        e.observation.candidate_id for e in events if isinstance(e, ObservationAdded)
    )
    audit.duplicated = sum(1 for c in final | observed if final[c] > 1 or observed[c] > 1)
    dosed = Counter(e.record.candidate_id for e in events if isinstance(e, DosingRecorded))
    audit.dosed_twice = sum(1 for n in dosed.values() if n > 1)
    audit.finished = state.finished
    with LeaseBook(settings.store_path) as book:
        audit.leases_held = sum(1 for lease in book.all() if lease.holder.startswith(campaign_id))
    client = MlflowClient(settings.resolved_tracking_uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`electroloop.campaign_id` = '{campaign_id}' "
        "and tags.`electroloop.kind` = 'campaign'",
    )
    if len(runs) != 1:
        audit.mlflow_mismatch += 1
        audit.notes.append(f"{len(runs)} MLflow campaign runs")
        return audit
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
    return audit


def chaos(campaigns: int, kills: int, budget: int, seed: int, root: Path) -> list[Audit]:
    """`campaigns` campaigns, each killed `kills` times; their audits."""
    rng = random.Random(seed)
    audits = []
    for number in range(campaigns):
        home = root / f"home-{number}"
        audits.append(run_with_kills(home, budget, kills, rng))
        for pid in orphaned_prefect_servers(Settings(home=home).resolved_prefect_home):
            os.kill(pid, signal.SIGKILL)  # the last kill's server, if no command came after
    return audits


def report(audits: list[Audit]) -> str:
    """The table and the last line `N kills, L lost, D duplicated`."""
    lines = [
        "| campaign | kills | lost | duplicated | dosed twice | leases held | MLflow mismatch "
        "| finished | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in audits:
        lines.append(
            f"| {a.campaign_id} | {a.kills} | {a.lost} | {a.duplicated} | {a.dosed_twice} "
            f"| {a.leases_held} | {a.mlflow_mismatch} | {a.finished} | {'; '.join(a.notes)} |"
        )
    kills = sum(a.kills for a in audits)
    lost = sum(a.lost for a in audits)
    duplicated = sum(a.duplicated + a.dosed_twice for a in audits)
    lines.append(f"\n{kills} kills, {lost} lost, {duplicated} duplicated")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--kills", type=int, default=5, help="kills per campaign")
    parser.add_argument("--budget", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        audits = chaos(args.campaigns, args.kills, args.budget, args.seed, Path(tmp))
    print(report(audits))
    sys.exit(0 if all(a.clean for a in audits) else 1)


if __name__ == "__main__":
    main()
