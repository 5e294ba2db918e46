"""`infer(...)`: answer questions with one method, write the predictions, return a summary.

The library function behind `rhf infer` (pipeline/infer_cli.py, which parses the options and
prints). Questions come from a task's split or a JSONL of questions; predictions are written
as JSONL with a ``.run.json`` beside them; accuracy against the gold answers is computed over
the questions that have one. Under a data-parallel launch every process computes its share
and the main process writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inference.dispatch import Method, MethodParams, check_method, run_method
from inference.methods import Prediction

# Accuracy of predictions against gold answers (the command passes eval.metrics.accuracy).
Scorer = Callable[[Sequence[str | None], Sequence[str]], float]


class InferFailed(Exception):
    """What stopped an inference run, as the one line to show (nothing was written)."""


@dataclass(frozen=True)
class InferModels:
    """The checkpoints of a run: ``model`` answers (for cot the base model); ``base_model``
    writes refine's first chains; ``critic_model`` reads chains where a method asks for
    P(no error) (default: ``model``)."""

    model: str | None
    base_model: str | None = None
    critic_model: str | None = None


def infer(method: str, models: InferModels, params: MethodParams, *, task: str = "strategyqa",
          split: str = "dev", examples_file: Path | None = None, limit: int | None = None,
          out: Path = Path("runs/predictions.jsonl"), device: str = "auto",
          dtype: str = "auto", score: Scorer | None = None) -> dict[str, Any] | None:
    """Answer the questions with ``method`` and write ``out`` (one prediction per line) and
    its ``.run.json``; the summary (counts, and accuracy by ``score``, e.g.
    eval.metrics.accuracy, over the labelled questions), or None on a process other than the
    main one. Every refusal is an :class:`InferFailed` with the one line to show."""
    from feedback_data.errors import DataError
    from feedback_data.files.disk_full import DiskFull
    from feedback_data.tasks.registry import get_task
    from inference.backends import ModelLoadError
    from inference.run_options import check_precision
    from inference.sharding import LaunchAborted, current

    dp = current()
    entry = _checked(method, models, params)
    try:
        check_precision(device, dtype, dp)
        spec = get_task(task)
        examples = _questions(spec, split, examples_file, limit, entry, models, params)
        loaded = _load(models, entry, params, device, dtype, dp)
        preds = run_method(method, loaded["model"], examples, params,
                           base=loaded.get("base_model"), critic=loaded.get("critic_model"))
    except LaunchAborted as exc:
        raise InferFailed(f"{exc}; nothing was written") from exc
    except (DataError, ModelLoadError, ValueError) as exc:
        raise InferFailed(str(exc)) from exc
    if not dp.is_main:
        return None
    try:
        _write(out, method, models, examples, preds)
    except DiskFull as exc:  # one line: where, how much, and that OUT was left as it was
        raise InferFailed(str(exc)) from exc
    from inference.run_record import write_run_record

    write_run_record(out, f"infer --method {method}", loaded, dp.world,
                     {"method": method, "examples": len(examples), "limit": limit,
                      "task": task, "split": None if examples_file else split,
                      "examples_file": str(examples_file) if examples_file else None}
                     | asdict(params))
    summary = summarize(method, spec.name, examples, preds, out, score)
    note = summary.pop("note", None)
    summary |= {"dtype": loaded["model"].dtype, "num_processes": dp.world}
    return summary | ({"note": note} if note else {})


def _checked(method: str, models: InferModels, params: MethodParams) -> Method:
    """The method's entry, once the models it needs are named."""
    if models.model is None:
        raise InferFailed("--model is required")
    try:
        entry = check_method(method, params.refine_keep)
    except ValueError as exc:
        raise InferFailed(str(exc)) from exc
    if entry.needs_base and models.base_model is None:
        raise InferFailed(f"--base-model is required for {method} (the model writing the "
                          "first chains; no model stands in for another)")
    return entry


