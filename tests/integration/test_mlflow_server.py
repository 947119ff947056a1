"""Campaigns recorded on a real `mlflow server` process on loopback, read back over its REST API
(what the MLflow UI reads) and compared with `electroloop compare`."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from electroloop.cli import main
from electroloop.kinds.registry import load_campaign
from electroloop.orchestrator.store import CampaignStore
from electroloop.workflows.mlflow_server import MlflowServer

REPO = Path(__file__).resolve().parents[2]
STUDY = "electrolyte-conductivity"  # the embedded demo's study
MOO_STUDY = "it-conductivity-vs-cost"


@dataclass(frozen=True)
class Recorded:
    url: str
    home: Path
    demo_ids: dict[str, str]  # planner -> campaign id
    moo_id: str


def rest(url: str, endpoint: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (query from `payload`) or POST a JSON body to the MLflow REST API."""
    if endpoint.endswith("/search"):
        request = urllib.request.Request(
            f"{url}/api/2.0/mlflow/{endpoint}",
            data=json.dumps(payload or {}).encode(),
            headers={"Content-Type": "application/json"},
        )
    else:
        query = urllib.parse.urlencode(payload or {})
        request = urllib.request.Request(f"{url}/api/2.0/mlflow/{endpoint}?{query}")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def artifact(url: str, run_id: str, path: str) -> bytes:
    """An artifact as the MLflow UI downloads it."""
    query = urllib.parse.urlencode({"path": path, "run_uuid": run_id})
    with urllib.request.urlopen(f"{url}/get-artifact?{query}", timeout=30) as reply:
        return reply.read()  # type: ignore[no-any-return]


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def search(url: str, experiment_id: str, filter_string: str) -> list[dict[str, Any]]:
    found = rest(url, "runs/search", {"experiment_ids": [experiment_id], "filter": filter_string})
    return found.get("runs", [])  # type: ignore[no-any-return]


def experiment_id(url: str, name: str) -> str:
    reply = rest(url, "experiments/get-by-name", {"experiment_name": name})
    return reply["experiment"]["experiment_id"]  # type: ignore[no-any-return]


def campaign_run(url: str, study: str, campaign_id: str) -> dict[str, Any]:
    (run,) = search(
        url,
        experiment_id(url, study),
        f"tags.`electroloop.campaign_id` = '{campaign_id}'"
        " and tags.`electroloop.kind` = 'campaign'",
    )
    return run


