"""train.report_to and rhf eval --report-to with the real tracker libraries and no server:
W&B offline (its run folder holds the metrics), MLflow on a local file store (read back
through its client), trackio on a local folder, TensorBoard's event files.

One short training run logs to all of them and one `rhf eval --report-to ... --update-card`
logs its tables to the same tracker runs (module fixture, ~20 s); each test reads one
tracker's own store back and compares it with metrics.jsonl, run.json and report.json.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

TRACKERS = ["jsonl", "tensorboard", "wandb", "mlflow", "trackio"]
RUN_SETTINGS = {
    "data.max_records": 24, "data.max_source_len": 64, "data.max_target_len": 48,
    "data.eval_fraction": 0.2, "train.batch_size": 8, "train.log_every": 1,
    "train.eval_every": 2, "train.save_every": 0, "train.max_steps": 3,
    "train.progress_bar": False, "train.warmup_steps": 1, "train.report_to": TRACKERS,
}


def _isolate_trackers(mp: pytest.MonkeyPatch, root: Path) -> None:
    """Every tracker writes under ``root`` and nothing reaches a network."""
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    mp.delenv("WANDB_DIR", raising=False)
    mp.delenv("WANDB_API_KEY", raising=False)
    mp.setenv("MLFLOW_TRACKING_URI", (root / "mlruns").as_uri())
    # MLflow 3 keeps the file store in maintenance and asks for this opt-in to use it.
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    for name in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_TAGS"):
        mp.delenv(name, raising=False)
    mp.setenv("TRACKIO_DIR", str(root / "trackio"))
    if "trackio.utils" in sys.modules:  # read at import: point an imported trackio there too
        for module in ("trackio.utils", "trackio.sqlite_storage"):
            mp.setattr(f"{module}.TRACKIO_DIR", root / "trackio")


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> dict[str, Any]:
    """Train (3 steps) with every tracker, then evaluate with --report-to and --update-card."""
    from accelerate.state import AcceleratorState

    from eval.config import EvalConfig
    from eval.runner import run_eval
    from training.model.tiny_model import init_tiny
    from training.recipe.objectives import train
    from training.run.config_load import load_config

    root = tmp_path_factory.mktemp("trackers")
    with pytest.MonkeyPatch.context() as mp:
        _isolate_trackers(mp, root)
        model = init_tiny(root / "tiny", seed=0)
        run_dir = root / "run"
        train(load_config(overrides={**RUN_SETTINGS, "model.name_or_path": str(model),
                                     "train.output_dir": str(run_dir)},
                          objective="multitask"))
        AcceleratorState._reset_state(reset_partial_state=True)
        lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        card_before = (run_dir / "final" / "README.md").read_text()
        report = run_eval(EvalConfig.of(
            model=str(run_dir), out=root / "eval", methods=("multitask",),
            tasks=("strategyqa",), limit=2, calibration=False, plots=False, bootstrap=10,
            batch_size=4, max_new_tokens=16, report_to=tuple(TRACKERS[1:]),
            update_card=True), log=lambda _m: None)
        AcceleratorState._reset_state(reset_partial_state=True)
    return {"root": root, "run_dir": run_dir, "lines": lines, "report": report,
            "card_before": card_before,
            "run": json.loads((run_dir / "run.json").read_text()),
            "ids": json.loads((run_dir / "trackers.json").read_text()),
            "accuracy": report["accuracy"]["multitask"]["strategyqa"]["mean"]}


def _train_losses(logged: dict[str, Any]) -> dict[int, float]:
    return {x["step"]: x["train/loss"] for x in logged["lines"] if "train/loss" in x}


# --- W&B, offline: the run folder's .wandb files ---------------------------------------------

def _wandb_records(path: Path) -> list[Any]:
    """The records of a .wandb file (LevelDB log format: 7-byte header, 32 KiB blocks of
    checksum, length, type, data; type 1 a whole record, 2/3/4 its first/middle/last part)."""
    from wandb.proto import wandb_internal_pb2 as pb

    buf, pos, block, parts, records = path.read_bytes(), 7, 32768, b"", []
    assert buf[:4] == b":W&B"
    while pos + 7 <= len(buf):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _crc, n, kind = struct.unpack("<IHB", buf[pos:pos + 7])
        if n == 0 and kind == 0:
            break
        data, pos = buf[pos + 7:pos + 7 + n], pos + 7 + n
        parts = data if kind in (1, 2) else parts + data
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(parts)
            records.append(record)
    return records


def _wandb_run(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"config": {}, "history": []}
    for record in _wandb_records(next(folder.glob("run-*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["id"] = record.run.run_id
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            out["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                   for i in record.history.item})
    return out


def test_wandb_offline_run_folder_holds_config_metrics_and_eval_tables(logged):
    folders = sorted((logged["run_dir"] / "wandb").glob("offline-run-*"))
    assert len(folders) == 2  # the training, then rhf eval continuing the same run id
    train_run, eval_run = (_wandb_run(f) for f in folders)
    assert train_run["id"] == eval_run["id"] == logged["ids"]["wandb"]["id"]
    config = train_run["config"]
    assert config["train.lr"] == 0.001 and config["train.max_steps"] == 3
    assert config["seed"] == logged["run"]["seed"] == 42
    assert config["git_commit"] == str(logged["run"]["git_commit"])
    losses = {h["_step"]: h["train/loss"] for h in train_run["history"] if "train/loss" in h}
    assert losses == pytest.approx(_train_losses(logged))
    assert any("eval/loss" in h for h in train_run["history"])  # held-out loss went too
    logged_eval = {k: v for h in eval_run["history"] for k, v in h.items()}
    assert logged_eval["eval/strategyqa/multitask/accuracy"] == pytest.approx(
        logged["accuracy"])
    assert logged_eval["eval/accuracy/_type"] == "table-file"
    table = json.loads((folders[1] / "files" / logged_eval["eval/accuracy/path"]).read_text())
    assert table["columns"][:3] == ["method", "task", "accuracy"]
    assert [row[:3] for row in table["data"]] == [["multitask", "strategyqa",
                                                    pytest.approx(logged["accuracy"])]]


# --- MLflow, local file store, read back through its client ----------------------------------

def test_mlflow_file_store_holds_params_metrics_and_eval_artifacts(logged):
    from mlflow.tracking import MlflowClient

    ids = logged["ids"]["mlflow"]
    client = MlflowClient(tracking_uri=(logged["root"] / "mlruns").as_uri())
    run = client.get_run(ids["run_id"])
    assert run.data.params["train.lr"] == "0.001"
    assert run.data.params["seed"] == "42"
    assert run.data.params["git_commit"] == str(logged["run"]["git_commit"])
    assert run.info.run_name == "run"
    history = {m.step: m.value for m in client.get_metric_history(ids["run_id"], "train/loss")}
    assert history == pytest.approx(_train_losses(logged))
    accuracy = client.get_metric_history(ids["run_id"], "eval/strategyqa/multitask/accuracy")
    assert [m.value for m in accuracy] == pytest.approx([logged["accuracy"]])
    assert accuracy[0].step == logged["run"]["total_steps"] == 3
    artifacts = {a.path for a in client.list_artifacts(ids["run_id"])}
    assert {"report.md", "report.json"} <= artifacts


# --- trackio, local ---------------------------------------------------------------------------

def test_trackio_local_store_holds_config_metrics_and_eval(logged):
    from trackio.sqlite_storage import SQLiteStorage

    ids = logged["ids"]["trackio"]
    assert Path(SQLiteStorage.get_project_db_path(ids["project"])).parent == \
        logged["root"] / "trackio"
    logs = SQLiteStorage.get_logs(ids["project"], ids["name"])
    losses = {x["step"]: x["train/loss"] for x in logs if "train/loss" in x}
    assert losses == pytest.approx(_train_losses(logged))
    assert [x["eval/strategyqa/multitask/accuracy"] for x in logs
            if "eval/strategyqa/multitask/accuracy" in x] == pytest.approx([logged["accuracy"]])
    config = SQLiteStorage.get_run_config(ids["project"], ids["name"])
    assert config["train.lr"] == 0.001 and config["seed"] == 42


# --- TensorBoard, the run folder's event files -------------------------------------------------

def test_tensorboard_events_hold_metrics_and_the_eval_table(logged):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    events = EventMultiplexer().AddRunsFromDirectory(logged["ids"]["tensorboard"]["logdir"])
    events.Reload()
    scalars, texts = {}, {}
    for run in events.Runs():
        acc = events.GetAccumulator(run)
        for tag in acc.Tags()["scalars"]:
            scalars[tag] = {e.step: e.value for e in acc.Scalars(tag)}
        for tag in acc.Tags()["tensors"]:
            texts[tag] = [t.tensor_proto.string_val[0].decode() for t in acc.Tensors(tag)]
    assert scalars["train/loss"] == pytest.approx(_train_losses(logged), rel=1e-6)
    assert scalars["eval/strategyqa/multitask/accuracy"] == pytest.approx(
        {3: logged["accuracy"]})
    table = next(v for k, v in texts.items() if k.startswith("eval/accuracy"))[0]
    assert table.startswith("| method | task | accuracy |")
    assert "| multitask | strategyqa |" in table


# --- rhf eval --update-card --------------------------------------------------------------------

def test_eval_update_card_appends_the_headline_numbers(logged):
    from huggingface_hub import ModelCard

    from training.run.checkpoint import verify_checkpoint

    final = logged["run_dir"] / "final"
    card = ModelCard.load(final / "README.md")
    before = logged["card_before"].split("---\n", 2)[2].strip()
    assert card.text.strip().startswith(before)  # appended: the training's card is kept
    assert "## Evaluation (rhf eval" in card.text
    assert f"{100 * logged['accuracy']:.2f}" in card.text.split("## Evaluation")[1]
    [result] = card.data.eval_results
    assert (result.dataset_type, result.metric_type) == ("strategyqa", "accuracy")
    assert result.metric_value == pytest.approx(logged["accuracy"], abs=1e-4)
    assert verify_checkpoint(final) >= 1  # the manifest follows the card


# --- start-up errors ---------------------------------------------------------------------------

def test_a_missing_tracker_is_one_line_naming_its_extra(monkeypatch, tiny_model, tmp_path):
    import accelerate.utils
    from typer.testing import CliRunner

    from rhf_cli import app

    monkeypatch.setattr(accelerate.utils, "is_mlflow_available", lambda: False)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--objective", "multitask", "--model",
                                      str(tiny_model), "--out", str(out),
                                      "report_to=[jsonl,mlflow]"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: report_to asks for mlflow, which is not installed: pip install -e "
        "'.[mlflow]' (or leave mlflow out of train.report_to / --report-to)"]
    assert not out.exists()


def test_eval_refuses_a_missing_tracker_before_loading_anything(monkeypatch, tmp_path):
    import accelerate.utils
    from typer.testing import CliRunner

    from rhf_cli import app

    monkeypatch.setattr(accelerate.utils, "is_trackio_available", lambda: False)
    result = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "nowhere"),
                                      "--out", str(tmp_path / "eval"), "--no-calibration",
                                      "--methods", "multitask", "--report-to", "trackio"])
    assert result.exit_code == 1
    assert "pip install -e '.[trackio]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "eval").exists()


def test_report_to_without_jsonl_writes_no_metrics_file(make_cfg, tmp_path):
    from training.recipe.objectives import train

    out = tmp_path / "quiet"
    train(make_cfg("multitask", out=out, **{"train.max_steps": 2, "train.report_to": []}))
    assert (out / "final" / "README.md").is_file()
    assert not (out / "metrics.jsonl").exists() and not (out / "trackers.json").exists()


def test_the_old_tensorboard_key_still_loads(tiny_model, tmp_path):
    from training.run.config_load import load_config

    config = tmp_path / "old.yaml"
    config.write_text("train:\n  tensorboard: false\n  lr: 0.002\n")
    with pytest.warns(FutureWarning, match="replaced by train.report_to"):
        cfg = load_config(config, {"model": str(tiny_model), "out": str(tmp_path / "r")})
    assert cfg.train.report_to == ["jsonl"] and cfg.train.lr == 0.002
    with pytest.warns(FutureWarning):
        cfg = load_config(None, ["report_to=[wandb]", "tensorboard=true"])
    assert cfg.train.report_to == ["wandb", "tensorboard"]


def test_a_resume_continues_the_same_mlflow_run(make_cfg, monkeypatch, tmp_path):
    import mlflow
    from accelerate.state import AcceleratorState
    from mlflow.tracking import MlflowClient

    from training.recipe.objectives import train

    _isolate_trackers(monkeypatch, tmp_path)
    out, fast = tmp_path / "run", {"train.report_to": ["jsonl", "mlflow"],
                                   "train.save_every": 2}
    with pytest.raises(SystemExit):  # stopped after step 2, as a kill would
        monkeypatch.setattr("training.recipe.loop.ckpt.save_final",
                            lambda *a, **k: (_ for _ in ()).throw(SystemExit(1)))
        train(make_cfg("multitask", out=out, **fast, **{"train.max_steps": 2}))
    mlflow.end_run()  # what the end of a killed process does
    monkeypatch.undo()
    _isolate_trackers(monkeypatch, tmp_path)
    AcceleratorState._reset_state(reset_partial_state=True)
    first = json.loads((out / "trackers.json").read_text())["mlflow"]["run_id"]
    train(make_cfg("multitask", out=out, **fast, **{
        "train.max_steps": 4, "train.resume": True, "train.allow_config_change": True}))
    ids = json.loads((out / "trackers.json").read_text())
    assert ids["mlflow"]["run_id"] == first
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    steps = sorted(m.step for m in client.get_metric_history(first, "train/loss"))
    assert steps == [1, 2, 3, 4]
    assert client.get_run(first).data.params["train.max_steps"] == "2"  # its first launch's
