"""The end of a run: ``final/`` (the best evaluation's weights with ``train.select_by``, else
the last step's), its model card, run.json's closing fields, and the critic's reading fitted
on the validation rows of each folder it holds (``final/``, ``critic/``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from feedback_data.files.io import write_text
from training.recipe.model_card import write_card
from training.recipe.validation import Selection, Validator
from training.run import checkpoint as ckpt
from training.run.config import RecipeConfig, to_dict


def save_final(cfg: RecipeConfig, run_dir: Path, accelerator: Any, model: Any,
               tokenizer: Any, step: int, selection: Selection | None) -> Path:
    """Close run.json at ``step`` and write ``final/`` (the best evaluation's ``best/``
    promoted, when there is one); returns it."""
    t, say = cfg.train, accelerator.print
    if accelerator.is_main_process:
        update_run_json(run_dir, {"final_step": step, "validation": {
            "select_by": t.select_by or None, **(selection.state() if selection else {})}})
    accelerator.wait_for_everyone()
    if selection is not None and (run_dir / ckpt.BEST).is_dir():
        final = ckpt.promote_best(run_dir, accelerator)
        say(f"final/ is the best {t.select_by} ({selection.best:.4f}, step "
            f"{selection.best_step})")
    else:
        final = ckpt.save_final(run_dir, accelerator, model, tokenizer)
    return final


def write_readings(cfg: RecipeConfig, reads_critic: bool, run_dir: Path, final: Path,
                   summary: dict[str, Any], validator: Validator | None,
                   critic_rows: dict[str, list[Any]],
                   critic_selection: Selection | None) -> None:
    """The model card of ``final``, and the critic's reading in each folder whose
    evaluation's validation rows are in ``critic_rows`` (main process only)."""
    write_card(final, run_dir, to_dict(cfg), summary)
    if validator is None or not reads_critic:
        return
    readings = {}
    for folder, rows in sorted(critic_rows.items()):
        if rows and (run_dir / folder).is_dir():
            readings[folder] = store_reading(run_dir / folder, validator, rows, cfg.train)
    if readings:
        update_run_json(run_dir, {"critic_reading": readings})
        if critic_selection is not None:
            update_run_json(run_dir, {"critic_validation": critic_selection.state()})


def store_reading(folder: Path, validator: Validator, rows: list[Any], t: Any
                  ) -> dict[str, Any]:
    """Choose the label scoring and fit the temperature on the validation rows of the
    evaluation ``folder`` holds; write ``critic.json`` there and the rows beside it."""
    from feedback_data.text.critic_labels import write_reading
    from training.recipe.validation import fit_reading

    gold = [not i.feedback.error_types for i in validator.critic_items]
    reading, info = fit_reading(rows, validator.first_ids, gold, t.critic_scoring,
                                t.fit_temperature, validator.label_words)
    write_reading(folder, reading, info)
    write_text(folder / "critic_validation.json", json.dumps(
        {"first_ids": validator.first_ids, "no_error": gold, "real": len(validator.items),
         "tasks": [i.example.task for i in validator.critic_items], "rows": rows,
         # the real held-out records, whole: what a combiner is fitted on (rhf eval fit-critic)
         "items": [i.model_dump(mode="json") for i in validator.items]}) + "\n")
    if (folder / ckpt.MANIFEST_FILE).is_file():  # checkable: `rhf train verify`
        for rel in ("critic.json", "critic_validation.json"):
            ckpt.update_manifest(folder, rel)
    return {**reading.as_dict(), **info}


def update_run_json(run_dir: Path, fields: dict[str, Any]) -> None:
    """Add ``fields`` to the run's run.json (atomically)."""
    path = run_dir / "run.json"
    info = json.loads(path.read_text(encoding="utf-8"))
    info.update(fields)
    write_text(path, json.dumps(info, indent=2) + "\n")
