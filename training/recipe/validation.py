"""Validation during training: answer accuracy by greedy generation, detection AUROC, and
the best checkpoint by a chosen metric.

At each evaluation (``train.eval_every``) the model answers the validation questions
(:func:`feedback_data.sources.splits.validation_examples`: the held-out feedback questions and, for
Sports, new vocab.json statements) with the instruction it is trained on, greedy, the
source cut at ``data.max_source_len`` as in training; the answer is read with
:func:`feedback_data.text.chain_format.parse_chain`. The critic (multitask or ``objective:
critic``) scores the held-out feedback records, and with the critic's data options also
synthetic records made from their corrections (:func:`training.data.critic_pairs.
critic_val_items`): each label's token log-probabilities (:func:`label_token_logps`), read
under every scoring option (:data:`feedback_data.text.critic_labels.SCORINGS`), P(no error) and
AUROC against the labels. The refine model refines each held-out record's chain once.

Metrics (all logged to metrics.jsonl, TensorBoard and run.json):
  val/accuracy_<task>, val/accuracy (mean over tasks), val/unparsed (not for the critic
  objective, which answers nothing),
  val/auroc_<task>, val/auroc (mean over tasks), val/auroc_pooled (the real held-out
  records), val/auroc_all (real and synthetic records) and val/auroc_all_<scoring> per
  scoring, val/score (mean of val/accuracy and val/auroc), and for refine
  val/detection_accuracy.

Each objective's registry entry (training/recipe/objectives.py) names its validator:
:func:`validate_multitask` (answers and critic), :func:`validate_refine`, :func:`validate_critic`
(detection only, nothing generated); :class:`Validator` runs the one it is given.

The critic and the answerer are chosen apart: ``train.select_by`` picks ``final/``;
``train.select_critic_by`` (multitask) keeps the critic's best evaluation as ``critic/``.
At the end the label scoring and a temperature are fitted on the rows of the evaluation each
folder holds (:func:`fit_reading`) and stored there as ``critic.json``.

Every process validates its share of the questions; the results are gathered, so every
process computes the same metrics.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from feedback_data.records.schema import Example, FeedbackItem
from feedback_data.text.chain_format import parse_chain, reorder_chain
from feedback_data.text.critic_labels import (
    ERROR_LABELS,
    SCORINGS,
    CriticReading,
    binary_nll,
    fit_temperature,
    label_set,
    no_error_probability,
    read_scores,
)
from feedback_data.text.instructions import (
    answer_prompt,
    error_types_prompt,
    parse_refine_output,
    refine_prompt,
)
from training.data.collate import causal_prompt_ids

# The scorings inference reads from complete-sequence log-probabilities (critic.json).
READABLE_SCORINGS = ("sum", "mean")
GEN_BATCH = 128  # prompts per generate call
SCORE_BATCH = 32  # prompts per label-scoring pass (x 16 labels)


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """P(score of a positive > score of a negative), ties counting half; None without both.

    >>> auroc([0.9, 0.8, 0.3, 0.3], [True, False, True, False])
    0.625
    """
    pos = [s for s, y in zip(scores, positive, strict=True) if y]
    neg = [s for s, y in zip(scores, positive, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _shard(n: int, accelerator: Any) -> list[int]:
    return list(range(accelerator.process_index, n, accelerator.num_processes))


def _gather(local: list[tuple[int, Any]], accelerator: Any) -> list[Any]:
    """Every process's (index, value) pairs, in index order."""
    if accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        local = gather_object(local)
    return [v for _, v in sorted(local, key=lambda x: x[0])]


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: list[str], max_source_len: int,
             max_new_tokens: int, encoder_decoder: bool, device: Any) -> list[str]:
    """Greedy completions, prompts encoded (and cut) as training encodes them."""
    out: list[str] = [""] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for start in range(0, len(order), GEN_BATCH):
        idx = order[start:start + GEN_BATCH]
        if encoder_decoder:
            enc = tokenizer([prompts[i] for i in idx], max_length=max_source_len,
                            truncation=True, padding=True, return_tensors="pt").to(device)
            seqs = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                  num_beams=1, pad_token_id=pad)
        else:
            rows = [causal_prompt_ids(tokenizer, prompts[i], max_source_len) for i in idx]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for j, r in enumerate(rows):  # left padding: every continuation starts together
                ids[j, width - len(r):] = torch.tensor(r)
                mask[j, width - len(r):] = 1
            seqs = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                  max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                  pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
            seqs = seqs[:, width:]
        texts = tokenizer.batch_decode(seqs, skip_special_tokens=True)
        for i, t in zip(idx, texts, strict=True):
            out[i] = t.strip()
    return out


