"""`rhf demo`: the whole loop on the embedded default, stage by stage, cached.

data -> base (the shipped pre-trained tiny T5, or rebuilt from scratch) -> pilot chains ->
[Label Studio + simulated annotator] -> multitask and refine training on the paper's feedback
-> evaluation of every method on both full dev sets plus calibration -> report.

Every stage prints its time; a stage whose inputs and code did not change is reused on the
next run, saying from which commit (``--fresh`` redoes all). The demo holds its folder's lock
while it runs and marks the folder (``.rhf-run``); ``--fresh`` and a training stage whose
inputs changed delete only what the demo wrote, and refuse a folder holding anything else.
With ``--model`` a real checkpoint (e.g. google/flan-t5-large) replaces the tiny base and the
shipped configs for that size are used. Thread counts are fixed and every RNG is seeded, so
the same commit gives the same numbers on any 2-core machine.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eval.detection_baselines import DETECTION_BASELINES
from feedback_data.files import run_mark
from feedback_data.files.io import sha256_file, write_json, write_text
from feedback_data.files.write_lock import folder_lock, hold
from feedback_data.records.provenance import git_commit
from feedback_data.records.schema import PAPER_TASKS
from pipeline.base_model import SHIPPED_BASE, build_base, read_record
from pipeline.stages import Stages
from training.recipe.pretrain import PretrainConfig

ROOT = Path(__file__).resolve().parents[1]
KIND = "rhf demo"
# Every top-level entry the demo (and the evaluation it runs) writes in its folder.
OWNS = ("stages", "base", "chains", "annotation", "train", "predictions", "report.json",
        "report.md", "accuracy.png", "reliability.png", "demo_timings.json")
STAGE_KEY = "stage_key.txt"
# The modules each stage runs (its code, in its cache key: pipeline.stage_code) and the
# stages it reads from. The shipped base has no code: its weights' sha256 is its input.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "data": ("feedback_data.sources.fetch", "feedback_data.sources.task_sources",
             "feedback_data.records.store"),
    "base": ("pipeline.base_model",),  # only when the base is rebuilt
    "chains": ("inference.chains", "inference.backends"),
    "annotation": ("pipeline.pilot",),
    "train-multitask": ("training.recipe.multitask",),
    "train-refine": ("training.recipe.refine",),
    "train-critic": ("training.recipe.critic",),  # with DemoConfig.separate_critic
    "fit-critic": ("eval.critic_combiner", "feedback_data.text.claims"),
    "eval": ("eval.runner", "eval.report", "eval.plots"),
}
STAGE_AFTER: dict[str, tuple[str, ...]] = {
    "base": ("data",),  # only when the base is rebuilt; the shipped one reads from no stage
    "chains": ("data", "base"),
    "annotation": ("chains",),
    "train-multitask": ("data", "base"),  # + annotation when it runs
    "train-refine": ("data", "base"),
    "train-critic": ("data", "base"),
    "fit-critic": ("train-multitask",),  # + train-critic
    "eval": ("data", "base", "chains", "train-multitask", "train-refine", "fit-critic"),
}


@dataclass
class DemoConfig:
    """What the demo runs; the defaults fit the 15-minute budget on 2 CPU cores."""

    out: Path = Path("runs/demo")
    model: str | None = None  # None: the shipped base (models/tiny-base)
    rebuild_base: bool = False  # pre-train the base from scratch instead of the shipped one
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    fresh: bool = False
    with_annotation: bool = False
    k: int | None = None  # shots in the CoT prompt; None: 0 for the tiny base, 4 for --model
    pilot: int = 16  # chains per task for the annotation pilot
    multitask_config: Path | None = None  # None: the shipped config for the model's size
    refine_config: Path | None = None
    # A separate critic (configs/critic/demo.yaml) reads the chains in evaluation (wsc's
    # labels, Table 2's fine-tuned rows, selective prediction) instead of the multitask model.
    separate_critic: bool = False
    critic_config: Path | None = None
    # The critic every Table 2 row is compared with: its learned P(no error), verification
    # against the base's own chains and the base's answer agreement, combined by a logistic
    # regression fitted on the critic's validation records (eval/critic_combiner.py).
    combine_critic: bool = True
    verifier_samples: int = 0
    train_overrides: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0, 1, 2)
    limit: int | None = None  # dev examples per task (None: all)
    calibration_limit: int | None = None
    # n and max_new_tokens are set for the 15-minute CPU budget: wsc's 3 seeds x n samples of
    # all 748 dev questions, each sample critiqued, dominate the evaluation's cost.
    n: int = 4
    rounds: int = 3
    # refine rewrites only chains whose calibrated P(no error) is below a tau chosen on the
    # critic's validation records ('paper': the paper's rule); issue 33
    refine_rule: str = "threshold"
    # Table 2's baselines beside the critic (eval.detection_baselines)
    detection_baselines: tuple[str, ...] = DETECTION_BASELINES
    max_new_tokens: int = 48
    batch_size: int = 256  # sequences per generate call (CPU: larger batches, fewer steps)
    threads: int = 2  # torch CPU threads, fixed so that numbers reproduce
    device: str = "auto"  # where chains and evaluation run (training: its own config)
    dtype: str = "auto"  # their precision (inference.precision.DTYPES)


def shipped_config(objective: str, model: str | None) -> Path:
    """configs/<objective>/<size>.yaml for a Flan-T5 size named in ``model``, else the demo's
    config for the shipped base."""
    name = (model or "").lower()
    for size in ("xl", "large", "base"):
        if f"flan-t5-{size}" in name:
            matches = sorted((ROOT / "configs" / objective).glob(f"flan-t5-{size}*.yaml"))
            if matches:
                return matches[0]
    return ROOT / "configs" / objective / "demo.yaml"


def make_deterministic(threads: int, seed: int = 0) -> None:
    """Fixed thread count, deterministic kernels, seeded RNGs (python, numpy, torch)."""
    import random

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _train(objective: str, config: Path, base: str, out: Path, extra_feedback: list[str],
           overrides: dict[str, Any], key: str) -> str:
    """Train one objective into ``out`` through the objective registry, as `rhf train` does:
    resume an interrupted run of the same inputs (``key``), start afresh when the inputs
    changed."""
    from training.recipe import objectives
    from training.run.config_load import load_config

    same = prepare_stage_run(out, key)
    cfg = load_config(config, overrides={
        "model.name_or_path": base, "train.output_dir": str(out),
        "data.extra_feedback": extra_feedback,
        "train.resume": same and (out / "checkpoints").exists(), **overrides,
    }, objective=objective)
    return str(objectives.train(cfg))


def prepare_stage_run(out: Path, key: str) -> bool:
    """A training stage's run folder for inputs ``key``, claimed once for the run the stage
    starts there (:func:`training.run.run_folder.claim_run_dir`, owning the stage key too):
    True when it holds a run of the same inputs (to resume). A run of other inputs is
    cleared first, but only when it is a training run holding nothing else
    (:func:`training.run.run_folder.clear_run_dir`)."""
    from training.run.run_folder import claim_run_dir, clear_run_dir

    marker = out / STAGE_KEY
    same = marker.exists() and marker.read_text().strip() == key
    # A stage run from before marks existed: its stage key and run.json say it is ours.
    legacy = marker.is_file() and (out / "run.json").is_file()
    if out.exists() and not same:
        clear_run_dir(out, also=[STAGE_KEY], legacy=legacy)
    claim_run_dir(out, also=[STAGE_KEY], commit=git_commit(), adopt=legacy)
    write_text(marker, key + "\n")
    return same


def _chains(base: str, out: Path, cfg: DemoConfig) -> dict[str, Any]:
    from inference.backends import Backend
    from inference.chains import generate_chains, select_examples

    backend = Backend.load(base, device=cfg.device, dtype=cfg.dtype)
    result: dict[str, Any] = {}
    for task in PAPER_TASKS:
        path = out / f"{task}.jsonl"
        chains = generate_chains(backend, select_examples(task, "train", limit=cfg.pilot), task,
                                 k=cfg.k, out=path, max_new_tokens=cfg.max_new_tokens)
        result[f"{task}_file"] = str(path)
        result[f"{task}_parse_rate"] = sum(c.parsed for c in chains) / max(len(chains), 1)
    return result


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage and return the evaluation report (also written under ``cfg.out``).

    The folder is locked for the run (a second demo on it fails at once, naming the first)
    and marked as the demo's; ``cfg.fresh`` first deletes what an earlier demo wrote there,
    refusing a folder the demo did not make or one holding files it did not write."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise run_mark.NotOurFolder(f"{out} is a file; choose another --out")
    with hold(folder_lock(out), str(out), "wait for it to finish, or choose another --out "
                                          "(nothing was written)"):
        # A demo folder from before marks existed: its stage records say it is the demo's.
        legacy = (out / "stages" / "data.json").is_file()
        if cfg.fresh:
            gone = run_mark.clear(out, KIND, assume={"kind": KIND, "owns": list(OWNS)}
                                  if legacy else None)
            if gone:
                log(f"--fresh: deleted what the demo wrote in {out} ({', '.join(gone)})")
        run_mark.claim(out, KIND, OWNS, commit=git_commit(), adopt=legacy)
        return _run_stages(cfg, out, log)


def _run_stages(cfg: DemoConfig, out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """The stages in order, each reused when its inputs and code did not change."""
    make_deterministic(cfg.threads)
    _settle(cfg)
    # This file is every stage's glue: a change to it re-runs them all.
    stages = Stages(out, cfg.fresh, log, glue=("pipeline.demo",))
    started = time.perf_counter()
    _data_stage(stages, log)
    base = _base_stage(stages, cfg, out, log)
    chains = stages.run("chains", {"base": base, "k": cfg.k, "pilot": cfg.pilot,
                                   "device": cfg.device, "dtype": cfg.dtype},
                        lambda: _chains(base, out / "chains", cfg),
                        code=STAGE_CODE["chains"], after=STAGE_AFTER["chains"])
    extra = _annotation_stage(stages, cfg, base, chains, out, log)
    trained = _training_stages(stages, cfg, base, extra, out)
    _fit_critic_stage(stages, cfg, base, trained, log)
    _eval_stage(stages, cfg, base, chains, trained, out, log)
    total = time.perf_counter() - started
    write_json(out / "demo_timings.json", {"stages": stages.times, "total_seconds": total})
    report = json.loads((out / "report.json").read_text())
    _say_summary(stages, chains, out, total, report, log)
    return report


def _settle(cfg: DemoConfig) -> None:
    """Fill in what ``cfg`` leaves to the model: the shots, the shipped configs."""
    if cfg.k is None:
        cfg.k = 0 if cfg.model is None else 4
    cfg.multitask_config = cfg.multitask_config or shipped_config("multitask", cfg.model)
    cfg.refine_config = cfg.refine_config or shipped_config("refine", cfg.model)
    if cfg.separate_critic:
        cfg.critic_config = cfg.critic_config or shipped_config("critic", cfg.model)


def _data_stage(stages: Stages, log: Callable[[str], None]) -> None:
    """The task data and the paper's feedback, fetched and imported."""
    def data() -> dict[str, Any]:
        from feedback_data.sources.fetch import fetch_bigbench, fetch_feedback
        from feedback_data.sources.paper_import import import_paper_feedback

        sources = fetch_bigbench(log=log)
        fetch_feedback(log=log)
        return {"counts": import_paper_feedback(log=log), "sources": sources}

    stages.run("data", {}, data, code=STAGE_CODE["data"])


