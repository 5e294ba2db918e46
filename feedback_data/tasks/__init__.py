"""Task specs: a task is data (a loader, an answer type, shots, a parser), not a name in code.

``spec`` (the TaskSpec and its YAML file), ``registry`` (the task registry: the built-in
StrategyQA and Sports Understanding and any spec loaded), ``formats`` (the published files:
a BIG-bench task.json, a BIG-Bench Hard file, a CoT prompt .txt), ``loaders`` (records of
a BIG-bench task, a BBH file, a JSONL file or a datasets folder -> checked Examples; any
BIG-bench task by name, fetched once from the data sources), ``data`` (a spec's
examples, splits and shots), ``builtin`` (what only the two built-in tasks do). See
docs/tasks.md.
"""