@torch.no_grad()
def label_token_logps(model: Any, tokenizer: Any, prompts: list[str], max_source_len: int,
                      encoder_decoder: bool, device: Any,
                      labels: Sequence[str] = ERROR_LABELS) -> list[list[list[float]]]:
    """log p of each target token (EOS included) of each of ``labels`` (the sixteen label
    texts, or label words), per prompt: ``out[prompt][label] = [token log-probs]``, read by
    every scoring option."""
    labels = list(labels)
    k = len(labels)
    out: list[list[list[float]]] = []
    if encoder_decoder:
        from transformers.modeling_outputs import BaseModelOutput

        lab = tokenizer(text_target=labels, return_tensors="pt", padding=True)
        ids, lmask = lab["input_ids"].to(device), lab["attention_mask"].to(device)
        lengths = lmask.sum(-1).tolist()
        for start in range(0, len(prompts), SCORE_BATCH):
            enc = tokenizer(prompts[start:start + SCORE_BATCH], max_length=max_source_len,
                            truncation=True, padding=True, return_tensors="pt").to(device)
            b = enc["input_ids"].shape[0]
            hidden = model.get_encoder()(**enc).last_hidden_state.repeat_interleave(k, dim=0)
            rep_ids, rep_mask = ids.repeat(b, 1), lmask.repeat(b, 1)
            logits = model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
                           attention_mask=enc["attention_mask"].repeat_interleave(k, dim=0),
                           labels=rep_ids.masked_fill(rep_mask == 0, -100)).logits
            logp = torch.log_softmax(logits.float(), -1).gather(-1, rep_ids[..., None])[..., 0]
            rows = logp.tolist()
            out += [[rows[i * k + j][:lengths[j]] for j in range(k)] for i in range(b)]
        return out
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    targets = label_target_ids(tokenizer, False, labels)
    for prompt in prompts:
        p_ids = causal_prompt_ids(tokenizer, prompt, max_source_len)
        rows = [p_ids + t for t in targets]
        width = max(len(r) for r in rows)
        ids = torch.full((k, width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, r in enumerate(rows):
            ids[j, :len(r)] = torch.tensor(r)
            mask[j, :len(r)] = 1
        ids, mask = ids.to(device), mask.to(device)
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1]
                                 .float(), -1).gather(-1, ids[:, 1:, None])[..., 0].tolist()
        start = len(p_ids) - 1
        out.append([logp[j][start:start + len(t)] for j, t in enumerate(targets)])
    return out


def label_target_ids(tokenizer: Any, encoder_decoder: bool,
                     labels: Sequence[str] = ERROR_LABELS) -> list[list[int]]:
    """The target token ids of each label, as training writes them (EOS included)."""
    labels = list(labels)
    if encoder_decoder:
        return [list(x) for x in tokenizer(text_target=labels)["input_ids"]]
    eos = tokenizer.eos_token_id
    return [list(tokenizer(" " + t, add_special_tokens=False)["input_ids"]) + [eos]
            for t in labels]


def label_logps(model: Any, tokenizer: Any, prompts: list[str], max_source_len: int,
                encoder_decoder: bool, device: Any) -> list[list[float]]:
    """log p(label | prompt) for each of :data:`ERROR_LABELS` (complete sequences)."""
    return [[sum(t) for t in row] for row in label_token_logps(
        model, tokenizer, prompts, max_source_len, encoder_decoder, device)]


