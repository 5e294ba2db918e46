"""`rhf demo`: the whole loop on the embedded default, stage by stage, cached.

data -> tiny base (built and pre-trained on gold chains) -> pilot chains -> [Label Studio +
simulated annotator] -> multitask and refine training on the paper's feedback -> evaluation
of cot, multitask, wsc and refine on both dev sets plus calibration -> report.

Every stage prints its time; a stage whose inputs did not change is reused on the next run
(``--fresh`` redoes all). With ``--model`` a real checkpoint (e.g. google/flan-t5-large)
replaces the tiny base and the shipped configs for that size are used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from feedback_data.jsonl import write_json

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("strategyqa", "sports_understanding")


@dataclass
class DemoConfig:
    """What the demo runs; the defaults fit the 15-minute budget on 2 CPU cores."""

    out: Path = Path("runs/demo")
    model: str | None = None  # None: build and pre-train the tiny T5
    fresh: bool = False
    with_annotation: bool = False
    k: int | None = None  # shots in the CoT prompt; None: 0 for the tiny base, 4 for --model
    pilot: int = 16  # chains per task for the annotation pilot
    pretrain_epochs: float = 5.0
    pretrain_max_pairs: int | None = None  # None: every gold chain outside the eval sets
    multitask_config: Path | None = None  # None: the shipped config for the model's size
    refine_config: Path | None = None
    train_overrides: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0, 1, 2)
    limit: int | None = 100  # dev examples per task (None: all)
    calibration_limit: int | None = None
    n: int = 8
    rounds: int = 3
    max_new_tokens: int = 64


def shipped_config(objective: str, model: str | None) -> Path:
    """configs/<objective>/<size>.yaml for a Flan-T5 size named in ``model``, else tiny."""
    name = (model or "").lower()
    for size in ("xl", "large", "base"):
        if f"flan-t5-{size}" in name:
            matches = sorted((ROOT / "configs" / objective).glob(f"flan-t5-{size}*.yaml"))
            if matches:
                return matches[0]
    return ROOT / "configs" / objective / "tiny.yaml"


class Stages:
    """Run named stages once per set of inputs; record and print their times."""

    def __init__(self, out: Path, fresh: bool, log: Callable[[str], None]) -> None:
        self.dir = out / "stages"
        self.fresh = fresh
        self.log = log
        self.times: dict[str, dict[str, Any]] = {}
        self.upstream = ""  # key of the previous stage: a stage reruns when any before it did

    def run(self, name: str, inputs: dict[str, Any], fn: Callable[[], dict[str, Any]]
            ) -> dict[str, Any]:
        text = json.dumps(inputs, sort_keys=True, default=str) + self.upstream
        key = hashlib.sha1(text.encode()).hexdigest()
        self.upstream = key
        record = self.dir / f"{name}.json"
        if not self.fresh and record.exists():
            saved = json.loads(record.read_text())
            if saved.get("key") == key and all(Path(p).exists() for p in saved["paths"]):
                self.log(f"== {name}: cached ({saved['seconds']:.1f} s when it ran)")
                self.times[name] = {"seconds": 0.0, "cached": True}
                return saved["result"]
        self.log(f"== {name} ...")
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        paths = [v for v in result.values() if isinstance(v, str) and Path(v).exists()]
        write_json(record, {"key": key, "seconds": seconds, "result": result, "paths": paths})
        self.times[name] = {"seconds": seconds, "cached": False}
        self.log(f"== {name}: done in {seconds:.1f} s")
        return result


def _train(objective: str, config: Path, base: str, out: Path, extra_feedback: list[str],
           overrides: dict[str, Any]) -> str:
    from training.config import load_config
    from training.multitask import train as train_multitask
    from training.refine import train as train_refine

    cfg = load_config(config, overrides={
        "model.name_or_path": base, "train.output_dir": str(out),
        "data.extra_feedback": extra_feedback, "train.resume": (out / "checkpoints").exists(),
        **overrides,
    }, objective=objective)
    return str((train_multitask if objective == "multitask" else train_refine)(cfg))


def _chains(base: str, out: Path, cfg: DemoConfig) -> dict[str, Any]:
    from inference.backends import Backend
    from inference.chains import generate_chains, select_examples

    backend = Backend.load(base)
    result: dict[str, Any] = {}
    for task in TASKS:
        path = out / f"{task}.jsonl"
        chains = generate_chains(backend, select_examples(task, "train", limit=cfg.pilot), task,
                                 k=cfg.k, out=path, max_new_tokens=cfg.max_new_tokens)
        result[f"{task}_file"] = str(path)
        result[f"{task}_parse_rate"] = sum(c.parsed for c in chains) / max(len(chains), 1)
    return result


def _annotate(chain_files: list[str], out: Path) -> dict[str, Any]:
    from annotation.campaign import pull_feedback, push_chains, setup_project
    from annotation.client import LabelStudioClient
    from annotation.server import _credentials, start_label_studio
    from annotation.simulate import simulate_annotations
    from annotation.tasks import known_examples, read_chains
    from feedback_data.jsonl import write_records

    data_dir = out / "label-studio-data"
    token, password, _ = _credentials(data_dir)  # kept in DATA_DIR/credentials (mode 600)
    server = start_label_studio(data_dir, token=token, password=password)
    typer.echo(f"Label Studio at {server.url} (user {server.username}; password in "
               f"{data_dir / 'credentials'})")
    try:
        client = LabelStudioClient(server.url, server.token)
        project = setup_project(client, title="rhf demo pilot")
        chains = [c for f in chain_files for c in read_chains(f)]
        push_chains(client, project, chains, known_examples(TASKS))
        simulate_annotations(client, project)
        items = pull_feedback(client, project)
    finally:
        server.stop()
    path = out / "simulated_feedback.jsonl"
    write_records(path, items)
    typer.echo(f"Label Studio pilot: {len(items)} simulated annotations of {len(chains)} tasks "
               f"in project {project}; to look at them: scripts/start_label_studio.sh {data_dir}")
    return {"feedback_file": str(path), "records": len(items), "url": server.url}


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage and return the evaluation report (also written under ``cfg.out``)."""
    from eval.runner import EvalConfig, run_eval

    out = Path(cfg.out)
    if cfg.k is None:
        cfg.k = 0 if cfg.model is None else 4
    cfg.multitask_config = cfg.multitask_config or shipped_config("multitask", cfg.model)
    cfg.refine_config = cfg.refine_config or shipped_config("refine", cfg.model)
    if cfg.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages(out, cfg.fresh, log)
    started = time.perf_counter()

    def data() -> dict[str, Any]:
        from feedback_data.fetch import fetch_bigbench, fetch_feedback
        from feedback_data.store import import_paper_feedback

        fetch_bigbench(log=log)
        fetch_feedback(log=log)
        return {"counts": import_paper_feedback(log=log)}

    stages.run("data", {}, data)

    if cfg.model is None:
        def base_stage() -> dict[str, Any]:
            from training.pretrain import pretrain_tiny

            return {"model": str(pretrain_tiny(out / "base", k=cfg.k, epochs=cfg.pretrain_epochs,
                                               max_pairs=cfg.pretrain_max_pairs))}

        inputs = {"k": cfg.k, "epochs": cfg.pretrain_epochs, "max": cfg.pretrain_max_pairs}
        base = stages.run("base", inputs, base_stage)["model"]
    else:
        base = cfg.model

    chains = stages.run("chains", {"base": base, "k": cfg.k, "pilot": cfg.pilot},
                        lambda: _chains(base, out / "chains", cfg))
    extra: list[str] = []
    if cfg.with_annotation:
        files = [chains[f"{t}_file"] for t in TASKS]
        ann = stages.run("annotation", {"chains": files, "base": base},
                         lambda: _annotate(files, out / "annotation"))
        extra = [ann["feedback_file"]]

    trained = {}
    for objective, config in (("multitask", cfg.multitask_config),
                              ("refine", cfg.refine_config)):
        inputs = {"base": base, "config": Path(config).read_text(), "extra": extra,
                  "overrides": cfg.train_overrides}
        trained[objective] = stages.run(
            f"train-{objective}", inputs,
            lambda o=objective, c=config: {"model": _train(
                o, Path(c), base, out / "train" / o, extra, cfg.train_overrides)})["model"]

    eval_cfg = EvalConfig(
        model=trained["multitask"], refine_model=trained["refine"], base_model=base,
        out=out, seeds=cfg.seeds, limit=cfg.limit, k=cfg.k, n=cfg.n, rounds=cfg.rounds,
        max_new_tokens=cfg.max_new_tokens, calibration_limit=cfg.calibration_limit,
        extra={"demo": {**{k: str(v) if isinstance(v, Path) else v
                          for k, v in asdict(cfg).items()},
                        "pilot_parse_rate": {t: chains[f"{t}_parse_rate"] for t in TASKS}}},
    )
    stages.run("eval", {"eval": repr(eval_cfg), "models": trained},
               lambda: {"report": str(out / "report.json"), **_eval_summary(run_eval(eval_cfg,
                                                                                  log=log))})
    total = time.perf_counter() - started
    timings = {"stages": stages.times, "total_seconds": total}
    write_json(out / "demo_timings.json", timings)
    report = json.loads((out / "report.json").read_text())
    log("")
    log("stage times: " + ", ".join(
        f"{n} " + ("cached" if t["cached"] else f"{t['seconds']:.0f} s")
        for n, t in stages.times.items()) + f"; total {total:.0f} s")
    log("pilot chains parse rate: " + ", ".join(
        f"{t} {chains[f'{t}_parse_rate']:.0%}" for t in TASKS))
    log(f"report: {out / 'report.md'} (and report.json, plots in {out})")
    log("")
    log(headline_table(report))
    return report


