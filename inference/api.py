"""Model endpoints for `rhf serve`: answer, critique, refine, vote, and a Label Studio ML backend.

Each endpoint runs the model trained for it (:mod:`inference.served_models`): the multitask
model answers, critiques, votes and pre-annotates; the refine model refines, starting from the
base model's k-shot chain when the request gives none. An endpoint whose model is not served
answers 409 naming the flag that serves it. Requests name their task (checked by
:func:`known_task`) and never carry, or get, a made-up gold answer.

Concurrent requests are micro-batched (:mod:`inference.batcher`): calls arriving within a few
milliseconds run as one generate call; a full queue answers 503 with Retry-After.

A bearer token is required on every route here when ``RHF_API_TOKEN`` is set (read per
request). Request limits are pydantic constraints, so a request over a limit (or a NaN or
infinite number) gets a 422 that names the field and the limit.

Besides the fixed routes, every method of the method registry (inference.dispatch) gets
``POST /v1/methods/<name>``, answered by the model its entry names. A multiple-choice
question gives its options.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import fields
from typing import Any, get_args, get_type_hints

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from feedback_data.records.provenance import model_version
from feedback_data.text.answers import parse_answer_chain
from feedback_data.text.critic_labels import no_error_probabilities, reading_of
from feedback_data.text.instructions import (
    answer_prompt,
    description_prompt,
    error_types_prompt,
    parse_error_types_text,
)
from inference.batcher import ServiceBusy
from inference.dispatch import METHOD_REGISTRY, MethodParams, method_params_from, run_method
from inference.methods import CRITIQUE_TOKENS
from inference.served_models import ROLE_FLAGS, Served, ServedModels, check_finite

__all__ = ["make_model_router", "model_version", "check_finite", "known_task", "token_ok"]

MAX_QUESTION_CHARS = 1000
MAX_CHAIN_CHARS = 4000
MAX_N = 64
MAX_NEW_TOKENS = 256
MAX_ROUNDS = 10
MAX_SHOTS = 8
MAX_PREDICT_TASKS = 100
TOKEN_ENV = "RHF_API_TOKEN"

_bearer = HTTPBearer(auto_error=False, description=f"Required when ${TOKEN_ENV} is set.")


def token_ok(authorization: str | None) -> bool:
    """True when no token is configured, or ``authorization`` (the header's value) is
    'Bearer <the token>'. Read per request; the app's guard calls it before any body is read."""
    expected = os.environ.get(TOKEN_ENV)
    if not expected:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                               expected.encode())


AUTH_MESSAGE = "missing or wrong bearer token (Authorization: Bearer <token>)"


def require_token(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    if not token_ok(f"Bearer {creds.credentials}" if creds is not None else None):
        raise HTTPException(401, AUTH_MESSAGE, headers={"WWW-Authenticate": "Bearer"})


def known_task(name: str) -> str:
    """The one lookup of a request's task: a registered name only (a ValueError lists the
    known ones). Nothing is read from disk, so a path gets the same answer as any unknown
    name; task files are loaded at start-up (``rhf serve --task-path``)."""
    from feedback_data.tasks.registry import registered_task

    return registered_task(name).name


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=200, description=(
        "The question's task: a built-in or registered task name, e.g. 'strategyqa' (how "
        "the answer is read; required, never assumed)."), examples=["strategyqa"])

    @field_validator("task")
    @classmethod
    def _task(cls, value: str) -> str:
        return known_task(value)


Question = Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                 description=f"The question (at most {MAX_QUESTION_CHARS} characters).")
ChainText = Field(min_length=1, max_length=MAX_CHAIN_CHARS,
                  description="A chain: 'The answer is yes because ...'.")
NewTokens = Field(64, ge=1, le=MAX_NEW_TOKENS,
                  description=f"Cap on generated tokens (at most {MAX_NEW_TOKENS}).")
MAX_OPTIONS = 26
Options = Field(None, max_length=MAX_OPTIONS,
                description="A multiple-choice task's options (shown in the question).")


# The service's limits on the method knobs a request may set (inference.dispatch.MethodParams;
# a knob without limits here is bounded by its type only).
KNOB_LIMITS: dict[str, dict[str, Any]] = {
    "k": {"ge": 0, "le": MAX_SHOTS}, "n": {"ge": 1, "le": MAX_N},
    "w": {"ge": 0.0, "le": 1.0}, "temperature": {"gt": 0.0, "le": 2.0},
    "rounds": {"ge": 1, "le": MAX_ROUNDS}, "seed": {"ge": 0, "lt": 2**32},
    "max_new_tokens": {"ge": 1, "le": MAX_NEW_TOKENS}, "tau": {"ge": 0.0, "le": 1.0}}