def _base_stage(stages: Stages, cfg: DemoConfig, out: Path, log: Callable[[str], None]
                ) -> str:
    """The base model: ``--model``, the base rebuilt from scratch, or the shipped one."""
    if cfg.model is not None:
        return cfg.model
    if cfg.rebuild_base:
        return stages.run("base", {"pretrain": asdict(cfg.pretrain)}, lambda: {
            "model": str(Path(build_base(out / "base", cfg.pretrain, log=log)["train_run"])
                         / "final")}, code=STAGE_CODE["base"], after=STAGE_AFTER["base"])["model"]
    if not (SHIPPED_BASE / "model.safetensors").exists():
        raise FileNotFoundError(f"{SHIPPED_BASE}/model.safetensors is missing: restore "
                                "it from git, or run with --rebuild-base")
    digest = sha256_file(SHIPPED_BASE / "model.safetensors")
    # The shipped weights are the whole input: no code computes them here.
    return stages.run("base", {"shipped": digest}, lambda: {
        "model": str(SHIPPED_BASE), "sha256": digest,
        "record": (read_record(SHIPPED_BASE) or {}).get("metrics")}, after=())["model"]


def _annotation_stage(stages: Stages, cfg: DemoConfig, base: str, chains: dict[str, Any],
                      out: Path, log: Callable[[str], None]) -> list[str]:
    """With ``--with-annotation``, the pilot chains annotated: the extra feedback files the
    training stages read (none without it)."""
    if not cfg.with_annotation:
        return []
    from pipeline.pilot import run_pilot

    files = [chains[f"{t}_file"] for t in PAPER_TASKS]
    ann = stages.run("annotation", {"chains": files, "base": base},
                     lambda: run_pilot(files, out / "annotation", log=log),
                     code=STAGE_CODE["annotation"], after=STAGE_AFTER["annotation"])
    return [ann["feedback_file"]]


