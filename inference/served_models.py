"""The models `rhf serve` loads, one per role, each behind its own batcher.

- ``multitask`` (``--model``): /v1/answer, /v1/critique, /v1/vote and the Label Studio ML
  backend: the instructions the multitask recipe trains.
- ``refine`` (``--refine-model``): /v1/refine, the "error types ; correction" instruction.
- ``base`` (``--base-model``): /v1/refine's first chain (k-shot CoT) when a request has none.
- ``critic`` (``--critic-model``): a separate critic (``rhf train --objective critic``) that
  gives P(no error) in /v1/critique and the Label Studio ML backend's scores; without it the
  multitask model does.

A spec given for two roles is loaded once and shares one batcher. A role left out is None:
its endpoints answer 409 naming the flag (:data:`ROLE_FLAGS`).

When the chain reader's checkpoint (the critic's, else the multitask model's) holds a
combiner (``rhf eval fit-critic``), P(no error) is the combined critic's
(:class:`inference.combined_critic.CombinedCritic`) wherever a request names its task:
/v1/critique, the Label Studio ML backend (a task rhf pushed names it), wsc_soft and refine's
threshold rule. Its verifier is served as the role ``verifier`` (the served model of that
spec, e.g. ``--base-model``, when there is one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from feedback_data.records.provenance import model_version
from inference.batcher import BatchedModel, BatchingConfig, LockedModel

ROLES: tuple[str, ...] = ("multitask", "refine", "base", "critic")
ROLE_FLAGS = {"multitask": "--model", "refine": "--refine-model", "base": "--base-model",
              "critic": "--critic-model"}


@dataclass
class Served:
    """One loaded model: what runs it (batched or locked), its version and where it runs."""

    model: Any  # BatchedModel or LockedModel over the loaded Backend (or a stand-in)
    spec: str
    version: str
    dtype: str | None
    device: str | None

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "model_version": self.version, "dtype": self.dtype,
                "device": self.device}


@dataclass
class ServedModels:
    """The roles' models (None when not served) and the batching they share."""

    roles: dict[str, Served | None] = field(default_factory=dict)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    # the combined critic over the chain reader (critic, else multitask) and its verifier,
    # when the reader's checkpoint holds a combiner (`rhf eval fit-critic`)
    judge: Any = None

    @classmethod
    def load(cls, multitask: str | Any = None, refine: str | Any = None,
             base: str | Any = None, *, dtype: str = "auto", device: str = "auto",
             batching: BatchingConfig | None = None, critic: str | Any = None
             ) -> ServedModels:
        """Load each distinct spec once (a loaded model or stand-in is used as it is); a
        model whose weights hold NaN or inf is refused."""
        from inference.backends import Backend

        batching = batching or BatchingConfig()
        loaded: dict[int | str, Served] = {}
        roles: dict[str, Served | None] = {}
        for role, spec in (("multitask", multitask), ("refine", refine), ("base", base),
                           ("critic", critic)):
            if spec is None:
                roles[role] = None
                continue
            key = spec if isinstance(spec, str) else id(spec)
            if key not in loaded:
                loaded[key] = serve(Backend.load(spec, dtype=dtype, device=device)
                                    if isinstance(spec, str) else spec, batching)
            roles[role] = loaded[key]
        served = cls(roles=roles, batching=batching)
        served.judge = served.combined_critic(
            lambda spec: Backend.load(spec, dtype=dtype, device=device), loaded)
        return served

    def combined_critic(self, load: Any, loaded: dict[int | str, Served]) -> Any:
        """The combined critic over the chain reader, when its checkpoint holds a combiner:
        its verifier is the served model of that spec (e.g. ``--base-model``), else loaded
        and served as the role ``verifier`` (shown by /health); a planner it reads (the
        ``subquestions`` feature) likewise, as the role ``planner``."""
        from inference.combined_critic import CombinedCritic, with_combiner

        reader = self.get("critic") or self.get("multitask")
        if reader is None:
            return None

        def as_role(role: str) -> Any:
            def get(spec: str) -> Any:
                served = loaded.get(spec) or next(
                    (s for s in self.roles.values() if s is not None and s.spec == spec), None)
                self.roles[role] = served or serve(load(spec), self.batching)
                return self.roles[role].model
            return get

        judge = with_combiner(reader.model, as_role("verifier"),
                              load_planner=as_role("planner"))
        return judge if isinstance(judge, CombinedCritic) else None

    def get(self, role: str) -> Served | None:
        return self.roles.get(role)

    def describe(self) -> dict[str, Any]:
        """For /health: each served role's spec, version, dtype and device."""
        return {role: s.describe() for role, s in self.roles.items() if s is not None}


def serve(backend: Any, batching: BatchingConfig) -> Served:
    """``backend`` (refused when its weights hold NaN or inf) behind its batcher, with its
    version, dtype and device."""
    check_finite(backend)
    info = getattr(backend, "info", None) or {}
    wrap = BatchedModel if batching.enabled else LockedModel
    return Served(model=wrap(backend, batching), spec=str(backend.name),
                  version=model_version(backend),
                  dtype=info.get("dtype") or getattr(backend, "dtype", None),
                  device=info.get("device"))


def check_finite(backend: Any) -> None:
    """Refuse to serve weights holding NaN or inf (a diverged run): every answer would be
    empty or an error."""
    model = getattr(backend, "model", None)
    if model is None or not hasattr(model, "named_parameters"):
        return
    import torch

    from inference.backends import ModelLoadError

    for name, param in model.named_parameters():
        if not torch.isfinite(param).all():
            where = (getattr(backend, "info", None) or {}).get("path", backend.name)
            raise ModelLoadError(f"{where}: weight {name} holds NaN or inf (a diverged run?); "
                                 f"refusing to serve it")