def request_knobs() -> tuple[str, ...]:
    """The MethodParams fields a request may set (the others are the server's own)."""
    return tuple(f.name for f in fields(MethodParams) if f.metadata.get("request", True))


def knob_fields(names: tuple[str, ...], **defaults: Any) -> dict[str, Any]:
    """Pydantic fields for the knobs ``names``: each with its MethodParams type, default
    (or ``defaults``') and help as its description, within :data:`KNOB_LIMITS`."""
    hints = get_type_hints(MethodParams)
    by_name = {f.name: f for f in fields(MethodParams)}
    out: dict[str, Any] = {}
    for name in names:
        f = by_name[name]
        extra = {"allow_inf_nan": False} if float in (hints[name], *get_args(hints[name])) \
            else {}
        out[name] = (hints[name], Field(defaults.get(name, f.default),
                                        description=f.metadata["help"],
                                        **KNOB_LIMITS.get(name, {}), **extra))
    return out


class AnswerRequest(_Req):
    question: str = Question
    options: list[str] | None = Options
    max_new_tokens: int = NewTokens


class CritiqueRequest(_Req):
    question: str = Question
    chain: str = ChainText
    max_new_tokens: int = NewTokens


class _RefineRequest(_Req):
    question: str = Question
    options: list[str] | None = Options
    chain: str | None = Field(None, min_length=1, max_length=MAX_CHAIN_CHARS, description=(
        "The chain to refine; without it the base model (--base-model) writes the first "
        "one with a k-shot CoT prompt."))


RefineRequest = create_model("RefineRequest", __base__=_RefineRequest,
                             **knob_fields(("k", "rounds", "max_new_tokens")))


class _VoteRequest(_Req):
    question: str = Question
    options: list[str] | None = Options


VoteRequest = create_model("VoteRequest", __base__=_VoteRequest, **knob_fields(
    ("n", "w", "temperature", "seed", "max_new_tokens")))


class _MethodRequest(_Req):
    """One question for any registered method; each method reads the knobs it uses."""

    question: str = Question
    options: list[str] | None = Options
    chain: str | None = Field(None, min_length=1, max_length=MAX_CHAIN_CHARS,
                              description="refine: the chain to start from (else the "
                                          "served model writes it, k-shot CoT).")


# Every knob a request may set; a CoT prompt here has no shots unless asked.
MethodRequest = create_model("MethodRequest", __base__=_MethodRequest,
                             __doc__=_MethodRequest.__doc__,
                             **knob_fields(request_knobs(), k=0))


def question_of(req: Any) -> Any:
    """The request's question as an unlabelled Example of its task (422 when it cannot be)."""
    from feedback_data.errors import DataError
    from feedback_data.tasks.data import question_example

    try:
        return question_example(req.task, req.question, req.options)
    except (DataError, ValueError) as exc:
        raise HTTPException(422, str(exc).splitlines()[0]) from exc


class LSPredictRequest(BaseModel):
    """Label Studio's ML-backend request: tasks with their data (other keys ignored)."""

    tasks: list[dict[str, Any]] = Field(max_length=MAX_PREDICT_TASKS)
    model_config = ConfigDict(extra="allow")


NEEDS = {"multitask": "the multitask model", "refine": "the refine model",
         "base": "the base model", "critic": "the critic"}


