"""`EvalConfig`: what `rhf eval` runs, checked before anything loads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from eval.detection_baselines import DETECTION_BASELINES
from eval.stats import DEFAULT_B
from feedback_data.records.schema import PAPER_TASKS
from inference.dispatch import KNOBS, METHOD_REGISTRY, MethodParams, method_params_from
from inference.methods import REFINE_KEEP
from inference.precision import DTYPES


def registered_methods() -> tuple[str, ...]:
    """Every method of the method registry, in registration order (the default)."""
    return METHOD_REGISTRY.names()


@dataclass
class EvalConfig:
    """What `rhf eval` runs. Models take a hub id, a model folder or a training RUN_DIR.

    No model stands in for another: ``base_model`` is required when cot, refine or the ICL
    calibration baseline runs, ``refine_model`` when refine runs. :meth:`of` builds one from
    flat settings (these fields and the method knobs side by side).
    """

    model: str  # multitask-trained checkpoint: multitask, wsc, wsc_soft, fine-tuned calibration
    out: Path  # report folder
    base_model: str | None = None  # cot, refine's starting chains, ICL calibration baseline
    refine_model: str | None = None  # refine-trained checkpoint
    # A separate critic (objective critic): wsc's labels, fine-tuned calibration, selective
    # prediction; None: ``model`` is the critic.
    critic_model: str | None = None
    methods: tuple[str, ...] = field(default_factory=registered_methods)
    tasks: tuple[str, ...] = PAPER_TASKS
    seeds: tuple[int, ...] = (0,)
    limit: int | None = None  # first N dev examples per task
    # The method knobs (inference.dispatch.MethodParams; its seed is set per run from
    # ``seeds``). ``params.tau`` None: refine's threshold is chosen on the critic's validation
    # records (the best balanced detection accuracy, eval.metrics.choose_threshold).
    params: MethodParams = field(default_factory=MethodParams)
    calibration: bool = True  # run error-detection calibration
    calibration_limit: int | None = None  # first N records of each detection set (all)
    # detection sets scored (feedback_data.sources.splits.detection_sets): StrategyQA's 173 paper
    # records, and the Sports detection set (20% of the Sports feedback, held out)
    calibration_sets: tuple[str, ...] = PAPER_TASKS
    # Table 2's baselines on the same records (eval.detection_baselines): prior, agreement,
    # icl_cf, sports_rules; each with a paired bootstrap of the critic's AUROC minus its own
    detection_baselines: tuple[str, ...] = ()
    selective_dev: bool = True  # risk-coverage of multitask's own dev answers by its P(no error)
    # FeedbackItems to calibrate on instead of the detection sets (e.g. your own task's pull)
    calibration_feedback: Path | None = None
    bootstrap: int = DEFAULT_B  # bootstrap resamples for the CIs
    bootstrap_seed: int = 0  # seed of the bootstrap's numpy Generator
    plots: bool = True
    threads: int | None = None  # torch CPU threads (None: torch's default)
    report_to: tuple[str, ...] = ()  # trackers that get the tables (training/recipe/trackers.py)
    update_card: bool = False  # append the headline numbers to the models' cards
    device: str = "auto"  # where the models run (inference.precision.resolve_device)
    dtype: str = "auto"  # weights' precision: auto, float32, bfloat16, float16
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, copied into the report

    @classmethod
    def of(cls, **settings: Any) -> EvalConfig:
        """From flat settings: this class's fields and the :class:`MethodParams` knobs side
        by side (``k=2, n=4, ...``; not ``seed``: ``seeds``). An unknown key is a ValueError
        naming the known ones."""
        own = {f.name for f in fields(cls)} - {"params"}
        knobs = set(KNOBS) - {"seed"}
        unknown = sorted(set(settings) - own - knobs)
        if unknown:
            raise ValueError(f"unknown eval setting {unknown[0]!r}: known settings are "
                             f"{', '.join(sorted(own | knobs))}")
        params = method_params_from({k: v for k, v in settings.items() if k in knobs})
        return cls(**{k: v for k, v in settings.items() if k in own}, params=params)

    def record(self) -> dict[str, Any]:
        """The settings as report.json's ``config`` (flat: the knobs beside the rest; paths
        as text)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "params":
                out |= {k: v for k, v in value.items() if k != "seed"}
            else:
                out[key] = str(value) if isinstance(value, Path) else value
        return out

    def check(self) -> None:
        from feedback_data.tasks.registry import task_names

        METHOD_REGISTRY.check(self.methods)
        self.tasks = task_names(self.tasks)
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"--tasks repeats a task: {self.tasks}")
        if self.calibration_feedback is not None and not Path(self.calibration_feedback
                                                              ).is_file():
            raise ValueError(f"--calibration-feedback: {self.calibration_feedback} not found")
        bad = [t for t in self.calibration_sets if t not in PAPER_TASKS]
        if bad:
            raise ValueError(f"unknown detection set {bad[0]!r}: expected some of "
                             f"{', '.join(PAPER_TASKS)}")
        if not self.methods or not self.tasks or not self.seeds:
            raise ValueError("need at least one method, task and seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds repeats a seed: {self.seeds}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")
        self._check_knobs()
        bad = [b for b in self.detection_baselines if b not in DETECTION_BASELINES]
        if bad:
            raise ValueError(f"unknown detection baseline {bad[0]!r}: expected some of "
                             f"{', '.join(DETECTION_BASELINES)}")
        if self.detection_baselines and not self.calibration:
            raise ValueError("--detection-baselines score the detection sets: they need "
                             "calibration on")
        if self.dtype not in DTYPES:
            raise ValueError(f"--dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}")
        if self.bootstrap < 1:
            raise ValueError(f"--bootstrap must be >= 1, got {self.bootstrap}")
        entries = [METHOD_REGISTRY.get(m) for m in self.methods]
        need_base = [e.name for e in entries if e.model == "base" or e.needs_base]
        need_base += ["the ICL calibration baseline"] if self.calibration else []
        if need_base and not self.base_model:
            raise ValueError(f"--base-model is required for {', '.join(need_base)} (no model "
                             "stands in for another; pass --model's value to use that one)")
        need_refine = [e.name for e in entries if e.model == "refine"]
        if need_refine and not self.refine_model:
            raise ValueError(f"--refine-model is required for {', '.join(need_refine)} (no "
                             "model stands in for another; pass --model's value to use that "
                             "one)")
        if self.report_to:  # a tracker asked for but not installed: one line, now
            from training.recipe.trackers import accelerate_trackers

            accelerate_trackers(self.report_to)
        if self.update_card:
            from eval.publish import cards_to_update

            cards_to_update(self)

    def _check_knobs(self) -> None:
        """What MethodParams itself leaves to its callers (wsc_batch_rows, refine_rule and
        tau it checks when made)."""
        p = self.params
        if p.n < 1 or p.rounds < 1 or p.k < 0 or not 0 <= p.w <= 1:
            raise ValueError("need n >= 1, rounds >= 1, k >= 0 and 0 <= w <= 1")
        if p.temperature <= 0:
            raise ValueError(f"--temperature must be > 0, got {p.temperature}")
        if p.refine_keep not in REFINE_KEEP:
            raise ValueError(f"--refine-keep must be one of {', '.join(REFINE_KEEP)}, "
                             f"got {p.refine_keep!r}")

    @property
    def critic(self) -> str:
        """The checkpoint that reads chains (P(no error)): the separate critic, else model."""
        return self.critic_model or self.model

    def model_for(self, method: str) -> str | None:
        """The checkpoint that answers for ``method`` (by the model its entry names)."""
        role = METHOD_REGISTRY.get(method).model
        return {"model": self.model, "base": self.base_model,
                "refine": self.refine_model}[role]
