"""`rhf infer --method M --model CKPT --task T`: answer questions with one method, batched.

Questions come from a task's dev set (``--split dev``, the default), its train questions
(``--split train``) or a JSONL of questions (``--examples``: Example records or plain
``{question[, id, answer, options]}`` objects). Predictions are written as JSONL; accuracy
against the gold answers is printed, over the questions that have one (questions without a
gold answer are answered, not scored, and the output says so).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from inference import method_options as mo
from inference.run_options import Device, Dtype

app = typer.Typer(help="Answer questions with one method of the method registry (cot, "
                       "multitask, wsc, wsc_soft, refine, ...).")



@app.callback(invoke_without_command=True)
def infer_command(
    ctx: typer.Context,
    method: Annotated[str, typer.Option(
        help="A registered method: cot, multitask, wsc, wsc_soft (an extension), refine, "
             "or any other added to inference.dispatch.METHOD_REGISTRY.")] = "multitask",
    model: Annotated[str | None, typer.Option(
        help="Checkpoint (hub id, folder or RUN_DIR) that answers; for cot the base model.")]
    = None,
    base_model: Annotated[str | None, typer.Option(
        help="refine: the base model writing the first chains (required for refine; pass "
             "--model's value to use the same model).")] = None,
    critic_model: Annotated[str | None, typer.Option(
        help="wsc, wsc_soft (and refine's critic rule where it has one): a separate critic "
             "checkpoint (rhf train --objective critic) that reads the chains; its "
             "critic.json (label scoring, temperature) is applied. Default: --model.")]
    = None,
    task: Annotated[str, typer.Option(
        help="A task name (strategyqa, sports_understanding, or one registered) or a task "
             "YAML file (docs/tasks.md).")] = "strategyqa",
    split: Annotated[str, typer.Option(help="dev, train or all (ignored with --examples).")]
    = "dev",
    examples_file: Annotated[Path | None, typer.Option(
        "--examples", help="JSONL of questions to answer instead of a split: Example records "
                           "or {question[, id, answer, explanation, options]}; without an "
                           "answer a question is answered, not scored.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    out: Annotated[Path, typer.Option(help="Predictions JSONL to write.")]
    = Path("runs/predictions.jsonl"),
    k: mo.K = mo.DEFAULTS.k,
    n: mo.N = mo.DEFAULTS.n,
    w: mo.W = mo.DEFAULTS.w,
    temperature: mo.Temperature = mo.DEFAULTS.temperature,
    rounds: mo.Rounds = mo.DEFAULTS.rounds,
    refine_keep: mo.RefineKeep = mo.DEFAULTS.refine_keep,
    seed: Annotated[int, typer.Option(help="Seed for sampling and shot choice.")] = 0,
    batch_size: mo.BatchSize = mo.DEFAULTS.batch_size,
    max_new_tokens: mo.MaxNewTokens = mo.DEFAULTS.max_new_tokens,
    wsc_batch_rows: mo.WscBatchRows = mo.DEFAULTS.wsc_batch_rows,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Answer questions with one method and write one prediction per line (and OUT's
    .run.json: models, dtype, device, processes, parameters).

    Data-parallel: `accelerate launch --num_processes N -m rhf_cli infer ...` gives the same
    predictions as one process; the main process writes.
    """
    if ctx.invoked_subcommand is not None:
        return
    from eval.metrics import accuracy
    from feedback_data.errors import DataError
    from feedback_data.files.disk_full import DiskFull
    from feedback_data.records.jsonl import write_records
    from feedback_data.tasks.loaders import read_questions
    from feedback_data.tasks.registry import get_task
    from feedback_data.text.answers import answers_match
    from inference.backends import Backend, ModelLoadError
    from inference.chains import select_examples
    from inference.dispatch import MethodParams, check_method, run_method
    from inference.run_options import check_precision, echo, fail_once
    from inference.run_record import write_run_record
    from inference.sharding import LaunchAborted, current

    dp = current()
    if model is None:
        fail_once(dp, "--model is required")
    try:
        entry = check_method(method, refine_keep)
    except ValueError as exc:
        fail_once(dp, str(exc))
    if entry.needs_base and base_model is None:
        fail_once(dp, f"--base-model is required for {method} (the model writing the first "
                      "chains; no model stands in for another)")
    try:
        check_precision(device, dtype, dp)
        spec = get_task(task)
        params = MethodParams(k=k, n=n, w=w, temperature=temperature, rounds=rounds,
                              refine_keep=refine_keep, seed=seed, batch_size=batch_size,
                              max_new_tokens=max_new_tokens, wsc_batch_rows=wsc_batch_rows)
        examples = (read_questions(examples_file, spec) if examples_file
                    else select_examples(spec.name, split))[:limit]
        if not examples:
            raise ValueError("no questions to answer (check --examples, --split and --limit)")
        if method in ("cot", "refine"):  # too few or too long shots: before any model loads
            from feedback_data.tasks.prompts import default_shots
            from inference.shot_budget import check_shot_budget

            check_shot_budget(base_model if method == "refine" else model, spec.name,
                              examples, default_shots(spec.name, k, seed=seed))

        def load(spec: str) -> Backend:
            return Backend.load(spec, batch_size=batch_size, device=device, dtype=dtype,
                                data_parallel=dp)

        backend = load(model)
        base = None
        if entry.needs_base:
            base = backend if base_model == model else load(base_model)
        critic = None
        if critic_model is not None:
            critic = backend if critic_model == model else load(critic_model)
        preds = run_method(method, backend, examples, params, base=base, critic=critic)
    except LaunchAborted as exc:
        fail_once(dp, f"{exc}; nothing was written")
    except (DataError, ModelLoadError, ValueError) as exc:
        fail_once(dp, str(exc))
    if not dp.is_main:
        return
    rows = [{"example_id": ex.id, "task": ex.task, "question": ex.question, "gold": ex.answer,
             "answer": p.answer, "text": p.text, "meta": p.meta, "method": method,
             "model": model} for ex, p in zip(examples, preds, strict=True)]
    try:
        write_records(out, rows)
    except DiskFull as exc:  # one line: where, how much, and that OUT was left as it was
        fail_once(dp, str(exc))
    write_run_record(out, f"infer --method {method}", {"model": backend} | (
        {"base_model": base} if base is not None else {}) | (
        {"critic_model": critic} if critic is not None else {}), dp.world,
        {"method": method, "examples": len(examples), "limit": limit, "task": task,
         "split": None if examples_file else split,
         "examples_file": str(examples_file) if examples_file else None} | asdict(params))
    scored = [(ex, p) for ex, p in zip(examples, preds, strict=True) if ex.answer is not None]
    summary: dict = {"method": method, "task": spec.name, "examples": len(examples),
                     "labelled": len(scored), "accuracy": None,
                     "unparsed": sum(p.answer is None for p in preds), "out": str(out),
                     "prompts_lost_shots": sum(bool(p.meta.get("shots_dropped"))
                                               for p in preds),
                     "dtype": backend.dtype, "num_processes": dp.world}
    if scored:
        # accuracy() compares strings; a gold alias (free-form) counts as the gold answer.
        summary["accuracy"] = accuracy(
            [ex.answer if answers_match(ex, p.answer, ex.answer) else p.answer
             for ex, p in scored], [ex.answer for ex, _ in scored])
    if len(scored) < len(examples):
        summary["note"] = (f"{len(examples) - len(scored)} of {len(examples)} questions have "
                           "no gold answer: answered, not scored"
                           + ("; accuracy not computed" if not scored else ""))
    echo(dp)(json.dumps(summary))
