"""Feedback exported to the training formats of the ecosystem (TRL's dataset types).

Field names follow TRL's "Dataset formats and types" guide (standard, not conversational):

  sft           prompt / completion            question -> corrected chain
  sft-critique  prompt / completion / task     as sft, plus the critique rows (chain -> error
                                               types; chain -> description), marked by ``task``
  kto           prompt / completion / label    original chain (False when an error was
                                               found, else True); corrected chain (True)
  dpo           prompt / chosen / rejected     corrected vs original chain, only where they
                                               differ in answer or steps
  prm           prompt / completions / labels  the original chain's steps; False from the
                                               first wrong step on (stepwise supervision)
  processbench  id / generator / problem /     ProcessBench's fields; label = 0-based index
                steps / final_answer_correct / of the first wrong step, -1 when none
                label

Every builder is a pure function returning the rows and an :class:`ExportReport` that counts
the records it left out and why; each is registered, with its name, help and whether it takes
the contradicting-corrections policy, in :mod:`feedback_data.exports.formats`. Records the
data layer flags as unusable (empty correction, "none" with error types) are left out of
every format. A correction that contradicts the gold
answer is, under the default ``drop`` policy (``--contradicting-corrections``), no SFT answer
row, no KTO "True" row and no DPO "chosen"; its critique rows and its original chain stay.

Step policy (prm, processbench): :mod:`feedback_data.text.step_policy` (step ratings, marked error
steps, then the steps the error descriptions name); the summary counts each source.

The prompts are rhf's own instructions (the text ``rhf eval --method multitask`` asks), so a
model trained elsewhere on these rows can be evaluated by rhf.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedback_data.records.consistency import (
    CONTRADICTS_GOLD,
    EXCLUDING_FLAGS,
    check_policy,
    consistency_flags,
    contradicts_gold,
)
from feedback_data.records.schema import FeedbackItem
from feedback_data.text.answers import answers_match
from feedback_data.text.instructions import (
    answer_prompt,
    description_prompt,
    description_text,
    error_types_prompt,
    error_types_text,
)
from feedback_data.text.step_policy import step_label, step_labels


class ExportError(ValueError):
    """A format or output the export cannot write."""


@dataclass
class ExportReport:
    """What an export wrote and what it left out, with the reason for each."""

    format: str
    records: int = 0
    rows: int = 0
    left_out: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    step_sources: Counter[str] = field(default_factory=Counter)  # prm/processbench rows
    unlocated: Counter[str] = field(default_factory=Counter)  # the description parser's why

    def summary(self) -> str:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(self.left_out.items())) or "none"
        text = f"{self.format}: {self.rows} rows from {self.records} records; left out: {why}"
        if self.step_sources:
            text += ("\nfirst wrong step from: " + ", ".join(
                f"{k}: {v}" for k, v in sorted(self.step_sources.items()))
                + f" (the error descriptions labelled {self.step_sources['descriptions']})")
        if self.unlocated:
            text += ("\nerrors_without_step, by the description parser's reason: " + ", ".join(
                f"{k}: {v}" for k, v in self.unlocated.most_common()))
        return text + "".join(f"\nnote: {n}" for n in self.notes)


ONLY_CORRECT_NOTE = ("no row has a wrong step: every labelled chain is error-free (the "
                     "feedback names error types but not the steps; annotate error steps to "
                     "give a process reward model negatives)")


def completion(text: str) -> str:
    """A completion starts with a space, as it follows the prompt's 'A:' (TRL's convention)."""
    return " " + " ".join(text.split())


def _unusable(item: FeedbackItem) -> str | None:
    """The first flag that makes a record unusable as a target, if any."""
    for flag in consistency_flags(item):
        if flag in EXCLUDING_FLAGS:
            return f"inconsistent:{flag}"
    return None


def _usable(items: Iterable[FeedbackItem], report: ExportReport) -> list[FeedbackItem]:
    kept = []
    for item in items:
        report.records += 1
        reason = _unusable(item)
        if reason:
            report.left_out[reason] += 1
        else:
            kept.append(item)
    return kept




def _drops(item: FeedbackItem, contradicting: str, report: ExportReport, row: str) -> bool:
    """True (and counted) when ``item``'s correction may not be a target under the policy."""
    if contradicting == "drop" and contradicts_gold(item):
        report.left_out[f"{CONTRADICTS_GOLD} ({row})"] += 1
        return True
    return False