def _accuracy_metrics(examples: Sequence[Example], answers: Sequence[str | None]
                      ) -> dict[str, float]:
    right: dict[str, list[bool]] = defaultdict(list)
    for ex, a in zip(examples, answers, strict=True):
        right[ex.task].append(a == ex.answer)
    metrics = {f"val/accuracy_{t}": sum(r) / len(r) for t, r in sorted(right.items())}
    if right:
        metrics["val/accuracy"] = sum(metrics.values()) / len(metrics)
    metrics["val/unparsed"] = sum(a is None for a in answers) / max(1, len(answers))
    return metrics


def _auroc_metrics(items: Sequence[FeedbackItem], p_no_error: Sequence[float]
                   ) -> dict[str, float]:
    metrics: dict[str, float] = {}
    gold = [not i.feedback.error_types for i in items]
    for task in sorted({i.example.task for i in items}):
        keep = [j for j, i in enumerate(items) if i.example.task == task]
        value = auroc([p_no_error[j] for j in keep], [gold[j] for j in keep])
        if value is not None:
            metrics[f"val/auroc_{task}"] = value
    if metrics:  # tasks differ in their error rates: each task's AUROC counts the same
        metrics["val/auroc"] = sum(metrics.values()) / len(metrics)
    value = auroc(p_no_error, gold)
    if value is not None:
        metrics["val/auroc_pooled"] = value
    return metrics


def critic_metrics(items: Sequence[FeedbackItem], n_real: int,
                   rows: Sequence[Sequence[Sequence[float]]], first_ids: Sequence[int],
                   scoring: str) -> dict[str, float]:
    """Detection AUROCs from the label token log-probs of the critic records (the first
    ``n_real`` are real held-out chains, the rest synthetic): under ``scoring`` the per-task
    val/auroc_<task>, val/auroc, val/auroc_pooled on the real chains and val/auroc_all on
    all; and val/auroc_all_<scoring> for every scoring option."""
    gold = [not i.feedback.error_types for i in items]
    probs = {s: [no_error_probability(read_scores(r, first_ids, s)) for r in rows]
             for s in SCORINGS}
    metrics = _auroc_metrics(items[:n_real], probs[scoring][:n_real])
    for s in SCORINGS:
        value = auroc(probs[s], gold)
        if value is not None:
            metrics[f"val/auroc_all_{s}"] = value
    if f"val/auroc_all_{scoring}" in metrics:
        metrics["val/auroc_all"] = metrics[f"val/auroc_all_{scoring}"]
    return metrics


@dataclass
class ValidationModel:
    """The model under validation: unwrapped, in eval mode, with what scoring it needs."""

    model: Any
    tokenizer: Any
    accelerator: Any
    encoder_decoder: bool
    device: Any


# An objective's validator (its registry entry names it): the metrics of one evaluation.
ValidateFn = Callable[["Validator", ValidationModel], dict[str, float]]