def _eval_summary(report: dict[str, Any]) -> dict[str, Any]:
    return {"methods": sorted(report.get("accuracy", {}))}


def headline_table(report: dict[str, Any]) -> str:
    """The methods-by-tasks accuracy table of a report, as plain text."""
    summary = report.get("accuracy", {})
    tasks = [t for t in TASKS if any(t in v for v in summary.values())]
    lines = [f"{'method':<12}" + "".join(f"{t:>24}" for t in tasks)]
    for method, per_task in summary.items():
        cells = []
        for t in tasks:
            s = per_task.get(t)
            cells.append(f"{100 * s['mean']:>17.1f} ± {100 * s['std']:.1f}" if s else f"{'-':>24}")
        lines.append(f"{method:<12}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def demo_command(
    out: Annotated[Path, typer.Option(help="Run folder for every stage and the report.")]
    = Path("runs/demo"),
    model: Annotated[str | None, typer.Option(
        help="Base model (hub id or folder) instead of the tiny T5, e.g. google/flan-t5-large.")]
    = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Redo every stage.")] = False,
    with_annotation: Annotated[bool, typer.Option(
        "--with-annotation", help="Also run a local Label Studio pilot with the simulated "
                                  "annotator and train on its (source=simulated) records.")]
    = False,
    multitask_config: Annotated[Path | None, typer.Option(
        help="Multitask training YAML (default: the shipped one for the model's size).")]
    = None,
    refine_config: Annotated[Path | None, typer.Option(
        help="Refine training YAML (default: the shipped one for the model's size).")]
    = None,
    limit: Annotated[int, typer.Option(help="Dev examples per task (0: the whole dev sets).")]
    = 100,
    seeds: Annotated[str, typer.Option(help="Comma-separated evaluation seeds.")] = "0,1,2",
    k: Annotated[int | None, typer.Option(
        help="Shots in the CoT prompt (default: 0 for the tiny base, 4 with --model).")] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="A reduced run for tests: few steps, few questions.")] = False,
) -> None:
    """Run the whole loop on the embedded default and write runs/demo/report.md."""
    cfg = DemoConfig(out=out, model=model, fresh=fresh, with_annotation=with_annotation,
                     limit=limit or None, k=k,
                     seeds=tuple(int(s) for s in seeds.split(",") if s.strip()))
    cfg.multitask_config, cfg.refine_config = multitask_config, refine_config
    if quick:
        apply_quick(cfg)
    from feedback_data.fetch import FetchError
    from feedback_data.jsonl import DataError

    try:
        run_demo(cfg, log=typer.echo)
    except (FetchError, DataError, OSError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def apply_quick(cfg: DemoConfig) -> DemoConfig:
    """Shrink every stage so the whole loop runs in about a minute (tests)."""
    cfg.pretrain_epochs = 1.0
    cfg.pretrain_max_pairs = 64
    cfg.pilot = 2
    cfg.limit = 3
    cfg.seeds = (0,)
    cfg.calibration_limit = 8
    cfg.n = 2
    cfg.rounds = 2
    cfg.max_new_tokens = 16
    cfg.train_overrides = {"train.max_steps": 2, "data.max_records": 64,
                           "train.save_every": 0, "train.eval_every": 0}
    return cfg
