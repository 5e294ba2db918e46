"""`rhf chains ...`: write k-shot CoT chains for annotators to review."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inference.run_options import Device, Dtype

app = typer.Typer(help="Model-written reasoning chains (k-shot chain of thought).",
                  no_args_is_help=True)



@app.command("generate")
def generate_command(
    model: Annotated[str, typer.Option(help="Hub id, model folder or training RUN_DIR.")],
    task: Annotated[str, typer.Option(
        help="A task name (strategyqa, sports_understanding, or one registered) or a task "
             "YAML file (docs/tasks.md).")],
    out: Annotated[Path, typer.Option(help="JSONL file of chains (appended; reruns resume).")],
    k: Annotated[int, typer.Option(help="Number of shots in the prompt.")] = 4,
    split: Annotated[str, typer.Option(
        help="Questions: train (the paper's train questions), dev or all (BIG-bench).")]
    = "train",
    examples_file: Annotated[Path | None, typer.Option(
        "--examples", help="JSONL of questions to write chains for instead of a split: "
                           "{question[, id, answer, explanation, options]} or Example records; "
                           "the answer may be missing (unlabelled questions).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    samples: Annotated[int, typer.Option(help="Chains per question (>1 needs --sample).")] = 1,
    sample: Annotated[bool, typer.Option("--sample/--greedy", help="Sampling or greedy.")]
    = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
    max_new_tokens: Annotated[int, typer.Option(help="Cap on generated tokens.")] = 96,
    batch_size: Annotated[int, typer.Option(help="Sequences per generate call.")] = 32,
    seed: Annotated[int, typer.Option(help="Sampling seed; also picks the shots (0 = the "
                                           "canonical shots).")] = 0,
    write_every: Annotated[int, typer.Option(
        help="Questions per appended chunk (the resume granularity; prompts are sorted by "
             "length within a chunk, and under accelerate launch its batches are shared out "
             "to the processes).")] = 256,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Generate chains, parse answer and steps; unparseable chains are kept, marked parsed=false.

    Data-parallel: `accelerate launch --num_processes N -m rhf_cli chains generate ...`
    (the same chains as one process; the main process writes).
    """
    from feedback_data.errors import DataError
    from feedback_data.files.disk_full import DiskFull
    from feedback_data.tasks.loaders import read_questions
    from feedback_data.tasks.prompts import default_shots
    from feedback_data.tasks.registry import get_task
    from inference.backends import Backend, ModelLoadError
    from inference.chains import generate_chains, select_examples
    from inference.run_options import check_precision, echo, fail_once
    from inference.run_record import read_runs, write_run_record
    from inference.sharding import LaunchAborted, current
    from inference.shot_budget import check_shot_budget

    dp = current()
    try:
        spec = get_task(task)
        if samples < 1 or k < 0 or limit is not None and limit < 1 or write_every < 1:
            raise ValueError("--samples, --limit and --write-every must be >= 1 and --k >= 0")
        check_precision(device, dtype, dp)
        examples = (read_questions(examples_file, spec)[:limit] if examples_file
                    else select_examples(spec.name, split, limit))
        if not examples:
            raise ValueError("no questions (check --examples, --split and --limit)")
        shots = default_shots(spec.name, k, seed=seed)  # before the model loads: fail early
        check_shot_budget(model, spec.name, examples, shots)  # even one shot too long
        backend = Backend.load(model, batch_size=batch_size, device=device, dtype=dtype,
                               data_parallel=dp)
        read_runs(out)  # a corrupt record fails before any work
        chains = generate_chains(backend, examples, spec.name, k=k, shots=shots, out=out,
                                 num_samples=samples,
                                 do_sample=sample, temperature=temperature,
                                 max_new_tokens=max_new_tokens, seed=seed, chunk=write_every,
                                 write=dp.is_main, log=echo(dp))
        if dp.is_main:
            write_run_record(out, "chains generate", {"model": backend}, dp.world, {
                "task": task, "split": split, "limit": limit, "k": k, "samples": samples,
                "sample": sample, "temperature": temperature, "max_new_tokens": max_new_tokens,
                "batch_size": batch_size, "seed": seed, "write_every": write_every},
                append=True)
    except LaunchAborted as exc:
        fail_once(dp, f"{exc}; {out} holds the chunks finished before it (rerun to resume)")
    except (ValueError, DataError, ModelLoadError, DiskFull) as exc:
        fail_once(dp, str(exc))
    unparsed = sum(not c.parsed for c in chains)
    unlabelled = sum(ex.answer is None for ex in examples)
    echo(dp)(f"{len(chains)} chains for {len(examples)} questions in {out} "
             f"({unparsed} unparsed, kept with parsed=false; {backend.dtype} on "
             f"{backend.info['device']}, {dp.world} process{'es' if dp.world > 1 else ''})"
             + (f"; {unlabelled} questions have no gold answer (annotators' corrections "
                "will supply it)" if unlabelled else ""))
