"""Every method's predictions on one task's dev examples, per seed, reusing what repeats."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from eval.config import EvalConfig
from inference.methods import Prediction


class Models:
    """Load each distinct model once, on ``config.device`` in ``config.dtype``; under a
    data-parallel launch each process loads its own copy and runs its share of every batch
    plan (:mod:`inference.sharding`)."""

    def __init__(self, config: EvalConfig) -> None:
        from inference.sharding import current

        self.config = config
        self.cache: dict[str, Any] = {}
        self.dp = current()
        self._critic: Any = None

    def get(self, spec: str) -> Any:
        from inference.backends import Backend

        if spec not in self.cache:
            self.cache[spec] = Backend.load(spec, batch_size=self.config.params.batch_size,
                                            device=self.config.device, dtype=self.config.dtype,
                                            data_parallel=self.dp)
        return self.cache[spec]

    def critic(self) -> Any:
        """The critic the methods read (``config.critic``): a
        :class:`~inference.combined_critic.CombinedCritic` over it and its verifier when its
        ``critic.json`` holds a combiner (``rhf eval fit-critic``), else the learned critic.
        One instance, so the verifier's chains are written once per question."""
        from inference.combined_critic import with_combiner

        if self._critic is None:
            self._critic = with_combiner(self.get(self.config.critic), self.get,
                                         self.config.params.batch_size)
        return self._critic


# The built-in methods, whose runs below share work (cot's chains start refine, one wsc
# sampling pass serves wsc and wsc_soft); every other registered method runs on its own.
SHARED_WORK = ("cot", "multitask", "wsc", "wsc_soft", "refine")


def save_predictions(path: Path, examples: list, preds: list[Prediction]) -> None:
    """One JSON line per example, written atomically (a full disk leaves no half file)."""
    from feedback_data.records.jsonl import write_records

    write_records(path, [{"example_id": ex.id, "gold": ex.answer, "answer": p.answer,
                          "text": p.text, "meta": p.meta}
                         for ex, p in zip(examples, preds, strict=True)])


def critic_reading(config: EvalConfig, models: Models) -> dict[str, Any]:
    """How the critic's P(no error) is read (its ``critic.json``: scoring and temperature;
    'sum' at T 1 without one), with the critic it belongs to, for report.json."""

    from feedback_data.text.critic_labels import reading_of

    spec = config.critic_model or config.model
    return {"critic": spec, **reading_of(models.get(spec)).as_dict()}


def combined_critic(models: Models) -> dict[str, Any]:
    """``{"combined_critic": ...}`` (its features, verifier and tasks) when the critic the
    methods read is the combined critic, else nothing."""
    from inference.combined_critic import CombinedCritic

    critic = models.critic()
    return {"combined_critic": critic.describe()} if isinstance(critic, CombinedCritic) else {}


def refine_summary(examples: list, preds: list[Prediction]) -> dict[str, Any]:
    """What refinement did, from its predictions: rounds used (how many examples ran 0, 1, ...
    rewrites), why each stopped, and per round the answers it flipped right -> wrong and
    wrong -> right against gold (:func:`eval.metrics.round_flips`; chains replayed from each
    prediction's start and history)."""
    from eval.metrics import round_flips
    from feedback_data.text.answers import answers_match, parse_answer_chain
    from inference.methods import refine_chains

    rights, rounds, stops = [], {}, {}
    for ex, p in zip(examples, preds, strict=True):
        chains = refine_chains(p.meta["start"], p.meta["history"], p.meta["keep"], ex)
        rights.append([answers_match(ex, parse_answer_chain(c, ex)[0], ex.answer)
                       for c in chains])
        rounds[p.meta["rounds"]] = rounds.get(p.meta["rounds"], 0) + 1
        stops[str(p.meta["stop"])] = stops.get(str(p.meta["stop"]), 0) + 1
    start_right = sum(r[0] for r in rights)
    final_right = sum(r[-1] for r in rights)
    return {"n": len(preds), "mean_rounds": sum(p.meta["rounds"] for p in preds) / len(preds),
            "rounds_used": {str(k): rounds[k] for k in sorted(rounds)}, "stops": stops,
            "start_right": start_right, "final_right": final_right,
            "flips": round_flips(rights)}