@pytest.fixture(scope="module")
def recorded(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """A tracking server, a two-objective campaign, then two demos with different planners."""
    root = tmp_path_factory.mktemp("mlflow-server")
    home = root / "runs"
    with (
        MlflowServer(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts") as server,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("ELECTROLOOP_HOME", str(home))
        env.setenv("ELECTROLOOP_TRACKING_URI", server.url)
        from electroloop.workflows.flows import conductivity_campaign

        moo = load_campaign(REPO / "examples" / "campaigns" / "conductivity_cost.toml")
        moo = moo.model_copy(
            update={"planner": "sobol", "budget": 6, "name": "it-moo", "study": MOO_STUDY}
        )
        moo_id = conductivity_campaign(moo).campaign_id
        demo_ids = {}
        for planner in ("sobol", "random"):
            before = set(_campaign_ids(home))
            argv = ["demo", "--planner", planner, "--budget", "6", "--batch-size", "3"]
            assert main([*argv, "--name", f"it-{planner}", "--seed", "5"]) == 0
            (demo_ids[planner],) = set(_campaign_ids(home)) - before
        yield Recorded(server.url, home, demo_ids, moo_id)


def _campaign_ids(home: Path) -> list[str]:
    path = home / "campaigns.sqlite"
    if not path.exists():
        return []
    with CampaignStore(path) as store:
        return store.campaign_ids()


def test_compare_shows_both_demo_campaigns(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    out = tmp_path / "comparison"
    assert main(["compare", "--tracking-uri", recorded.url, "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    # Without arguments: the most recent campaign's study, i.e. both demos, not the MOO study.
    assert "true optimum, simulator" in printed
    for planner, campaign_id in recorded.demo_ids.items():
        assert re.search(rf"{re.escape(campaign_id)}\s+{planner}\s+6\s", printed), printed
    assert recorded.moo_id not in printed
    with (out / "comparison.csv").open(encoding="utf-8") as handle:
        rows = {row["campaign_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(recorded.demo_ids.values())
    assert all(row["trials"] == "6" and row["failures"] == "0" for row in rows.values())
    assert (out / "comparison.txt").read_text(encoding="utf-8") in printed
    assert (out / "comparison.png").stat().st_size > 10_000


def test_compare_view_data_has_both_best_so_far_curves(recorded: Recorded) -> None:
    """The MLflow UI's compare view charts `metrics/get-history` of the selected runs."""
    runs = search(
        recorded.url, experiment_id(recorded.url, STUDY), "tags.`electroloop.kind` = 'campaign'"
    )
    assert {tags_of(r)["electroloop.campaign_id"] for r in runs} == set(recorded.demo_ids.values())
    for run in runs:
        run_id = run["info"]["run_id"]
        history = rest(
            recorded.url,
            "metrics/get-history",
            {"run_id": run_id, "metric_key": "best_conductivity"},
        )["metrics"]
        steps = sorted((m["step"], m["value"]) for m in history)
        assert [s for s, _ in steps] == list(range(6))
        values = [v for _, v in steps]
        # sorted() only reorders the logged values: an ordering check, not a float comparison.
        assert values == sorted(values)  # best-so-far never falls when maximising
        regret = rest(
            recorded.url, "metrics/get-history", {"run_id": run_id, "metric_key": "simple_regret"}
        )["metrics"]
        assert len(regret) == 6 and all(m["value"] > -0.5 for m in regret)  # ≥ 0 up to noise
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert metrics["trials"] == 6 and metrics["failures"] == 0
        assert metrics["true_optimum"] >= max(values) - 0.5


def test_trial_run_links_to_the_raw_transcript_whose_hash_matches_the_event_log(
    recorded: Recorded,
) -> None:
    campaign_id = recorded.demo_ids["sobol"]
    parent = campaign_run(recorded.url, STUDY, campaign_id)
    trials = search(
        recorded.url,
        experiment_id(recorded.url, STUDY),
        f"tags.mlflow.parentRunId = '{parent['info']['run_id']}'",
    )
    assert len(trials) == 6
    with CampaignStore(recorded.home / "campaigns.sqlite") as store:
        log = store.state(campaign_id)
    for trial in trials:
        tags = tags_of(trial)
        run_id = trial["info"]["run_id"]
        (measurement,) = log.measurements[tags["electroloop.candidate_id"]]
        link = tags["transcript.conductivity-meter.artifact"]
        raw = artifact(recorded.url, run_id, link)
        digest = hashlib.sha256(raw).hexdigest()
        assert digest == tags["transcript.conductivity-meter.sha256"]
        assert digest == measurement.transcript.sha256
        assert b"MEAS:COND?" in raw
        data = artifact(recorded.url, run_id, "trial.json")
        assert hashlib.sha256(data).hexdigest() == tags["data.trial.sha256"]
        record = json.loads(data)
        assert record["measurement"]["transcript"]["sha256"] == digest
        assert record["measurement"]["value"] == pytest.approx(measurement.value)
        assert tags["measurement.parser"] == measurement.parser
        assert tags["electroloop.oracle"].startswith("electroloop.simulations.physics")


def test_two_objective_campaign_logs_hypervolume_and_a_pareto_plot(recorded: Recorded) -> None:
    run = campaign_run(recorded.url, MOO_STUDY, recorded.moo_id)
    run_id = run["info"]["run_id"]
    history = rest(
        recorded.url, "metrics/get-history", {"run_id": run_id, "metric_key": "hypervolume"}
    )["metrics"]
    values = [m["value"] for m in sorted(history, key=lambda m: m["step"])]
    assert len(values) == 6 and values == sorted(values) and values[-1] > 0
    listed = rest(recorded.url, "artifacts/list", {"run_id": run_id, "path": "plots"})
    assert {"plots/convergence.png", "plots/pareto.png"} <= {f["path"] for f in listed["files"]}
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["objective.cost.threshold"] == "8.0"
    assert "simple_regret" not in {m["key"] for m in run["data"]["metrics"]}


# --- the written schema (docs/mlflow.md) against what the server holds -------------------------

_ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+) \|")


def documented(kind: str) -> dict[str, list[tuple[re.Pattern[str], bool]]]:
    """Section -> [(key pattern, logged always)] for the campaign or trial run in the schema."""
    text = (REPO / "docs" / "mlflow.md").read_text(encoding="utf-8")
    heading = "## Campaign run" if kind == "campaign" else "## Trial run"
    body = text[text.index(heading) :].split("\n## ", 1)[0]
    sections: dict[str, list[tuple[re.Pattern[str], bool]]] = {}
    current = ""
    for line in body.splitlines():
        if line.startswith("### "):
            current = line[4:].split()[0].lower()  # tags | params | metrics | artifacts
            sections[current] = []
        elif match := _ROW.match(line):
            key, when = match.groups()
            pattern = re.sub(
                r"<[a-z]+>", r"[\\w.+ -]+", re.escape(key).replace(r"\<", "<").replace(r"\>", ">")
            )
            sections[current].append((re.compile(pattern + "$"), when.strip() == "always"))
    return sections


def logged_artifacts(url: str, run_id: str, path: str = "") -> list[str]:
    listed = rest(
        url, "artifacts/list", {"run_id": run_id, "path": path} if path else {"run_id": run_id}
    )
    found = []
    for entry in listed.get("files", []):
        if entry["is_dir"]:
            found += logged_artifacts(url, run_id, entry["path"])
        else:
            found.append(entry["path"])
    return found


def test_every_logged_key_is_in_the_written_schema_and_every_always_key_is_logged(
    recorded: Recorded,
) -> None:
    runs = []
    for study in (STUDY, MOO_STUDY):
        runs += search(recorded.url, experiment_id(recorded.url, study), "")
    kinds = {tags_of(r)["electroloop.kind"] for r in runs}
    assert kinds == {"campaign", "trial"} and len(runs) == 3 * 7
    for run in runs:
        tags = tags_of(run)
        schema = documented(tags["electroloop.kind"])
        logged = {
            "tags": [k for k in tags if not k.startswith("mlflow.") or k == "mlflow.note.content"],
            "params": [p["key"] for p in run["data"].get("params", [])],
            "metrics": [m["key"] for m in run["data"].get("metrics", [])],
            "artifacts": logged_artifacts(recorded.url, run["info"]["run_id"]),
        }
        for section, keys in logged.items():
            patterns = schema[section]
            for key in keys:
                assert any(p.match(key) for p, _ in patterns), f"{section} {key!r} undocumented"
            for pattern, always in patterns:
                if always:
                    assert any(pattern.match(k) for k in keys), f"{section} {pattern} missing"


def test_the_mlflow_ui_compare_view_charts_both_best_so_far_curves(
    recorded: Recorded, chromium: Any, tmp_path: Path
) -> None:
    """What a team lead does: select both campaign runs, press Compare, open best_conductivity."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    runs = search(
        recorded.url, experiment_id(recorded.url, STUDY), "tags.`electroloop.kind` = 'campaign'"
    )
    run_ids = json.dumps([r["info"]["run_id"] for r in runs])
    experiments = json.dumps([experiment_id(recorded.url, STUDY)])
    chromium.get(f"{recorded.url}/#/compare-runs?runs={run_ids}&experiments={experiments}")
    wait = WebDriverWait(chromium, 90)
    link = wait.until(lambda d: d.find_element(By.LINK_TEXT, "best_conductivity"))
    page = chromium.find_element(By.TAG_NAME, "body").text
    assert "Comparing 2 Runs" in page
    assert all(campaign_id in page for campaign_id in recorded.demo_ids.values())
    chromium.save_screenshot(str(tmp_path / "mlflow-compare.png"))

    chromium.execute_script("arguments[0].click();", link)  # the metric's plot across steps
    legend = [f"{campaign_id} (best_conductivity)" for campaign_id in recorded.demo_ids.values()]
    wait.until(lambda d: all(entry in d.find_element(By.TAG_NAME, "body").text for entry in legend))
    page = chromium.find_element(By.TAG_NAME, "body").text
    for run in runs:  # the table under the chart: "<run name> <latest> (step=5) <min> ..."
        final = {m["key"]: m["value"] for m in run["data"]["metrics"]}["best_conductivity"]
        name = tags_of(run)["electroloop.campaign_id"]
        shown = re.search(rf"{re.escape(name)}\s+([\d.]+) \(step=5\)", page)
        assert shown is not None and float(shown.group(1)) == pytest.approx(final), page
    assert chromium.save_screenshot(str(tmp_path / "mlflow-best-so-far.png"))
    assert (tmp_path / "mlflow-best-so-far.png").stat().st_size > 20_000


def test_campaigns_creating_one_experiment_at_once_on_the_server_all_get_it(
    recorded: Recorded, tmp_path: Path
) -> None:
    """Eight campaigns starting together on a lab's server: one creates the study's
    experiment, the others find it, and none fails (the 32-campaign load test hit this)."""
    from mlflow import MlflowClient

    from electroloop.workflows.tracking import experiment_id as study_experiment

    start = threading.Barrier(8)
    got: list[str] = []

    def campaign() -> None:
        client = MlflowClient(recorded.url)
        start.wait()
        got.append(study_experiment(client, "raced-study", recorded.url, tmp_path))

    threads = [threading.Thread(target=campaign) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(got) == 8 and set(got) == {experiment_id(recorded.url, "raced-study")}
