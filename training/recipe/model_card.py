"""The model card, ``final/README.md``, written with :class:`huggingface_hub.ModelCard`.

Written when a run finishes (:func:`write_card`) from the run's record (``run.json``,
``config.yaml``) and its totals (:meth:`training.run.metrics_log.MetricsLogger.summary`): base
model, objective, feedback sources and counts, the contradicting-corrections policy, the
training config, steps, tokens and time, validation metrics, intended use and limits, the
commit. What a run did not record is written "not recorded", never guessed.
``rhf eval --update-card`` appends its headline numbers (:func:`append_results`). Each write
is atomic and updates ``final/manifest.json``, so ``rhf train verify`` still passes.

The YAML header holds the Hub's fields (``base_model``, ``library_name``, ``pipeline_tag``,
``tags``, and after an evaluation ``model-index``) and an ``rhf`` block with the same facts
as the text, for programs: ``ModelCard.load(path).data.rhf``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from feedback_data.files.io import write_text
from training.run.checkpoint import update_manifest

CARD_FILE = "README.md"
NOT_RECORDED = "not recorded"
SOURCES = ("human", "imported", "simulated")
_OBJECTIVES = {
    "multitask": "multitask fine-tuning on rich feedback: question -> corrected answer and "
                 "explanation; question + chain -> error types; question + chain -> error "
                 "description",
    "refine": "refinement: question + chain -> 'error types ; corrected answer and "
              "explanation' ('no error ; <the chain>' for a chain without error)",
}
_USES = {
    "multitask": "answering yes/no multi-hop questions with an explanation (`rhf infer "
                 "--method multitask`), weighted self-consistency (`--method wsc`), and "
                 "naming the error types of a reasoning chain (a critic for `rhf annotate "
                 "push --order uncertainty` and error-detection calibration)",
    "refine": "iterative refinement of a reasoning chain (`rhf infer --method refine`): the "
              "model names the chain's errors and rewrites it",
}
LIMITS = (
    "Research use: studying how rich human feedback (corrections, error types, error "
    "descriptions) on model-written reasoning chains improves a model's reasoning "
    "(Joshi et al., 2023). Trained on English StrategyQA and BIG-bench Sports "
    "Understanding questions only; answers outside that distribution are not evaluated. "
    "Its explanations can state false facts fluently and its critic can name errors that "
    "are not there: check the numbers of `rhf eval` (below when appended) before relying on "
    "it, and never use it as a source of facts. A model fine-tuned for minutes, such as the "
    "demo's, shows the pipeline working, not what the method achieves.")


def _value(x: Any) -> Any:
    return NOT_RECORDED if x is None else x


def _read_json(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _local(spec: str) -> bool:
    return Path(spec).exists()


def _cell(v: Any) -> str:
    """A table cell: a mapping as 'a 20, b 3' ('none' when empty)."""
    if isinstance(v, dict):
        return ", ".join(f"{k} {x}" for k, x in v.items()) or "none"
    return str(v)


def _table(rows: Sequence[tuple[str, Any]], head: tuple[str, str] = ("", "")) -> list[str]:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    return lines + [f"| {k} | {_cell(v)} |" for k, v in rows]


def card_facts(run: dict[str, Any], config: dict[str, Any], summary: dict[str, Any]
               ) -> dict[str, Any]:
    """The facts of the card (the ``rhf`` block of its YAML header)."""
    counts = run.get("counts") or {}
    sources = counts.get("sources")
    contradicting = counts.get("contradicting_corrections")
    validation = run.get("validation")
    return {
        "objective": run.get("objective") or config.get("objective"),
        "base_model": run.get("model") or (config.get("model") or {}).get("name_or_path"),
        "git_commit": _value(run.get("git_commit")),
        "seed": _value(run.get("seed")),
        "feedback_sources": {s: int(sources.get(s, 0)) for s in SOURCES}
        if isinstance(sources, dict) else NOT_RECORDED,
        "records": {k: counts[k] for k in ("records_total", "records_left_out",
                                           "records_train", "records_eval") if k in counts},
        "contradicting_corrections": contradicting if isinstance(contradicting, dict)
        else NOT_RECORDED,
        "steps": summary.get("steps"),
        "tokens": summary.get("tokens"),
        "train_seconds": summary.get("train_seconds"),
        "validation": validation if isinstance(validation, dict) and validation
        else NOT_RECORDED,
        "held_out_loss": {k: round(v, 4) for k, v in summary["last_eval"].items()}
        if summary.get("last_eval") else NOT_RECORDED,
    }


def render_card(run: dict[str, Any], config: dict[str, Any], summary: dict[str, Any]) -> Any:
    """A :class:`huggingface_hub.ModelCard` for a finished run."""
    from huggingface_hub import ModelCard, ModelCardData

    facts = card_facts(run, config, summary)
    objective, base = facts["objective"], facts["base_model"] or NOT_RECORDED
    lora = bool((config.get("model") or {}).get("lora_r"))
    decoder_only = bool(run.get("decoder_only"))
    data = ModelCardData(
        base_model=None if _local(str(base)) or base == NOT_RECORDED else base,
        library_name="peft" if lora else "transformers",
        pipeline_tag="text-generation" if decoder_only else "text2text-generation",
        language="en",
        tags=["rhf", "rich-human-feedback", "reasoning", str(objective)] + (
            ["lora"] if lora else []),
        rhf=facts)
    lines = [f"# {objective} model trained with rhf on rich human feedback", "",
             f"Fine-tuned from `{base}` by `rhf train --objective {objective}` at commit "
             f"`{facts['git_commit']}`, seed {facts['seed']}. Objective: "
             f"{_OBJECTIVES.get(str(objective), objective)}.", ""]
    lines += _data_section(facts, run.get("counts") or {})
    lines += _training_section(facts, run, config)
    lines += _validation_section(facts)
    lines += ["## Intended use and limits", "",
              f"Intended use: {_USES.get(str(objective), 'see rhf')}.", "", LIMITS, ""]
    lines += ["## Provenance", "",
              f"Code: the rhf toolkit at commit `{facts['git_commit']}`. This folder's "
              "`run.json` and `config.yaml` are the run's record; `manifest.json` holds the "
              "sha256 of every file (`rhf train verify` checks them).", ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))


def _data_section(facts: dict[str, Any], counts: dict[str, Any]) -> list[str]:
    """The card's training data: feedback by source, records, the contradiction policy."""
    lines = ["## Training data", ""]
    if isinstance(facts["feedback_sources"], dict):
        lines += ["Feedback records used (after the consistency filter), by source:", ""]
        lines += _table([(s, facts["feedback_sources"][s]) for s in SOURCES],
                        ("source", "records"))
        lines.append("")
    else:
        lines += [f"Feedback sources: {NOT_RECORDED}.", ""]
    if facts["records"]:
        lines += _table([(k.replace("_", " "), v) for k, v in facts["records"].items()]
                        + [("left out, by flag", counts.get("left_out_flags") or {}),
                           ("training pairs by term", counts.get("pairs_train_by_term") or {})],
                        ("records", "count"))
        lines.append("")
    cc = facts["contradicting_corrections"]
    if isinstance(cc, dict):
        policy = cc.get("policy", NOT_RECORDED)
        rest = ", ".join(f"{k} {v}" for k, v in cc.items() if k != "policy")
        lines += [f"Corrections whose answer contradicts the gold answer: policy "
                  f"**{policy}**" + (f" ({rest})" if rest else "") + ".", ""]
    else:
        lines += [f"Corrections whose answer contradicts the gold answer: policy "
                  f"{NOT_RECORDED}.", ""]
    return lines