def task_runs(config: EvalConfig, models: Models, task: str, examples: list, timed,
               log, tau: float | None = None, critic_cal: dict[str, Any] | None = None
               ) -> dict[tuple[str, int], tuple[list[Prediction], dict[str, Any], bool]]:
    """Every method's predictions on ``examples`` per seed: {(method, seed): (predictions,
    params, reused)}, ``reused`` when an earlier seed's identical computation was reused
    (greedy decoding of the same prompt: multitask always, cot and refine when the shots
    do not change with the seed, e.g. k = 0). ``tau``: refine's threshold (resolved by the
    runner); ``critic_cal``: the critic's stored calibration (temperature 1 when None)."""
    from feedback_data.tasks.prompts import default_shots, prompt_id
    from inference.dispatch import METHOD_REGISTRY, run_method, sample_for_vote

    methods = config.methods
    out: dict[tuple[str, int], tuple[list[Prediction], dict[str, Any], bool]] = {}
    by_prompt: dict[str, dict[str, list[Prediction]]] = {}
    multitask: list[Prediction] | None = None
    once: dict[str, list[Prediction]] = {}  # other methods whose output ignores the seed
    for seed in config.seeds:
        params = replace(config.params, seed=seed, **({"tau": tau} if tau is not None else {}))
        if "cot" in methods or "refine" in methods:
            shots = default_shots(task, config.params.k, seed=seed)
            pid = prompt_id(task, shots)
            cot_params = {"k": config.params.k, "prompt_id": pid, "shots": [s.id for s in shots]}
            reused = pid in by_prompt
            cached = by_prompt.setdefault(pid, {})
            if "cot" not in cached:
                log(f"[eval] {task} seed {seed}: cot on {len(examples)} examples")
                cached["cot"] = timed("cot", run_method, "cot", models.get(config.base_model),
                                      examples, params)
            if "cot" in methods:
                out["cot", seed] = cached["cot"], dict(cot_params), reused
            if "refine" in methods:
                if "refine" not in cached:
                    log(f"[eval] {task} seed {seed}: refine on {len(examples)} examples")
                    critic = (models.critic()
                              if config.params.refine_rule == "threshold" else None)
                    cached["refine"] = timed(
                        "refine", run_method, "refine", models.get(config.refine_model),
                        examples, params, start_chains=[p.text for p in cached["cot"]],
                        critic=critic)
                preds = cached["refine"]
                for p, start in zip(preds, cached["cot"], strict=True):  # the start's shots
                    if start.meta.get("shots_dropped"):
                        p.meta.setdefault("shots_dropped", start.meta["shots_dropped"])
                rule = ({"rule": "threshold", "tau": params.threshold,
                         "critic": config.critic_model or config.model,
                         "critic_reading": critic_cal, **combined_critic(models)}
                        if config.params.refine_rule == "threshold" else {})
                out["refine", seed] = preds, cot_params | {
                    "rounds": config.params.rounds, "keep": config.params.refine_keep,
                    "start_model": config.base_model, **rule,
                    "mean_rounds": sum(p.meta["rounds"] for p in preds) / len(preds)}, reused
        if "multitask" in methods:
            reused = multitask is not None
            if multitask is None:
                log(f"[eval] {task}: multitask (greedy) on {len(examples)} examples")
                multitask = timed("multitask", run_method, "multitask",
                                  models.get(config.model), examples, params)
            out["multitask", seed] = multitask, {"decoding": "greedy (seed-independent)"}, reused
        wanted = [m for m in ("wsc", "wsc_soft") if m in methods]
        if wanted:
            log(f"[eval] {task} seed {seed}: {' and '.join(wanted)} on {len(examples)} examples")
            # One sampling pass and one label-scoring pass serve both votes.
            samples = timed("wsc", sample_for_vote, models.get(config.model), examples, params,
                            models.critic())
            for m in wanted:
                preds = timed("wsc", run_method, m, None, examples, params, samples=samples)
                out[m, seed] = preds, {"n": config.params.n, "w": config.params.w,
                                       "temperature": config.params.temperature,
                                       "weight": "w + (1 - w) P(no error)" if m == "wsc_soft"
                                       else "1 if argmax label is 'no error' else w",
                                       **({"critic_reading": critic_cal,
                                           **combined_critic(models)}
                                          if m == "wsc_soft" and critic_cal else {})}, False
        for m in (m for m in methods if m not in SHARED_WORK):
            entry = METHOD_REGISTRY.get(m)
            reused = m in once
            if not reused:
                log(f"[eval] {task} seed {seed}: {m} on {len(examples)} examples")
                base = models.get(config.base_model) if entry.needs_base else None
                preds = timed(m, run_method, m, models.get(config.model_for(m)), examples,
                              params, base=base)
                if not entry.seed_dependent(params):
                    once[m] = preds
            out[m, seed] = (once[m] if reused else preds), {"model": entry.model}, reused
    return out