@dataclass
class Validator:
    """Validation questions and records, how to prompt the model with them, and the
    objective's validator (``run``, from its registry entry) that computes the metrics."""

    objective: str
    examples: list[Example]
    items: list[FeedbackItem]
    max_source_len: int
    max_new_tokens: int
    chain_order: str
    # Synthetic critic records (held-out corrections as 'no error', their counterfactual
    # edits): scored with the real held-out records in val/auroc_all.
    extra_items: list[FeedbackItem] = field(default_factory=list)
    scoring: str = "sum"  # the label scoring of the headline AUROCs
    # the critic's label words (data.critic_label_words); None: the label texts
    label_words: tuple[str, ...] | None = None
    # The last evaluation's label token log-probs (every critic record) and first-token ids.
    last_rows: list[list[list[float]]] = field(default_factory=list)
    first_ids: list[int] = field(default_factory=list)
    # The objective's validator: validate_multitask, validate_refine, validate_critic, ...
    run: ValidateFn = field(kw_only=True)
    # refine: rounds of the evaluation protocol (0: off), and the chains it starts from:
    # the model's own 0-shot CoT chains for ``examples`` as training starts (the base's)
    protocol_rounds: int = 0
    start_chains: list[str] = field(default_factory=list)

    @property
    def critic_items(self) -> list[FeedbackItem]:
        return self.items + self.extra_items

    def before_training(self, model: Any, tokenizer: Any, accelerator: Any) -> None:
        """With ``protocol_rounds``: the start chains, written by the model as it is before
        the first optimizer step (the base the refine model is trained from), greedy, from
        the 0-shot CoT prompt ``rhf eval`` gives the base (k = 0)."""
        if not self.protocol_rounds or not self.examples:
            return
        from feedback_data.tasks.prompts import cot_prompt

        unwrapped = accelerator.unwrap_model(model)
        was_training = unwrapped.training
        unwrapped.eval()
        try:
            mine = _shard(len(self.examples), accelerator)
            texts = generate(unwrapped, tokenizer,
                             [cot_prompt(self.examples[i].task, self.examples[i].question, [])
                              for i in mine], self.max_source_len, self.max_new_tokens,
                             bool(unwrapped.config.is_encoder_decoder), accelerator.device)
            self.start_chains = _gather(list(zip(mine, texts, strict=True)), accelerator)
        finally:
            if was_training:
                unwrapped.train()

    def __call__(self, model: Any, tokenizer: Any, accelerator: Any) -> dict[str, float]:
        unwrapped = accelerator.unwrap_model(model)
        was_training = unwrapped.training
        unwrapped.eval()
        try:
            return self.run(self, ValidationModel(
                unwrapped, tokenizer, accelerator, bool(unwrapped.config.is_encoder_decoder),
                accelerator.device))
        finally:
            if was_training:
                unwrapped.train()


def answer_accuracy(v: Validator, m: ValidationModel) -> dict[str, float]:
    """val/accuracy(_<task>) and val/unparsed: the model answers the validation questions
    (greedy, with the answer instruction)."""
    if not v.examples:
        return {}
    mine = _shard(len(v.examples), m.accelerator)
    texts = generate(m.model, m.tokenizer, [answer_prompt(v.examples[i].question) for i in mine],
                     v.max_source_len, v.max_new_tokens, m.encoder_decoder, m.device)
    answers = _gather([(i, parse_chain(t)[0]) for i, t in zip(mine, texts, strict=True)],
                      m.accelerator)
    return _accuracy_metrics(v.examples, answers)


def detection_aurocs(v: Validator, m: ValidationModel) -> dict[str, float]:
    """The critic's detection AUROCs (:func:`critic_metrics`) on the held-out and synthetic
    records, from each label's token log-probs; keeps those rows for the critic's reading."""
    items = v.critic_items
    mine = _shard(len(items), m.accelerator)
    prompts = [error_types_prompt(items[i].example.question,
                                  reorder_chain(items[i].chain.text, v.chain_order))
               for i in mine]
    labels = label_set(v.label_words)
    rows = label_token_logps(m.model, m.tokenizer, prompts, v.max_source_len,
                             m.encoder_decoder, m.device, labels)
    v.last_rows = _gather(list(zip(mine, rows, strict=True)), m.accelerator)
    v.first_ids = [t[0] for t in label_target_ids(m.tokenizer, m.encoder_decoder, labels)]
    return critic_metrics(items, len(v.items), v.last_rows, v.first_ids, v.scoring)


def validate_multitask(v: Validator, m: ValidationModel) -> dict[str, float]:
    """The multitask objective: answer accuracy, detection AUROCs, and val/score (their
    mean)."""
    metrics = answer_accuracy(v, m)
    metrics.update(detection_aurocs(v, m))
    if "val/accuracy" in metrics and "val/auroc" in metrics:
        metrics["val/score"] = (metrics["val/accuracy"] + metrics["val/auroc"]) / 2
    return metrics


