"""`rhf chains ...`: write k-shot CoT chains for annotators to review."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from feedback_data.cli_errors import fail

app = typer.Typer(help="Model-written reasoning chains (k-shot chain of thought).",
                  no_args_is_help=True)



@app.command("generate")
def generate_command(
    model: Annotated[str, typer.Option(help="Hub id, model folder or training RUN_DIR.")],
    task: Annotated[str, typer.Option(help="strategyqa or sports_understanding.")],
    out: Annotated[Path, typer.Option(help="JSONL file of chains (appended; reruns resume).")],
    k: Annotated[int, typer.Option(help="Number of shots in the prompt.")] = 4,
    split: Annotated[str, typer.Option(
        help="Questions: train (the paper's train questions), dev or all (BIG-bench).")]
    = "train",
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    samples: Annotated[int, typer.Option(help="Chains per question (>1 needs --sample).")] = 1,
    sample: Annotated[bool, typer.Option("--sample/--greedy", help="Sampling or greedy.")]
    = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
    max_new_tokens: Annotated[int, typer.Option(help="Cap on generated tokens.")] = 96,
    batch_size: Annotated[int, typer.Option(help="Sequences per generate call.")] = 32,
    seed: Annotated[int, typer.Option(help="Sampling seed; also picks the shots (0 = the "
                                           "canonical shots).")] = 0,
) -> None:
    """Generate chains, parse answer and steps; unparseable chains are kept, marked parsed=false."""
    from feedback_data.disk_full import DiskFull
    from feedback_data.jsonl import DataError
    from feedback_data.prompts import check_task
    from inference.backends import Backend, ModelLoadError
    from inference.chains import generate_chains, select_examples

    try:
        check_task(task)
        if samples < 1 or k < 0 or limit is not None and limit < 1:
            raise ValueError("--samples and --limit must be >= 1 and --k >= 0")
        examples = select_examples(task, split, limit)
        backend = Backend.load(model, batch_size=batch_size)
        chains = generate_chains(backend, examples, task, k=k, out=out, num_samples=samples,
                                 do_sample=sample, temperature=temperature,
                                 max_new_tokens=max_new_tokens, seed=seed, log=typer.echo)
    except (ValueError, DataError, ModelLoadError, DiskFull) as exc:
        fail(str(exc))
    unparsed = sum(not c.parsed for c in chains)
    typer.echo(f"{len(chains)} chains for {len(examples)} questions in {out} "
               f"({unparsed} unparsed, kept with parsed=false)")