def _questions(spec: Any, split: str, examples_file: Path | None, limit: int | None,
               entry: Method, models: InferModels, params: MethodParams) -> list:
    """The questions to answer; a method with shots checks them before any model loads."""
    from feedback_data.tasks.loaders import read_questions
    from inference.chains import select_examples

    examples = (read_questions(examples_file, spec) if examples_file
                else select_examples(spec.name, split))[:limit]
    if not examples:
        raise ValueError("no questions to answer (check --examples, --split and --limit)")
    if "k" in entry.params:  # too few or too long shots: before any model loads
        from feedback_data.tasks.prompts import default_shots
        from inference.shot_budget import check_shot_budget

        check_shot_budget(models.base_model if entry.needs_base else models.model, spec.name,
                          examples, default_shots(spec.name, params.k, seed=params.seed))
    return examples


def _load(models: InferModels, entry: Method, params: MethodParams, device: str, dtype: str,
          dp: Any) -> dict[str, Any]:
    """The loaded models by role (model, base_model, critic_model); one spec loads once."""
    from inference.backends import Backend

    def load(spec: str) -> Backend:
        return Backend.load(spec, batch_size=params.batch_size, device=device, dtype=dtype,
                            data_parallel=dp)

    backend = load(str(models.model))
    loaded: dict[str, Any] = {"model": backend}
    if entry.needs_base:
        loaded["base_model"] = backend if models.base_model == models.model else load(
            str(models.base_model))
    if models.critic_model is not None:
        loaded["critic_model"] = backend if models.critic_model == models.model else load(
            models.critic_model)
    if entry.name == "wsc_soft" or (entry.name == "refine" and "critic_model" in loaded
                                    and params.refine_rule == "threshold"):
        # the P(no error) these read is the combined critic's when the critic's checkpoint
        # holds a combiner (`rhf eval fit-critic`); its verifier is a model already loaded
        # when it names one
        from inference.combined_critic import with_combiner

        by_spec = {str(models.model): backend, str(models.base_model): loaded.get("base_model")}
        reader = loaded.get("critic_model", backend)
        critic = with_combiner(reader, lambda spec: by_spec.get(str(spec)) or load(str(spec)),
                               params.batch_size)
        if critic is not reader:
            loaded["critic_model"] = critic
    return loaded


def _write(out: Path, method: str, models: InferModels, examples: list,
           preds: list[Prediction]) -> None:
    from feedback_data.records.jsonl import write_records

    write_records(out, [{"example_id": ex.id, "task": ex.task, "question": ex.question,
                         "gold": ex.answer, "answer": p.answer, "text": p.text, "meta": p.meta,
                         "method": method, "model": models.model}
                        for ex, p in zip(examples, preds, strict=True)])


def summarize(method: str, task: str, examples: list, preds: list[Prediction], out: Path,
              score: Scorer | None = None) -> dict[str, Any]:
    """Counts, and accuracy (by ``score``) over the questions with a gold answer (the others
    are answered, not scored, and a note says so)."""
    from feedback_data.text.answers import answers_match

    scored = [(ex, p) for ex, p in zip(examples, preds, strict=True) if ex.answer is not None]
    summary: dict[str, Any] = {
        "method": method, "task": task, "examples": len(examples), "labelled": len(scored),
        "accuracy": None, "unparsed": sum(p.answer is None for p in preds), "out": str(out),
        "prompts_lost_shots": sum(bool(p.meta.get("shots_dropped")) for p in preds)}
    if scored and score is not None:
        # the scorer compares strings; a gold alias (free-form) counts as the gold answer.
        summary["accuracy"] = score(
            [ex.answer if answers_match(ex, p.answer, ex.answer) else p.answer
             for ex, p in scored], [ex.answer for ex, _ in scored])
    if len(scored) < len(examples):
        summary["note"] = (f"{len(examples) - len(scored)} of {len(examples)} questions have "
                           "no gold answer: answered, not scored"
                           + ("; accuracy not computed" if not scored else ""))
    return summary