def _training_stages(stages: Stages, cfg: DemoConfig, base: str, extra: list[str], out: Path
                     ) -> dict[str, str]:
    """Each objective trained on the base (multitask, refine, and the separate critic when
    asked): its ``final/`` folder by objective."""
    trained = {}
    for objective, config in (("multitask", cfg.multitask_config),
                              ("refine", cfg.refine_config),
                              *((("critic", cfg.critic_config),) if cfg.separate_critic
                                else ())):
        inputs = {"base": base, "config": Path(config).read_text(), "extra": extra,
                  "overrides": cfg.train_overrides}
        key = hashlib.sha1(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
        trained[objective] = stages.run(
            f"train-{objective}", inputs,
            lambda o=objective, c=config, k=key: {"model": _train(
                o, Path(c), base, out / "train" / o, extra, cfg.train_overrides, k)},
            code=STAGE_CODE[f"train-{objective}"],
            after=(*STAGE_AFTER[f"train-{objective}"],
                   *(("annotation",) if cfg.with_annotation else ())))["model"]
    return trained


def _fit_critic_stage(stages: Stages, cfg: DemoConfig, base: str, trained: dict[str, str],
                      log: Callable[[str], None]) -> None:
    """The critic's combiner (``rhf eval fit-critic``), fitted on its validation records with
    the base as the verifier and stored in its ``critic.json``."""
    if not cfg.combine_critic:
        return
    from eval.critic_combiner import VALIDATION_FILE, VerifierSettings, fit_combiner
    from inference.backends import Backend

    critic = trained.get("critic") or trained["multitask"]
    if not (Path(critic) / VALIDATION_FILE).is_file():
        log(f"[critic] {critic} has no validation records ({VALIDATION_FILE}; its run did "
            "not validate): no combiner, Table 2 shows the learned critic alone")
        return
    settings = VerifierSettings(base, samples=cfg.verifier_samples)

    def fit() -> dict[str, Any]:
        load = {"batch_size": cfg.batch_size, "device": cfg.device, "dtype": cfg.dtype}
        combiner = fit_combiner(critic, Backend.load(critic, **load),
                                Backend.load(base, **load), settings, cfg.batch_size, log)
        return {"critic": critic, "tasks": sorted(combiner["tasks"])}

    stages.run("fit-critic", {"critic": critic, "verifier": asdict(settings)}, fit,
               code=STAGE_CODE["fit-critic"],
               after=(*STAGE_AFTER["fit-critic"], *(("train-critic",) if cfg.separate_critic
                                                     else ())))


def _eval_stage(stages: Stages, cfg: DemoConfig, base: str, chains: dict[str, Any],
                trained: dict[str, str], out: Path, log: Callable[[str], None]) -> None:
    """Every method evaluated on both dev sets, with calibration; writes the report."""
    from eval.config import EvalConfig
    from eval.runner import run_eval

    eval_cfg = EvalConfig.of(
        model=trained["multitask"], refine_model=trained["refine"], base_model=base,
        critic_model=trained.get("critic"),
        out=out, seeds=cfg.seeds, limit=cfg.limit, k=cfg.k, n=cfg.n, rounds=cfg.rounds,
        refine_rule=cfg.refine_rule, detection_baselines=cfg.detection_baselines,
        max_new_tokens=cfg.max_new_tokens, calibration_limit=cfg.calibration_limit,
        batch_size=cfg.batch_size, threads=cfg.threads, device=cfg.device, dtype=cfg.dtype,
        extra={"demo": {**{k: str(v) if isinstance(v, Path) else v
                          for k, v in asdict(cfg).items()},
                        "base_record": read_record(base),
                        "pilot_parse_rate": {t: chains[f"{t}_parse_rate"] for t in PAPER_TASKS}}},
    )
    eval_key = repr(eval_cfg)  # before the stages' provenance joins the report
    eval_cfg.extra["demo"]["stages"] = stages.provenance()
    stages.run("eval", {"eval": eval_key, "models": trained},
               lambda: {"report": str(out / "report.json"),
                        "methods": sorted(run_eval(eval_cfg, log=log).get("accuracy", {}))},
               code=STAGE_CODE["eval"],
               after=(*STAGE_AFTER["eval"], *(("train-critic",) if cfg.separate_critic
                                               else ())))


def _say_summary(stages: Stages, chains: dict[str, Any], out: Path, total: float,
                 report: dict[str, Any], log: Callable[[str], None]) -> None:
    """The stage times, the pilot's parse rates, where the report is, and its table."""
    log("")
    log("stage times: " + ", ".join(
        f"{n} " + (f"reused from {t['commit'] or 'an unknown commit'}" if t["cached"]
                   else f"{t['seconds']:.0f} s")
        for n, t in stages.times.items()) + f"; total {total:.0f} s")
    log("pilot chains parse rate: " + ", ".join(
        f"{t} {chains[f'{t}_parse_rate']:.0%}" for t in PAPER_TASKS))
    log(f"report: {out / 'report.md'} (and report.json, plots in {out})")
    log("")
    log(headline_table(report))


def headline_table(report: dict[str, Any]) -> str:
    """The methods-by-tasks accuracy table of a report, as plain text."""
    summary = report.get("accuracy", {})
    tasks = [t for t in PAPER_TASKS if any(t in v for v in summary.values())]
    lines = [f"{'method':<12}" + "".join(f"{t:>24}" for t in tasks)]
    for method, per_task in summary.items():
        cells = []
        for t in tasks:
            s = per_task.get(t)
            cells.append(f"{100 * s['mean']:>17.1f} ± {100 * s['std']:.1f}" if s else f"{'-':>24}")
        lines.append(f"{method:<12}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def apply_quick(cfg: DemoConfig) -> DemoConfig:
    """Shrink every stage so the whole loop runs in about a minute (tests)."""
    cfg.pretrain = PretrainConfig(size="tiny", synthetic_sports=64, strategyqa_repeats=1,
                                  epochs=1.0, batch_size=16, max_pairs=64)
    cfg.pilot = 2
    cfg.limit = 3
    cfg.seeds = (0,)
    cfg.calibration_limit = 8
    cfg.n = 2
    cfg.rounds = 2
    cfg.max_new_tokens = 16
    cfg.combine_critic = False  # the quick trainings do not validate: nothing to fit on
    cfg.train_overrides = {"train.max_steps": 2, "data.max_records": 64,
                           "train.save_every": 0, "train.eval_every": 0,
                           "train.validate": False, "train.select_by": "", "train.patience": 0,
                           "data.replay": "", "data.replay_share": 0.0}
    return cfg
