"""Task specs: a task is data (a loader, an answer type, shots, a parser), not a name in code.

``spec`` (the TaskSpec and its YAML file), ``registry`` (the task registry: the built-in
StrategyQA and Sports Understanding and any spec loaded), ``loaders`` (BIG-bench by name,
JSONL, a datasets folder), ``data`` (a spec's examples, splits and shots), ``builtin`` (what
only the two built-in tasks do). See docs/tasks.md.
"""