def _policy_note(report: ExportReport, contradicting: str) -> None:
    report.notes.append(f"contradicting corrections: {contradicting}"
                        + (" (no target from a correction whose answer contradicts the gold "
                           "answer)" if contradicting == "drop" else " (used as targets)"))


def build_sft(items: Iterable[FeedbackItem], critiques: bool = False,
              contradicting: str = "drop") -> tuple[list[dict[str, Any]], ExportReport]:
    """question -> corrected chain; with ``critiques`` also chain -> error types and
    chain -> description rows, each row marked by ``task``."""
    check_policy(contradicting)
    report = ExportReport("sft-critique" if critiques else "sft")
    rows: list[dict[str, Any]] = []
    for item in _usable(items, report):
        q, chain, fb = item.example.question, item.chain.text, item.feedback
        row = {"prompt": answer_prompt(q), "completion": completion(fb.correction.text)}
        drop = _drops(item, contradicting, report, "answer row")
        if not critiques:
            if not drop:
                rows.append(row)
            continue
        rows += [] if drop else [{**row, "task": "answer"}]
        rows += [
            {"prompt": error_types_prompt(q, chain),
             "completion": completion(error_types_text(fb.error_types)), "task": "error_types"},
            {"prompt": description_prompt(q, chain),
             "completion": completion(description_text(fb.reasons, fb.error_types)),
             "task": "description"},
        ]
    report.rows = len(rows)
    _policy_note(report, contradicting)
    return rows, report


def build_sft_critique(items: Iterable[FeedbackItem], contradicting: str = "drop"
                       ) -> tuple[list[dict[str, Any]], ExportReport]:
    """The sft rows plus the critique rows (chain -> error types, chain -> description)."""
    return build_sft(items, critiques=True, contradicting=contradicting)


def _same_chain(item: FeedbackItem) -> bool:
    """The correction has the chain's answer and steps (up to whitespace)."""
    norm = lambda steps: [" ".join(s.split()) for s in steps]  # noqa: E731
    corr = item.feedback.correction
    return corr.answer == item.chain.answer and norm(corr.steps) == norm(item.chain.steps)


def build_kto(items: Iterable[FeedbackItem], contradicting: str = "drop"
              ) -> tuple[list[dict[str, Any]], ExportReport]:
    """Unpaired preference: the original chain, labelled False when the annotator found an
    error (else True), and the corrected chain, True. A correction identical to the chain
    (answer and steps) is not repeated."""
    check_policy(contradicting)
    report = ExportReport("kto")
    rows: list[dict[str, Any]] = []
    for item in _usable(items, report):
        fb = item.feedback
        prompt = answer_prompt(item.example.question)
        rows.append({"prompt": prompt, "completion": completion(item.chain.text),
                     "label": not fb.error_types})
        if _same_chain(item):
            report.left_out["correction_same_as_chain (row)"] += 1
        elif not _drops(item, contradicting, report, "True row"):
            rows.append({"prompt": prompt, "completion": completion(fb.correction.text),
                         "label": True})
    report.rows = len(rows)
    _policy_note(report, contradicting)
    return rows, report