def validate_critic(v: Validator, m: ValidationModel) -> dict[str, float]:
    """The critic objective answers nothing: detection AUROCs only (val/auroc_all and the
    rest), no generation."""
    return detection_aurocs(v, m)


def validate_refine(v: Validator, m: ValidationModel) -> dict[str, float]:
    """One refine round on each held-out record's chain: the answer it leaves (the given
    chain on 'no error' or an unreadable correction), and whether it saw an error."""
    mine = _shard(len(v.items), m.accelerator)
    chains = [reorder_chain(v.items[i].chain.text, v.chain_order) for i in mine]
    texts = generate(m.model, m.tokenizer,
                     [refine_prompt(v.items[i].example.question, c)
                      for i, c in zip(mine, chains, strict=True)],
                     v.max_source_len, v.max_new_tokens + 16, m.encoder_decoder, m.device)
    local = []
    for i, chain, text in zip(mine, chains, texts, strict=True):
        codes, correction = parse_refine_output(text)
        answer = parse_chain(chain)[0]
        if codes and correction and parse_chain(correction)[2]:
            answer = parse_chain(correction)[0]
        local.append((i, (answer, None if codes is None else codes == [])))
    results = _gather(local, m.accelerator)
    metrics = _accuracy_metrics([i.example for i in v.items], [a for a, _ in results])
    gold = [not i.feedback.error_types for i in v.items]
    metrics["val/detection_accuracy"] = sum(
        p is not None and p == g for (_, p), g in zip(results, gold, strict=True)
    ) / max(1, len(gold))
    if v.protocol_rounds and v.start_chains:
        metrics.update(refine_protocol(v, m))
    return metrics


def refine_protocol(v: Validator, m: ValidationModel) -> dict[str, float]:
    """Refine validated as ``rhf eval`` runs it: from the base's own chains for the
    validation questions (:meth:`Validator.before_training`), ``protocol_rounds`` rounds
    under the paper's rule (feedback_data.text.refine_rule; a chain stays on 'no error').
    val/protocol_accuracy(_<task>) and val/protocol_start_accuracy(_<task>) (the base's
    chains), each overall value the mean of the tasks' so the two compare;
    val/protocol_right_to_wrong and val/protocol_wrong_to_right (answers changed against
    gold, start to end, as shares of the questions) and val/protocol_mean_rounds."""
    from feedback_data.text.answers import answers_match, parse_answer_chain
    from feedback_data.text.refine_rule import RefineState, refine_update

    mine = _shard(len(v.examples), m.accelerator)
    states = {i: RefineState(chain=v.start_chains[i]) for i in mine}
    for _ in range(v.protocol_rounds):
        active = [i for i in mine if states[i].stop is None]
        if not active:
            break
        texts = generate(m.model, m.tokenizer,
                         [refine_prompt(v.examples[i].question,
                                        reorder_chain(states[i].chain, v.chain_order))
                          for i in active],
                         v.max_source_len, v.max_new_tokens + 16, m.encoder_decoder, m.device)
        for i, text in zip(active, texts, strict=True):
            refine_update(states[i], text, v.protocol_rounds, "given", v.examples[i])

    def right(i: int, chain: str) -> bool:
        ex = v.examples[i]
        return answers_match(ex, parse_answer_chain(chain, ex)[0], ex.answer)

    local = [(i, (right(i, v.start_chains[i]), right(i, states[i].chain), states[i].rounds))
             for i in mine]
    rows = _gather(local, m.accelerator)
    n = max(1, len(rows))
    metrics: dict[str, float] = {}
    for name, at in (("protocol_accuracy", 1), ("protocol_start_accuracy", 0)):
        by_task: dict[str, list[bool]] = defaultdict(list)
        for ex, row in zip(v.examples, rows, strict=True):
            by_task[ex.task].append(row[at])
        per_task = {f"val/{name}_{t}": sum(r) / len(r) for t, r in sorted(by_task.items())}
        metrics |= per_task
        if per_task:
            metrics[f"val/{name}"] = sum(per_task.values()) / len(per_task)
    metrics |= {
        "val/protocol_right_to_wrong": sum(s and not e for s, e, _ in rows) / n,
        "val/protocol_wrong_to_right": sum(e and not s for s, e, _ in rows) / n,
        "val/protocol_mean_rounds": sum(r for _, _, r in rows) / n}
    return metrics