class ModelRoutes:
    """The model routes' handlers over the served models, one method each; the helpers they
    share (which model serves a role, generation and P(no error) under the service's busy
    rule) beside them. :func:`make_model_router` puts each on its path."""

    def __init__(self, models: ServedModels) -> None:
        self.models = models

    def need(self, role: str, path: str, why: str = "") -> Served:
        served = self.models.get(role)
        if served is None:
            raise HTTPException(409, f"{path} needs {NEEDS[role]}{why}: start rhf serve with "
                                     f"{ROLE_FLAGS[role]}")
        return served

    @staticmethod
    def busy(exc: ServiceBusy) -> HTTPException:
        return HTTPException(503, str(exc), headers={"Retry-After": str(exc.retry_after)})

    def generate(self, served: Served, prompts: list[str], max_new_tokens: int) -> list[str]:
        try:
            return [o[0] for o in served.model.generate(prompts, max_new_tokens=max_new_tokens)]
        except ServiceBusy as exc:
            raise self.busy(exc) from exc

    def p_no_error(self, served: Served, chains: list[tuple[str, str]],
                   tasks: list[str | None] | None = None) -> list[float | None]:
        """P(no error) over all 16 error labels per (question, chain), from the separate
        critic when one is served (``--critic-model``), else ``served``; None for a model
        that cannot score (a scripted test model without a score function). Where a chain's
        task is known (``tasks``) and the combined critic reads it (:attr:`ServedModels.judge`
        over that scorer), the combined critic's P."""
        scorer = self.models.get("critic") or served
        order = getattr(scorer.model, "chain_order", None)
        prompts = [error_types_prompt(q, c, order) for q, c in chains]
        try:
            probs = list(no_error_probabilities(scorer.model, prompts))
            judge = self.models.judge
            if judge is None or judge.inner is not scorer.model or not tasks:
                return probs
            from feedback_data.tasks.data import question_example

            fitted = set(judge.tasks())
            known = [n for n, t in enumerate(tasks) if t in fitted]
            judged = []
            for n in known:
                ex = question_example(tasks[n], chains[n][0])
                judged.append((ex, chains[n][1], parse_answer_chain(chains[n][1], ex)[0]))
            for n, p in zip(known, judge.combine(judged, [probs[n] for n in known]),
                            strict=True):
                probs[n] = p
            return probs
        except ServiceBusy as exc:
            raise self.busy(exc) from exc
        except NotImplementedError:
            return [None] * len(prompts)

    def critic_for_methods(self) -> Any:
        """What wsc_soft and refine's threshold rule read: the combined critic when there is
        one, else the separate critic, else the multitask model (None: neither served)."""
        reader = self.models.get("critic") or self.models.get("multitask")
        return self.models.judge or (reader.model if reader is not None else None)

    def answer(self, req: AnswerRequest) -> dict[str, Any]:
        served = self.need("multitask", "/v1/answer")
        ex = question_of(req)
        text = self.generate(served, [answer_prompt(ex.question)], req.max_new_tokens)[0]
        ans, steps, parsed = parse_answer_chain(text, ex)
        return {"task": req.task, "answer": ans, "steps": steps, "parsed": parsed, "text": text,
                "model_version": served.version}

    def critique(self, req: CritiqueRequest) -> dict[str, Any]:
        served = self.need("multitask", "/v1/critique")
        order = getattr(served.model, "chain_order", None)  # the chain as the critic reads it
        types_prompt = error_types_prompt(req.question, req.chain, order)
        types_text, description = self.generate(
            served, [types_prompt, description_prompt(req.question, req.chain, order)],
            req.max_new_tokens)
        p_no = self.p_no_error(served, [(req.question, req.chain)], [req.task])[0]
        words = reading_of(served.model).label_words  # the labels it was trained to write
        return {"task": req.task, "error_types": parse_error_types_text(types_text, words),
                "error_types_text": types_text, "description": description,
                "p_no_error": None if p_no is None else round(p_no, 6),
                "p_no_error_from": self.reader_name(req.task),
                "model_version": served.version}

    def reader_name(self, task: str | None) -> str:
        """'combined' when the combined critic reads chains of ``task``, else 'learned'."""
        judge = self.models.judge
        return "combined" if judge is not None and task in judge.tasks() else "learned"

    def refine(self, req: RefineRequest) -> dict[str, Any]:
        served = self.need("refine", "/v1/refine")
        base = None if req.chain is not None else self.need(
            "base", "/v1/refine", " to write the first chain (or send 'chain')")
        params = method_params_from(req.model_dump(), batch_size=None)
        query = question_of(req)
        try:
            pred = run_method("refine", served.model, [query], params,
                              base=base.model if base else None,
                              start_chains=[req.chain] if req.chain is not None else None)[0]
        except ServiceBusy as exc:
            raise self.busy(exc) from exc
        return {"task": req.task, "answer": pred.answer, "text": pred.text, **pred.meta,
                "start_model_version": base.version if base else None,
                "model_version": served.version}

    def vote(self, req: VoteRequest) -> dict[str, Any]:
        served = self.need("multitask", "/v1/vote")
        params = method_params_from(req.model_dump(), batch_size=None)
        query = question_of(req)
        try:
            pred = run_method("wsc", served.model, [query], params)[0]
        except ServiceBusy as exc:
            raise self.busy(exc) from exc
        samples = [{"text": t, "answer": a, "critique": c, "weight": wt} for t, a, c, wt in zip(
            pred.meta["texts"], pred.meta["answers"], pred.meta["critiques"],
            pred.meta["weights"], strict=True)]
        return {"task": req.task, "answer": pred.answer, "samples": samples,
                "model_version": served.version}

    ROLES = {"model": "multitask", "base": "base", "refine": "refine"}

    def method(self, name: str) -> Callable[[MethodRequest], dict[str, Any]]:
        """The handler of ``POST /v1/methods/<name>``: the registered method on one question."""
        entry = METHOD_REGISTRY.get(name)
        path = entry.route

        def run(req: MethodRequest) -> dict[str, Any]:
            served = self.need(self.ROLES[entry.model], path)
            base = self.need("base", path, " to write the first chain (or send 'chain')") \
                if entry.needs_base and not req.chain else None
            ex = question_of(req)
            try:
                params = method_params_from(req.model_dump(), batch_size=None)
                reads = name == "wsc_soft" or params.refine_rule == "threshold"
                pred = run_method(name, served.model, [ex], params,
                                  base=base.model if base else None,
                                  start_chains=[req.chain] if req.chain else None,
                                  critic=self.critic_for_methods() if reads else None)[0]
            except ServiceBusy as exc:
                raise self.busy(exc) from exc
            except ValueError as exc:
                raise HTTPException(422, str(exc).splitlines()[0]) from exc
            return {"method": name, "task": ex.task, "answer": pred.answer, "text": pred.text,
                    "meta": pred.meta, "model_version": served.version}

        return run

    def setup(self) -> dict[str, str]:
        return {"model_version": self.need("multitask", "/setup").version}

    def predict(self, req: LSPredictRequest) -> dict[str, Any]:
        from inference.ml_backend import TaskError, prediction, task_inputs, task_name

        served = self.need("multitask", "/predict")
        try:
            inputs = [task_inputs(t, i, MAX_QUESTION_CHARS, MAX_CHAIN_CHARS)
                      for i, t in enumerate(req.tasks)]
        except TaskError as exc:
            raise HTTPException(422, str(exc)) from exc
        # Two batched calls for all the tasks: error types, then descriptions where an
        # error was named (they locate the first wrong step).
        order = getattr(served.model, "chain_order", None)  # chains as the critic reads them
        prompts = [error_types_prompt(q, c, order) for q, c, _ in inputs]
        words = reading_of(served.model).label_words  # the labels it was trained to write
        codes = [parse_error_types_text(t, words)
                 for t in self.generate(served, prompts, CRITIQUE_TOKENS)]
        p_no = self.p_no_error(served, [(q, c) for q, c, _ in inputs],
                               [task_name(t) for t in req.tasks])
        flagged = [i for i, c in enumerate(codes) if c]
        described = self.generate(served, [description_prompt(inputs[i][0], inputs[i][1], order)
                                           for i in flagged], CRITIQUE_TOKENS)
        descriptions: dict[int, str] = dict(zip(flagged, described, strict=True))
        results = [prediction(c, descriptions.get(i), inputs[i][2], served.version, p_no[i])
                   for i, c in enumerate(codes)]
        return {"results": results, "model_version": served.version}


