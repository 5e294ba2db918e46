"""Model endpoints for `rhf serve`: answer, critique, refine, vote, and a Label Studio ML backend.

Besides the fixed routes, every method of the method registry (inference.dispatch) gets
``POST /v1/methods/<name>``; a request names its task (default strategyqa), and a
multiple-choice question gives its options. A bearer token is required on every route here
when ``RHF_API_TOKEN`` is set (read per request). Request limits are pydantic constraints,
so a request over a limit gets a 422 that names the field and the limit. Generation runs
under one lock: a CPU model serves one request at a time, and FastAPI runs these sync
handlers in its thread pool.
"""

from __future__ import annotations

import hmac
import os
import threading
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from feedback_data.answers import parse_answer_chain
from feedback_data.instructions import (
    answer_prompt,
    description_prompt,
    error_types_prompt,
    parse_error_types_text,
)
from feedback_data.provenance import model_version
from inference.dispatch import METHOD_REGISTRY, MethodParams, run_method
from inference.methods import (
    CRITIQUE_TOKENS,
    DEFAULT_N,
    DEFAULT_ROUNDS,
    DEFAULT_TEMPERATURE,
    DEFAULT_W,
)

MAX_QUESTION_CHARS = 1000
MAX_CHAIN_CHARS = 4000
MAX_N = 64
MAX_NEW_TOKENS = 256
MAX_ROUNDS = 10
MAX_PREDICT_TASKS = 100
TOKEN_ENV = "RHF_API_TOKEN"

_bearer = HTTPBearer(auto_error=False, description=f"Required when ${TOKEN_ENV} is set.")