def is_better(metric: str, value: float, best: float | None) -> bool:
    """A loss is minimised, every other metric maximised; a NaN is never better."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best if "loss" in metric else value > best


@dataclass
class Selection:
    """The best evaluation so far by ``metric``, and how many evaluations since."""

    metric: str
    patience: int = 0
    best: float | None = None
    best_step: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    since_best: int = 0
    evaluations: int = 0
    stopped_early_at: int | None = None

    def update(self, metrics: dict[str, float], step: int) -> bool:
        """Record one evaluation; True when it is the new best (save it)."""
        if self.metric not in metrics:
            raise KeyError(f"train.select_by {self.metric!r} is not among the evaluation's "
                           f"metrics {sorted(metrics)}")
        self.evaluations += 1
        value = float(metrics[self.metric])
        if is_better(self.metric, value, self.best):
            self.best, self.best_step, self.best_metrics = value, step, dict(metrics)
            self.since_best = 0
            return True
        self.since_best += 1
        return False

    def should_stop(self) -> bool:
        return bool(self.patience) and self.since_best >= self.patience

    def state(self) -> dict[str, Any]:
        return {"metric": self.metric, "patience": self.patience, "best": self.best,
                "best_step": self.best_step, "best_metrics": self.best_metrics,
                "since_best": self.since_best, "evaluations": self.evaluations,
                "stopped_early_at": self.stopped_early_at}

    @classmethod
    def from_state(cls, state: dict[str, Any], metric: str, patience: int) -> Selection:
        sel = cls(metric, patience)
        if state and state.get("metric") == metric:
            for key in ("best", "best_step", "best_metrics", "since_best", "evaluations",
                        "stopped_early_at"):
                setattr(sel, key, state.get(key, getattr(sel, key)))
        return sel


def fit_reading(rows: Sequence[Sequence[Sequence[float]]], first_ids: Sequence[int],
                no_error: Sequence[bool], scoring: str = "auto", temperature: bool = True,
                label_words: Sequence[str] | None = None
                ) -> tuple[CriticReading, dict[str, Any]]:
    """The critic's reading from validation rows (label token log-probs) and their gold:
    ``scoring`` 'auto' takes whichever of the scorings inference reads ('sum', 'mean') has
    the higher AUROC (a tie keeps 'sum'); with ``temperature`` the T of least NLL
    (:func:`feedback_data.text.critic_labels.fit_temperature`); ``label_words``, the words
    the critic was trained to write (None: the label texts), go into the reading. The info
    says what it saw: every scoring's AUROC (first_token too, for the record), the NLL at
    T 1 and at T."""
    aurocs = {s: auroc([no_error_probability(read_scores(r, first_ids, s)) for r in rows],
                       no_error) for s in SCORINGS}
    if scoring == "auto":
        candidates = [s for s in READABLE_SCORINGS if aurocs[s] is not None]
        chosen = max(candidates, key=lambda s: (aurocs[s], s == "sum")) if candidates \
            else "sum"
    else:
        chosen = scoring
    scores = [read_scores(r, first_ids, chosen) for r in rows]
    t = fit_temperature(scores, no_error) if temperature else 1.0
    info = {
        "fitted_on": "validation", "records": len(rows), "no_error": int(sum(no_error)),
        "auroc_by_scoring": {s: None if v is None else round(v, 4) for s, v in aurocs.items()},
        "nll_t1": round(binary_nll([no_error_probability(x) for x in scores], no_error), 4),
        "nll": round(binary_nll([no_error_probability(x, t) for x in scores], no_error), 4),
    }
    words = tuple(label_words) if label_words else None
    return CriticReading(chosen, t, words), info  # type: ignore[arg-type]