def _training_section(facts: dict[str, Any], run: dict[str, Any], config: dict[str, Any]
                      ) -> list[str]:
    """The card's training: steps, tokens, time, world, schedule, and the whole config."""
    t = config.get("train") or {}
    lines = ["## Training", ""]
    hours = (facts["train_seconds"] or 0) / 3600
    lines += _table([
        ("optimizer steps", facts["steps"]),
        ("tokens trained on (source + target, padding excluded)", f"{facts['tokens']:,}"
         if isinstance(facts["tokens"], int) else NOT_RECORDED),
        ("time in training steps", f"{facts['train_seconds']} s ({hours:.2f} h)"),
        ("processes / distributed type", f"{run.get('num_processes', NOT_RECORDED)} / "
                                          f"{run.get('distributed_type', NOT_RECORDED)}"),
        ("mixed precision", run.get("mixed_precision", NOT_RECORDED)),
        ("parameters trained / total", "{trainable:,} / {total:,}".format(
            **run["parameters"]) if "parameters" in run else NOT_RECORDED),
        ("learning rate, schedule", f"{t.get('lr')}, {t.get('scheduler')}"),
        ("epochs / max steps", f"{t.get('epochs')} / {t.get('max_steps')}"),
        ("batch size x accumulation (max tokens)",
         f"{t.get('batch_size')} x {t.get('grad_accum')} ({t.get('max_tokens')})"),
        ("started", run.get("started", NOT_RECORDED)),
    ], ("", ""))
    return lines + ["", "The full training config (`config.yaml`):", "", "```yaml",
                    yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]


