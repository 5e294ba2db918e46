"""The task registry: the built-in StrategyQA and Sports Understanding, and every spec loaded.

``--task NAME`` looks a name up here; ``--task path/to/task.yaml`` reads the file and
registers its spec (so records of that task can be read in the same run). A name not
registered yet is also looked for in the task files of ``RHF_TASK_PATH`` (YAML files or
folders of them, separated by ``os.pathsep``), so a command that meets records of a task
(`rhf annotate push`, `rhf serve`) finds its spec. An unknown name is one error naming the
known tasks.
"""

from __future__ import annotations

import os
from pathlib import Path

from feedback_data.registry import Registry, UnknownName
from feedback_data.tasks.spec import LoaderSpec, ShotsSpec, SpecError, TaskSpec, load_spec_file
from feedback_data.text.answers import YES_NO

TASKS: Registry[TaskSpec] = Registry("task")
TASK_PATH_ENV = "RHF_TASK_PATH"
SHOWN_CHARS = 80  # of a bad name, at most this much is quoted back

BUILTIN_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(name="strategyqa", loader=LoaderSpec("builtin", "strategyqa"),
             answer_format=YES_NO, shots=ShotsSpec("data"), display_name="StrategyQA",
             description="BIG-bench StrategyQA (yes/no), with the paper's feedback",
             builtin=True),
    TaskSpec(name="sports_understanding", loader=LoaderSpec("builtin", "sports_understanding"),
             answer_format=YES_NO, shots=ShotsSpec("data"),
             display_name="Sports Understanding",
             description="BIG-bench Sports Understanding (plausible: yes/no), with the "
                         "paper's feedback", builtin=True, claims="sport_slots"),
)
for _spec in BUILTIN_TASKS:
    TASKS.register(_spec.name, _spec)


def is_spec_path(value: str) -> bool:
    return value.endswith((".yaml", ".yml")) or Path(value).is_file()


def register_spec(spec: TaskSpec) -> TaskSpec:
    """Add ``spec`` to the registry; the same name from the same file is replaced, any other
    clash is an error."""
    if spec.name in TASKS:
        known = TASKS.get(spec.name)
        if known.builtin or known.path is None or spec.path is None or \
                known.path.resolve() != spec.path.resolve():
            where = "a built-in task" if known.builtin else f"the task of {known.where()}"
            raise SpecError(f"{spec.where()}: field 'name': {spec.name!r} is already {where}")
    return TASKS.register(spec.name, spec, replace=True)


def get_task(name_or_path: str | TaskSpec) -> TaskSpec:
    """A registered task by name, or the spec of a task YAML file (registered on the way)."""
    if isinstance(name_or_path, TaskSpec):
        return name_or_path
    if is_spec_path(name_or_path):
        return register_spec(load_spec_file(name_or_path))
    if name_or_path not in TASKS:
        found = _from_task_path(name_or_path)
        if found is not None:
            return found
    try:
        return TASKS.get(name_or_path)
    except UnknownName as exc:
        raise UnknownName(f"{exc} (or give a task YAML file: --task path/to/task.yaml, or "
                          f"put it on ${TASK_PATH_ENV})") from None


def _from_task_path(name: str) -> TaskSpec | None:
    """The spec named ``name`` among the task files of RHF_TASK_PATH (registered), if any."""
    for entry in os.environ.get(TASK_PATH_ENV, "").split(os.pathsep):
        if not entry.strip():
            continue
        path = Path(entry).expanduser()
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
        for file in files:
            spec = load_spec_file(file)
            if spec.name == name:
                return register_spec(spec)
    return None


def registered_task(name: str) -> TaskSpec:
    """A task already in the registry, looked up by name alone: nothing is read from disk,
    so a client-supplied name (the model service's ``task``) can never open a file. The
    error quotes at most a short prefix of ``name`` and is the same for every unknown name."""
    if isinstance(name, str) and name in TASKS:
        return TASKS.get(name)
    shown = name[:SHOWN_CHARS] + ("..." if len(name) > SHOWN_CHARS else "")
    raise UnknownName(f"unknown task {shown!r}: known tasks are {', '.join(TASKS.names())} "
                      f"(a task from a YAML file is loaded when the server starts: "
                      f"rhf serve --task-path FILE)")


def task_path_files(entries: list[str | Path] | tuple[str | Path, ...]) -> list[Path]:
    """The task YAML files of ``entries``: each a file, or a folder read for *.yaml/*.yml."""
    files: list[Path] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        elif path.exists():
            files.append(path)
        else:
            raise SpecError(f"{path}: no such task file or folder")
    return files


def load_task_paths(entries: list[str | Path] | tuple[str | Path, ...]) -> list[TaskSpec]:
    """Read and register every task file of ``entries`` (files or folders); the first bad
    file is one SpecError naming it. Done once, when a server starts."""
    return [register_spec(load_spec_file(f)) for f in task_path_files(entries)]


def task_names(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The names of ``values`` (names or YAML files), each resolved (and checked)."""
    return tuple(get_task(v).name for v in values)