def make_model_router(models: ServedModels | str | Any) -> APIRouter:
    """The model routes over ``models`` (a :class:`ServedModels`; a spec or a loaded model
    is served as the multitask model alone): the fixed routes, one route per registered
    method (read from the registry when the app is built), and Label Studio's ML backend."""
    if not isinstance(models, ServedModels):
        models = ServedModels.load(multitask=models)
    routes = ModelRoutes(models)
    router = APIRouter(dependencies=[Depends(require_token)], tags=["model"])
    router.post("/v1/answer", summary="Answer a question with an explained chain "
                                      "(multitask model)")(routes.answer)
    router.post("/v1/critique", summary="Error types and description of a chain "
                                        "(multitask model)")(routes.critique)
    router.post("/v1/refine", summary="Refine a chain until no error is predicted "
                                      "(refine model; first chain: base model)")(routes.refine)
    router.post("/v1/vote", summary="Weighted self-consistency over n sampled answers "
                                    "(multitask model)")(routes.vote)
    for entry in METHOD_REGISTRY:
        router.post(entry.route, summary=entry.display_title, description=entry.describe(),
                    name=f"method_{entry.name}")(routes.method(entry.name))
    router.post("/setup", summary="Label Studio ML backend: connection check")(routes.setup)
    router.post("/predict", summary="Label Studio ML backend: pre-filled error types and "
                                    "first wrong step (multitask model)")(routes.predict)
    return router