def _validation_section(facts: dict[str, Any]) -> list[str]:
    """The card's validation metrics and held-out loss."""
    lines = ["## Validation", ""]
    if isinstance(facts["validation"], dict):
        lines += _table([(k, v) for k, v in facts["validation"].items()], ("metric", "value"))
    else:
        lines.append(f"Validation during training: {NOT_RECORDED}.")
    lines.append("")
    if isinstance(facts["held_out_loss"], dict):
        lines += ["Held-out loss at the end of training (token-mean cross-entropy):", ""]
        lines += _table([(k, round(v, 4)) for k, v in facts["held_out_loss"].items()],
                        ("metric", "value"))
        lines.append("")
    return lines


def _save(card: Any, folder: Path) -> Path:
    path = folder / CARD_FILE
    write_text(path, str(card))
    if (folder / "manifest.json").is_file():
        update_manifest(folder, CARD_FILE)
    return path


def write_card(final: Path, run_dir: Path, config: dict[str, Any],
               summary: dict[str, Any]) -> Path:
    """Write ``final/README.md`` for a finished run (main process only)."""
    final = Path(final)
    run = _read_json(final / "run.json") or _read_json(Path(run_dir) / "run.json")
    run = run | {"decoder_only": not _read_json(final / "config.json").get(
        "is_encoder_decoder", True)}
    return _save(render_card(run, config, summary), final)


@dataclass(frozen=True)
class Result:
    """One headline number of an evaluation, for the card's ``model-index``."""

    task: str  # "strategyqa"
    dataset: str  # "StrategyQA dev"
    metric: str  # "accuracy"
    value: float
    method: str  # "multitask"


def card_folder(spec: str | Path) -> Path | None:
    """The folder holding the model card of a model spec (RUN_DIR or RUN_DIR/final)."""
    path = Path(spec)
    for folder in (path / "final", path):
        if (folder / CARD_FILE).is_file() and (folder / "run.json").is_file():
            return folder
    return None


def append_results(folder: Path, results: Sequence[Result], section: str,
                   source: str = "rhf eval") -> Path:
    """Append ``section`` (Markdown) to the card in ``folder`` and set its ``model-index``
    to ``results``; atomic, manifest updated."""
    from huggingface_hub import EvalResult, ModelCard

    folder = Path(folder)
    card = ModelCard.load(folder / CARD_FILE)
    card.data.model_name = card.data.model_name or folder.resolve().parent.name
    card.data.eval_results = [
        EvalResult(task_type=card.data.pipeline_tag or "text2text-generation",
                   task_name=f"{r.method} ({r.task})", dataset_type=r.task,
                   dataset_name=r.dataset, dataset_split="dev" if "dev" in r.dataset
                   else None, metric_type=r.metric, metric_value=round(r.value, 4))
        for r in results] or None
    when = datetime.now(UTC).isoformat(timespec="seconds")
    card.text = card.text.rstrip() + f"\n\n## Evaluation ({source}, {when})\n\n" + \
        section.strip() + "\n"
    return _save(card, folder)