def require_token(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    expected = os.environ.get(TOKEN_ENV)
    if not expected:
        return
    if creds is None or not hmac.compare_digest(creds.credentials.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong bearer token (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid")


Question = Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                 description=f"The question (at most {MAX_QUESTION_CHARS} characters).")
ChainText = Field(min_length=1, max_length=MAX_CHAIN_CHARS,
                  description="A chain: 'The answer is yes because ...'.")
NewTokens = Field(64, ge=1, le=MAX_NEW_TOKENS,
                  description=f"Cap on generated tokens (at most {MAX_NEW_TOKENS}).")
MAX_OPTIONS = 26
TaskName = Field("strategyqa", min_length=1, max_length=200,
                 description="The task (a registered task name): how the answer is read.")
Options = Field(None, max_length=MAX_OPTIONS,
                description="A multiple-choice task's options (shown in the question).")


class AnswerRequest(_Req):
    question: str = Question
    task: str = TaskName
    options: list[str] | None = Options
    max_new_tokens: int = NewTokens


class CritiqueRequest(_Req):
    question: str = Question
    chain: str = ChainText
    max_new_tokens: int = NewTokens


class RefineRequest(_Req):
    question: str = Question
    task: str = TaskName
    options: list[str] | None = Options
    chain: str = ChainText
    rounds: int = Field(DEFAULT_ROUNDS, ge=1, le=MAX_ROUNDS)
    max_new_tokens: int = NewTokens


class VoteRequest(_Req):
    question: str = Question
    task: str = TaskName
    options: list[str] | None = Options
    n: int = Field(DEFAULT_N, ge=1, le=MAX_N, description=f"Samples (at most {MAX_N}).")
    w: float = Field(DEFAULT_W, ge=0.0, le=1.0)
    temperature: float = Field(DEFAULT_TEMPERATURE, gt=0.0, le=2.0)
    seed: int = Field(0, ge=0, lt=2**32, description="Sampling seed, in [0, 2**32).")
    max_new_tokens: int = NewTokens


class MethodRequest(_Req):
    """One question for any registered method; each method reads the knobs it uses."""

    question: str = Question
    task: str = TaskName
    options: list[str] | None = Options
    chain: str | None = Field(None, min_length=1, max_length=MAX_CHAIN_CHARS,
                              description="refine: the chain to start from (else the "
                                          "served model writes it, k-shot CoT).")
    k: int = Field(0, ge=0, le=8, description="Shots in a CoT prompt (at most 8).")
    n: int = Field(DEFAULT_N, ge=1, le=MAX_N, description=f"Samples (at most {MAX_N}).")
    w: float = Field(DEFAULT_W, ge=0.0, le=1.0)
    temperature: float = Field(DEFAULT_TEMPERATURE, gt=0.0, le=2.0)
    rounds: int = Field(DEFAULT_ROUNDS, ge=1, le=MAX_ROUNDS)
    seed: int = Field(0, ge=0, lt=2**32, description="Sampling seed, in [0, 2**32).")
    max_new_tokens: int = NewTokens


def question_of(req: Any) -> Any:
    """The request's question as an unlabelled Example of its task (422 when it cannot be)."""
    from feedback_data.jsonl import DataError
    from feedback_data.tasks.data import question_example

    try:
        return question_example(req.task, req.question, req.options)
    except (DataError, ValueError) as exc:
        raise HTTPException(422, str(exc).splitlines()[0]) from exc


class LSPredictRequest(BaseModel):
    """Label Studio's ML-backend request: tasks with their data (other keys ignored)."""

    tasks: list[dict[str, Any]] = Field(max_length=MAX_PREDICT_TASKS)
    model_config = ConfigDict(extra="allow")


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


def make_model_router(model: str | Any) -> APIRouter:
    """Load ``model`` (hub id, folder or RUN_DIR; or an already loaded Backend) and route it."""
    from inference.backends import Backend

    backend = Backend.load(model) if isinstance(model, str) else model
    check_finite(backend)
    version = model_version(backend)
    lock = threading.Lock()
    router = APIRouter(dependencies=[Depends(require_token)], tags=["model"])

    def generate(prompts: list[str], max_new_tokens: int) -> list[str]:
        with lock:
            return [o[0] for o in backend.generate(prompts, max_new_tokens=max_new_tokens)]

    def critique(question: str, chain: str, max_new_tokens: int) -> dict[str, Any]:
        types_text, description = generate(
            [error_types_prompt(question, chain), description_prompt(question, chain)],
            max_new_tokens)
        codes = parse_error_types_text(types_text)
        return {"error_types": codes, "error_types_text": types_text,
                "description": description, "model_version": version}

    @router.post("/v1/answer", summary="Answer a question with an explained chain")
    def answer(req: AnswerRequest) -> dict[str, Any]:
        ex = question_of(req)
        text = generate([answer_prompt(ex.question)], req.max_new_tokens)[0]
        ans, steps, parsed = parse_answer_chain(text, ex)
        return {"answer": ans, "steps": steps, "parsed": parsed, "text": text,
                "model_version": version}

    @router.post("/v1/critique", summary="Error types and description of a chain")
    def critique_route(req: CritiqueRequest) -> dict[str, Any]:
        return critique(req.question, req.chain, req.max_new_tokens)

    @router.post("/v1/refine", summary="Refine a chain until no error is predicted")
    def refine(req: RefineRequest) -> dict[str, Any]:
        ex = question_of(req)
        with lock:
            pred = run_method("refine", backend, [ex], MethodParams(
                rounds=req.rounds, max_new_tokens=req.max_new_tokens, batch_size=None),
                start_chains=[req.chain])[0]
        return {"answer": pred.answer, "text": pred.text, **pred.meta, "model_version": version}

    @router.post("/v1/vote", summary="Weighted self-consistency over n sampled answers")
    def vote(req: VoteRequest) -> dict[str, Any]:
        ex = question_of(req)
        with lock:
            pred = run_method("wsc", backend, [ex], MethodParams(
                n=req.n, w=req.w, temperature=req.temperature, seed=req.seed,
                max_new_tokens=req.max_new_tokens, batch_size=None))[0]
        samples = [{"text": t, "answer": a, "critique": c, "weight": wt} for t, a, c, wt in zip(
            pred.meta["texts"], pred.meta["answers"], pred.meta["critiques"],
            pred.meta["weights"], strict=True)]
        return {"answer": pred.answer, "samples": samples, "model_version": version}

    def method_route(name: str):
        def run(req: MethodRequest) -> dict[str, Any]:
            ex = question_of(req)
            params = MethodParams(k=req.k, n=req.n, w=req.w, temperature=req.temperature,
                                  rounds=req.rounds, seed=req.seed,
                                  max_new_tokens=req.max_new_tokens, batch_size=None)
            try:
                with lock:
                    pred = run_method(name, backend, [ex], params, base=backend,
                                      start_chains=[req.chain] if req.chain else None)[0]
            except ValueError as exc:
                raise HTTPException(422, str(exc).splitlines()[0]) from exc
            return {"method": name, "task": ex.task, "answer": pred.answer, "text": pred.text,
                    "meta": pred.meta, "model_version": version}

        return run

    # One route per registered method, read from the registry when the app is built.
    for entry in METHOD_REGISTRY:
        router.post(f"/v1/methods/{entry.name}", summary=entry.title or entry.name,
                    description=entry.help or None, name=f"method_{entry.name}"
                    )(method_route(entry.name))

    @router.post("/setup", summary="Label Studio ML backend: connection check")
    def setup() -> dict[str, str]:
        return {"model_version": version}

    @router.post("/predict", summary="Label Studio ML backend: pre-filled error types and "
                                     "first wrong step")
    def predict(req: LSPredictRequest) -> dict[str, Any]:
        from inference.ml_backend import TaskError, prediction, task_inputs

        try:
            inputs = [task_inputs(t, i, MAX_QUESTION_CHARS, MAX_CHAIN_CHARS)
                      for i, t in enumerate(req.tasks)]
        except TaskError as exc:
            raise HTTPException(422, str(exc)) from exc
        results = []
        for question, chain, n_steps in inputs:
            codes = parse_error_types_text(
                generate([error_types_prompt(question, chain)], CRITIQUE_TOKENS)[0])
            description = (generate([description_prompt(question, chain)], CRITIQUE_TOKENS)[0]
                           if codes else None)
            results.append(prediction(codes, description, n_steps, version))
        return {"results": results, "model_version": version}

    return router