def build_dpo(items: Iterable[FeedbackItem], contradicting: str = "drop"
              ) -> tuple[list[dict[str, Any]], ExportReport]:
    """Preference pairs: chosen = corrected chain, rejected = original chain, only where the
    two differ in their answer or steps."""
    check_policy(contradicting)
    report = ExportReport("dpo")
    rows: list[dict[str, Any]] = []
    for item in _usable(items, report):
        if _same_chain(item):
            report.left_out["correction_same_as_chain"] += 1
            continue
        if _drops(item, contradicting, report, "pair"):
            continue
        rows.append({"prompt": answer_prompt(item.example.question),
                     "chosen": completion(item.feedback.correction.text),
                     "rejected": completion(item.chain.text)})
    report.rows = len(rows)
    _policy_note(report, contradicting)
    return rows, report


def _located_rows(items: Iterable[FeedbackItem], report: ExportReport, neutral_is_correct: bool,
                  row: Callable[[FeedbackItem, int], dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per usable record whose first wrong step is known (-1: none); the others are
    counted in ``report.left_out`` by reason."""
    rows: list[dict[str, Any]] = []
    for item in _usable(items, report):
        label = step_label(item, neutral_is_correct)
        if label.first_wrong is None:
            report.left_out[label.why or "unknown"] += 1
            if label.description_why:
                report.unlocated[label.description_why] += 1
            continue
        report.step_sources[label.source or "unknown"] += 1
        rows.append(row(item, label.first_wrong))
    report.rows = len(rows)
    return rows


def build_prm(items: Iterable[FeedbackItem], neutral_is_correct: bool = True
              ) -> tuple[list[dict[str, Any]], ExportReport]:
    """Stepwise supervision on the reviewed chain: its steps and one bool label per step."""
    report = ExportReport("prm")
    rows = _located_rows(items, report, neutral_is_correct, lambda item, first: {
        "prompt": answer_prompt(item.example.question), "completions": list(item.chain.steps),
        "labels": step_labels(len(item.chain.steps), first)})
    if rows and all(all(r["labels"]) for r in rows):
        report.notes.append(ONLY_CORRECT_NOTE)
    return rows, report


def build_processbench(items: Iterable[FeedbackItem], neutral_is_correct: bool = True
                       ) -> tuple[list[dict[str, Any]], ExportReport]:
    """ProcessBench's fields: the question, the chain's steps, the first wrong step (or -1)."""
    report = ExportReport("processbench")
    rows = _located_rows(items, report, neutral_is_correct, lambda item, first: {
        "id": item.feedback.id, "generator": item.chain.model,
        "problem": item.example.question, "steps": list(item.chain.steps),
        "final_answer_correct": answers_match(item.example, item.chain.answer,
                                              item.example.answer), "label": first})
    if rows and all(r["label"] == -1 for r in rows):
        report.notes.append(ONLY_CORRECT_NOTE)
    return rows, report


def write_rows(rows: list[dict[str, Any]], out: str | Path) -> str:
    """JSONL when ``out`` ends in .jsonl, else a Hugging Face dataset folder (save_to_disk).

    Both are written beside ``out`` first and renamed into place, so a failed export leaves
    nothing half-written. Returns "jsonl" or "hf".
    """
    from feedback_data.records.jsonl import write_records

    out = Path(out)
    if out.suffix == ".jsonl":
        write_records(out, rows)
        return "jsonl"
    from datasets import Dataset

    from feedback_data.files.io import atomic_folder
    from feedback_data.records.hf_dataset import is_saved_dataset

    if not rows:
        raise ExportError(f"{out}: no rows to write (a dataset folder needs at least one)")
    with atomic_folder(out, ours=is_saved_dataset) as staged:
        Dataset.from_list(rows).save_to_disk(str(staged))
    return "hf"


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file or a dataset folder written by :func:`write_rows`."""
    path = Path(path)
    if path.suffix == ".jsonl":
        from feedback_data.records.jsonl import iter_json_lines

        return [obj for _, obj in iter_json_lines(path)]
    from datasets import load_from_disk

    return [dict(r) for r in load_from_disk(str(path))]
