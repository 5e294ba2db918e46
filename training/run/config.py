"""The recipe configuration: typed dataclasses with help text, grouped into ``model``,
``data`` and ``train`` (and ``objective``).

Reading one (a YAML file, then ``key=value`` overrides, each value checked against its
field's type) is :mod:`training.run.config_load`; the checks across fields and the rules of a
resume that changes the config are :mod:`training.run.config_checks`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from feedback_data.records.schema import PAPER_TASKS

# Where training metrics go (training/recipe/trackers.py): "jsonl" is the run folder's
# metrics.jsonl, the others accelerate's trackers, each an extra of pyproject.toml but TensorBoard.
Tracker = Literal["jsonl", "tensorboard", "wandb", "mlflow", "trackio"]
REPORT_TO: tuple[str, ...] = typing.get_args(Tracker)
DEFAULT_REPORT_TO = ("jsonl", "tensorboard")


class ConfigError(ValueError):
    """A user mistake in a config file or an override."""


def _f(default: Any = dataclasses.MISSING, help: str = "", factory: Any = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    name_or_path: str = _f("", "Model to fine-tune: a local folder or a Hugging Face hub id "
                               "(e.g. google/flan-t5-large).")
    lora_r: int = _f(0, "LoRA rank; 0 means full fine-tuning of every weight.")
    lora_alpha: int = _f(32, "LoRA scaling numerator (the update is scaled by alpha / r).")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA branch.")
    lora_target_modules: list[str] = _f(help="Module names LoRA wraps (T5: q, k, v, o, wi_0, "
                                             "wi_1, wo).", factory=lambda: ["q", "v"])
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass "
                                             "(less memory, ~30% slower).")


@dataclass
class DataConfig:
    tasks: list[str] = _f(help="Tasks whose imported paper feedback is used (strategyqa, "
                               "sports_understanding); [] for none (your own task's feedback "
                               "goes in extra_feedback).",
                          factory=lambda: list(PAPER_TASKS))
    split: str = _f("train", "Split of the paper feedback to train on.")
    extra_feedback: list[str] = _f(help="Extra FeedbackItem JSONL files (e.g. simulated or "
                                        "Label Studio annotations, or a feedback store); of "
                                        "an edited annotation only its latest version is "
                                        "used.", factory=list)
    pairs_file: str | None = _f(None, "JSONL of {source, target, term} pairs used as they are "
                                      "(e.g. to pre-train on gold chains).")
    max_records: int = _f(0, "Use only the first N feedback records (0 = all); for smoke runs.")
    term_weights: dict[str, float] = _f(
        help="Multitask weights per term (answer, error_types, description, and "
             "subquestions: q -> the annotators' subquestions, not one of the paper's terms, "
             "weight 0 unless named): each optimizer "
             "step trains one term (all its micro-batches and processes), drawn so that a "
             "term gets weight / sum of weights of the steps, i.e. that share of the "
             "gradient over an epoch. Within a step every target token counts the same (the "
             "loss is summed over the step's target tokens and divided by their number). A "
             "term of weight 0 is not trained; a pairs file's own terms weigh 1.0.",
        factory=lambda: {"answer": 1.0, "error_types": 1.0, "description": 1.0})
    contradicting_corrections: Literal["drop", "keep"] = _f(
        "drop", "A correction whose answer contradicts the gold answer: 'drop' = no answer, "
                "refine, SFT or DPO/KTO 'chosen' target (its error types and description "
                "are still trained); 'keep' = train on it like any other (the paper).")
    refine_keep_corrections: bool = _f(
        False, "Refine objective: also train 'no error ; c' on every human correction c that "
               "agrees with the gold answer, so that refinement keeps a correct chain "
               "(training/data/refine_pairs.py kept_correction_pairs).")
    refine_base_chains: bool = _f(
        False, "Refine objective: also train on the base's own 0-shot chain for each "
               "training question (what refinement is given at evaluation), labelled by "
               "construction where facts can be checked: Sports against vocab.json (wrong "
               "sport -> factual error, sport left out -> missing facts, right facts and the "
               "wrong answer -> logical inconsistency, else no error); other tasks' chains are "
               "counted and left out. Targets: 'no error ; <chain>' or '<types> ; c', c a "
               "gold-consistent human correction of the question. Counted in run.json "
               "(counts.refine_base_chains); the base is loaded once to write the chains "
               "(training/recipe/base_chains.py; labels: training/data/base_chains.py).")
    chain_order: Literal["answer_first", "reasoning_first"] = _f(
        "answer_first", "How every chain is written in the pairs (targets and the model "
                        "chains the critic reads): 'answer_first' = 'The answer is X because "
                        "<steps>' (the paper's form); 'reasoning_first' = '<steps> So the "
                        "answer is X.' Inference reads it from the trained model's config.")
    holdout_detection: bool = _f(True, "Leave the Sports detection set (20% of the paper's "
                                       "Sports feedback, by question) out of training, so "
                                       "the report's Sports error-detection row scores "
                                       "records the model never saw.")
    replay: str = _f("", "Replay against forgetting: 'base' = the shipped tiny base's own "
                         "pre-training chains (new vocab.json Sports statements and "
                         "StrategyQA gold chains) under the answer instruction; or a pairs "
                         "JSONL ({source, target, term}); '' = none.")
    replay_pairs: int = _f(3000, "With replay 'base': how many replay pairs to make.")
    replay_share: float = _f(0.0, "Share of the optimizer steps drawn from the replay pairs "
                                  "(the other terms share the rest by term_weights).")
    eval_fraction: float = _f(0.05, "Share of the training feedback held out by question as "
                                    "the validation split (held-out loss, validation "
                                    "accuracy and detection AUROC; never trained on).")
    eval_max: int = _f(256, "At most this many held-out pairs are evaluated for the loss.")
    max_source_len: int = _f(256, "Source tokens kept per example; a longer source keeps its "
                                  "first (instruction) line and its end, the middle is cut. "
                                  "Inference reads this value from the checkpoint and cuts the "
                                  "same way.")
    max_target_len: int = _f(128, "Decoder tokens kept per example (longer ones are cut).")
    group_by_length: bool = _f(True, "Batch pairs of the same term and similar lengths "
                                     "together (less padding); off = random batches.")
    critic_corrections: bool = _f(
        False, "The critic also reads each training record's human correction that agrees "
               "with the gold answer, as a 'no error' chain (with its record's model chain: "
               "a contrastive pair, both in every epoch); contradicting or unreadable "
               "corrections stay out (counted in run.json counts.critic).")
    critic_augment: dict[str, float] = _f(
        help="Counterfactual critic chains made from the gold-consistent training "
             "corrections, a share of them per kind, each with its error type by "
             "construction: fact_swap (FE: Sports' sport swapped via vocab.json, else a "
             "number changed), drop_step (MF), insert_fact (IR: a step of another training "
             "record), flip_answer (LI). Never drawn from validation, detection or dev "
             "records; counted in run.json (counts.critic). {} = none.",
        factory=dict)
    critic_balance: Literal["none", "resample", "reweight"] = _f(
        "none", "Label balance of the critic's pairs: 'resample' repeats the smaller class "
                "('no error' or error) until the two are equal; 'reweight' keeps each pair "
                "once and weighs each class in the loss so that it holds half the weight "
                "(run.json: counts.critic.weights); the resulting 'no error' share is in "
                "run.json (counts.critic.no_error_share).")
    critic_descriptions: bool = _f(
        False, "objective critic: also train the description term (the critic writes why "
               "a chain is wrong), weighted by term_weights.description.")
    critic_label_words: list[str] = _f(
        help="Train the critic (the error-types term) to write single-token label words "
             "instead of the label texts: five words, for no error, FE, MF, IR, LI in that "
             "order, each one token in the model's tokenizer (checked at start-up), e.g. "
             "[correct, fact, missing, irrelevant, conflict]; a multi-type label is its "
             "words joined by ', '. Stored in critic.json, so every reader scores the "
             "words. [] = the label texts ('no error', 'factual error', ...).",
        factory=list)


@dataclass
class TrainConfig:
    output_dir: str = _f("", "Run folder: config, run.json, metrics.jsonl, checkpoints, final.")
    seed: int = _f(42, "Seed for weights' random parts, data order and dropout.")
    epochs: float = _f(1.0, "Passes over the training pairs (ignored when max_steps > 0).")
    max_steps: int = _f(0, "Optimizer steps to run; 0 = derived from epochs.")
    batch_size: int = _f(16, "Pairs per device per forward pass.")
    grad_accum: int = _f(1, "Forward passes summed per optimizer step.")
    lr: float = _f(1e-3, "Peak learning rate of AdamW (1e-3 suits the tiny T5; use 1e-4 to "
                             "3e-4 for Flan-T5 full fine-tuning).")
    weight_decay: float = _f(0.0, "AdamW weight decay (not applied to biases and norms).")
    adam_beta1: float = _f(0.9, "AdamW beta1.")
    adam_beta2: float = _f(0.999, "AdamW beta2.")
    adam_eps: float = _f(1e-8, "AdamW epsilon.")
    warmup_steps: int = _f(0, "Linear warm-up steps; 0 = warmup_ratio of the total.")
    warmup_ratio: float = _f(0.05, "Warm-up as a share of the total steps.")
    scheduler: Literal["linear", "cosine", "constant"] = _f(
        "linear", "Learning-rate schedule after warm-up.")
    max_grad_norm: float = _f(1.0, "Clip the gradient's global norm to this; 0 = no clipping.")
    mixed_precision: Literal["no", "bf16", "fp16"] = _f(
        "no", "Autocast precision (bf16 on Ampere+ GPUs, fp16 on older ones).")
    eval_every: int = _f(200, "Evaluate on the validation split every N steps (0 = at the "
                              "end only).")
    validate: bool = _f(True, "At each evaluation also measure validation answer accuracy "
                              "(greedy generation on the validation questions) and, for "
                              "multitask, detection AUROC (the critic's P(no error) on the "
                              "held-out feedback records).")
    val_max_new_tokens: int = _f(48, "Tokens generated per validation answer.")
    refine_val_rounds: int = _f(
        0, "objective refine: also validate by the evaluation protocol: the base's own 0-shot "
           "CoT chains for the validation questions (written before the first step), refined "
           "for this many rounds under the paper's rule: val/protocol_accuracy(_<task>), "
           "val/protocol_start_accuracy, the answers flipped (val/protocol_right_to_wrong, "
           "val/protocol_wrong_to_right) and val/protocol_mean_rounds. 0 = off.")
    val_statements: int = _f(200, "New vocab.json Sports statements added to the validation "
                                  "questions when Sports feedback is trained on.")
    critic_scoring: Literal["auto", "sum", "mean"] = _f(
        "auto", "How the critic's P(no error) is read from its 16 label scores: 'sum' = "
                "complete-sequence log-probabilities, 'mean' = per token (no label punished "
                "for its length), 'auto' = whichever gives the higher validation AUROC at the "
                "end of training. Stored with the weights (final/critic.json).")
    fit_temperature: bool = _f(True, "At the end of training fit a temperature on the "
                                     "validation records' P(no error) (least NLL) and store "
                                     "it in final/critic.json, applied wherever the critic "
                                     "is read.")
    select_critic_by: str = _f("", "multitask: also keep the checkpoint with the best value "
                                   "of this metric (e.g. val/auroc_all) as critic/ in the "
                                   "run folder, so the critic and the answerer are chosen "
                                   "separately ('' = the critic is final/).")
    select_by: str = _f("", "Keep the checkpoint with the best value of this metric as final/ "
                            "(e.g. val/accuracy, val/auroc, val/score, eval/loss; a name with "
                            "'loss' is minimised, others maximised); '' = the last step.")
    patience: int = _f(0, "Stop after this many evaluations without a better select_by "
                          "(0 = never stop early).")
    save_every: int = _f(100, "Write a checkpoint every N steps (0 = only the final folder).")
    keep_checkpoints: int = _f(2, "Newest checkpoints kept; older ones are deleted.")
    log_every: int = _f(10, "Write training metrics every N steps.")
    report_to: list[Tracker] = _f(
        help="Where metrics go: jsonl (RUN_DIR/metrics.jsonl), tensorboard (RUN_DIR/"
             "tensorboard), wandb, mlflow, trackio (each its extra: pip install -e '.[wandb]'). "
             "The final config, seed and commit are each tracker's run config.",
        factory=lambda: list(DEFAULT_REPORT_TO))
    tracker_project: str = _f("rhf", "Project (W&B, trackio) or experiment (MLflow) the run "
                                     "is logged under; the run is named after its folder.")
    progress_bar: bool = _f(True, "Show a progress bar on the main process.")
    allow_config_change: bool = _f(False, "On resume, accept run-defining keys that differ "
                                          "from the checkpoint's config (recorded in run.json).")
    allow_world_change: bool = _f(False, "On resume, accept another process count, global "
                                         "batch, precision or device than the checkpoint's "
                                         "(recorded in run.json).")
    resume: bool = _f(False, "Continue from the newest checkpoint in output_dir.")
    step_sleep: float = _f(0.0, "Seconds to sleep after each step (tests of kill -9 only).")
    # --- speed and numerics (training/recipe/loop.py) ---------------------------------------------
    max_tokens: int = _f(0, "Token budget per micro-batch: padded source + target tokens "
                            "(rows x (longest source + longest target)); the number of pairs "
                            "per batch follows from their lengths. 0 = batch_size pairs.")
    max_nonfinite_skips: int = _f(0, "Optimizer steps with a non-finite loss or gradient norm "
                                     "that may be skipped (each logged) before the run stops; "
                                     "0 = the first one stops it.")
    weights_dtype: Literal["float32", "bfloat16"] = _f(
        "float32", "Dtype of the weights, gradients and AdamW state. bfloat16 halves memory "
                   "and runs matmuls in bf16 without autocast (GPU speed); float32 with "
                   "mixed_precision=bf16 is the safer mixed setting.")
    master_weights: bool = _f(True, "With weights_dtype=bfloat16: AdamW updates fp32 copies "
                                    "of the weights (fp32 state too) and rounds them into the "
                                    "bf16 weights; false = pure bf16 (half the memory, loses "
                                    "small updates: 16% higher loss on the tiny T5).")
    compile: bool = _f(False, "torch.compile the model (dynamic shapes); pays off on GPUs "
                              "for long runs, costs minutes of compiling at the start.")


@dataclass
class RecipeConfig:
    objective: str = _f("multitask", "Training objective: a name of the objective registry "
                                     "(training/recipe/objectives.py), e.g. multitask, "
                                     "refine or critic.")
    model: ModelConfig = _f(help="The model and how it is adapted.", factory=ModelConfig)
    data: DataConfig = _f(help="Where the pairs come from and how they are batched.",
                          factory=DataConfig)
    train: TrainConfig = _f(help="Optimisation, logging and checkpointing.",
                            factory=TrainConfig)


# The groups of fields, each a dataclass above.
GROUPS = ("model", "data", "train")


def to_dict(cfg: RecipeConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def to_yaml(cfg: RecipeConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def describe() -> str:
    """Every field with its type, default and help text (for --help-config)."""
    lines = []
    for f in dataclasses.fields(RecipeConfig):
        hint = typing.get_type_hints(RecipeConfig)[f.name]
        if dataclasses.is_dataclass(hint):
            lines.append(f"{f.name}:  # {f.metadata['help']}")
            sub_hints = typing.get_type_hints(hint)
            default = hint()
            for g in dataclasses.fields(hint):
                tp = getattr(sub_hints[g.name], "__name__", str(sub_hints[g.name]))
                val = getattr(default, g.name)
                lines.append(f"  {g.name}: {val!r}  # ({tp}) {g.metadata['help']}")
        else:
            lines.append(f"{f.name}: {f.default!r}  # {f.metadata['help']}")
    return "\n".join(lines)
