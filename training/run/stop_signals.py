"""Ctrl-C and SIGTERM during training: the first ends the run after the current step with a
checkpoint; a second stops at once.

On the first SIGINT or SIGTERM the handler only sets a flag (and says so); the loop reads it
after each optimizer step, writes a checkpoint, prints "interrupted at step N; resume with:
..." and raises :class:`RunInterrupted`, which the command turns into exit status 130
(SIGINT) or 143 (SIGTERM). A second signal raises KeyboardInterrupt where the program is.

Under ``accelerate launch`` the launcher passes the signal it receives on to every rank
(each rank runs in its own session, so a terminal's Ctrl-C reaches only the launcher); the
ranks agree on the stop step through a small gloo group, so all of them stop after the
same step and write the checkpoint together. Slurm's SIGTERM before the time limit
(``#SBATCH --signal=TERM@120``) takes the same path. The launcher kills the ranks 30 s
after passing the signal on (``TORCH_ELASTIC_SHUTDOWN_TIMEOUT``): raise it when a step plus
a checkpoint takes longer.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from feedback_data.files.write_lock import command_line

_NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


class RunInterrupted(Exception):
    """The run stopped on a signal; ``exit_code`` is 128 + the signal's number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def launch_words(words: list[str]) -> list[str] | None:
    """The launch in a launcher's argv, as a user types it ('accelerate launch FLAGS ...',
    'torchrun FLAGS ...'); None when ``words`` are not such a launcher.

    >>> launch_words(["/venv/bin/python", "-m", "accelerate.commands.launch", "--cpu", "x.py"])
    ['accelerate', 'launch', '--cpu', 'x.py']
    >>> launch_words(["python", "train.py"]) is None
    True
    """
    for i, word in enumerate(words[:3]):
        name, after = Path(word).name, words[i + 1:i + 2]
        if name == "accelerate" and after == ["launch"]:
            return ["accelerate", "launch", *words[i + 2:]]
        if word == "-m" and after == ["accelerate.commands.launch"]:
            return ["accelerate", "launch", *words[i + 2:]]
        if name == "torchrun":
            return ["torchrun", *words[i + 1:]]
        if word == "-m" and after == ["torch.distributed.run"]:
            return ["torchrun", *words[i + 2:]]
    return None


def launcher_argv() -> list[str] | None:
    """The launch that started this process: its parent's command line when the parent is
    ``accelerate launch`` or ``torchrun`` (which run each rank as their child), else None.
    Read from /proc (Linux); elsewhere None."""
    try:
        raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    except OSError:
        return None
    return launch_words([w.decode("utf-8", "replace") for w in raw.split(b"\0") if w])


def resume_command(num_processes: int = 1, argv: list[str] | None = None,
                   launcher: list[str] | None = None) -> str:
    """The command that continues this run: the launch that started it, as it was (the same
    accelerate flags and process count), with ``--resume``; without a launcher, this
    process's own command (a demo resumes by running its command again). ``launcher`` is the
    launch's argv (default: read from the parent process, :func:`launcher_argv`)."""
    own = shlex.split(command_line(argv))
    trains = own[:2] == ["rhf", "train"] or any(w.startswith("training.") for w in own[:6])
    launch = launch_words(launcher) if launcher is not None else launcher_argv()
    if launch is not None:
        words = launch
    elif num_processes > 1 and own[:1] == ["python"]:
        words = ["accelerate", "launch", "--num_processes", str(num_processes), *own[1:]]
    elif num_processes > 1 and own[:1] == ["rhf"]:
        words = ["accelerate", "launch", "--num_processes", str(num_processes), "-m", "rhf_cli",
                 *own[1:]]
    else:
        words = own
    resumed = any(w == "--resume" or w.split("=")[0].lstrip("-") in ("resume", "train.resume")
                  for w in words)
    if trains and not resumed:
        words.append("--resume")
    return shlex.join(words)


class StopSignals:
    """``with StopSignals() as stop:`` — SIGINT and SIGTERM set ``stop.signum`` (first
    signal) or raise KeyboardInterrupt (second); the previous handlers come back on exit.
    Outside the main thread nothing is installed (Python allows handlers only there)."""

    def __init__(self, announce: bool = True) -> None:
        self.signum = 0
        self.count = 0
        self.announce = announce
        self._previous: dict[int, Any] = {}
        self._group: Any = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt(f"a second signal ({_NAMES.get(signum, signum)})")
        self.signum = signum
        if self.announce and os.environ.get("RANK", "0") == "0":
            print(f"\n{_NAMES.get(signum, signum)}: stopping after the current step with a "
                  f"checkpoint (a second Ctrl-C stops at once)", file=sys.stderr, flush=True)

    def requested(self, accelerator: Any) -> bool:
        """True on every rank once any rank got a signal (read after each step)."""
        if accelerator.num_processes == 1:
            return self.signum != 0
        import torch
        import torch.distributed as dist

        if self._group is None:  # a CPU group: the flag never waits on an accelerator
            self._group = dist.new_group(backend="gloo")
        flag = torch.tensor([self.signum], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group)
        self.signum = self.signum or int(flag[0])
        return bool(flag[0])

    def interrupted(self, step: int, checkpoint: Path | None, num_processes: int,
                    say: Any = print) -> RunInterrupted:
        """Say where the run stopped and how to resume it; the exception to raise."""
        kept = f" (checkpoint {checkpoint})" if checkpoint is not None else ""
        message = (f"interrupted at step {step}{kept}; resume with: "
                   f"{resume_command(num_processes)}")
        say(message)
        return RunInterrupted(message, self.signum or signal.SIGINT)
