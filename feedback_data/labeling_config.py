"""The labeling interface: tag names and task-data keys defined once, and the XML built from them.

The converter, the simulator, the browser test and the task builder look names up here, so a
rename happens in one place.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from feedback_data.schema import ERROR_CODES, ERROR_NAMES

# Tag names (``from_name`` in results).
QUESTION = "question"
CHAIN = "chain"
SUBQUESTIONS = "subquestions"
CORRECTION = "correction"
ERROR_TYPES = "error_types"
ERROR_STEPS = "error_steps"
# A hidden field the simulator fills in; a human never sees it, so it marks bot output.
ORIGIN = "origin"
SIMULATED_MARK = "simulated"
REASON_PREFIX = "reason_"
REASONS: dict[str, str] = {code: f"{REASON_PREFIX}{code}" for code in ERROR_CODES}

# The choice meaning "no error"; the others are ERROR_NAMES' values.
NO_ERROR = "None"
ERROR_CHOICES: tuple[str, ...] = (*(ERROR_NAMES[c] for c in ERROR_CODES), NO_ERROR)
CODE_BY_CHOICE: dict[str, str] = {ERROR_NAMES[c]: c for c in ERROR_CODES}

# Task-data keys shown by the interface.
DATA_QUESTION = "question"
DATA_CHAIN_DISPLAY = "chain_display"
DATA_MODEL_OUTPUT = "model_output"
DATA_STEP_CHOICES = "step_choices"

TEXT_TAGS = frozenset({SUBQUESTIONS, CORRECTION, ORIGIN, *REASONS.values()})
CHOICE_TAGS = frozenset({ERROR_TYPES, ERROR_STEPS})
RESULT_TAGS = TEXT_TAGS | CHOICE_TAGS
# The object tag each control is attached to (``to_name`` in results).
TO_NAME: dict[str, str] = {SUBQUESTIONS: QUESTION, ORIGIN: QUESTION, CORRECTION: CHAIN,
                           ERROR_TYPES: CHAIN, ERROR_STEPS: CHAIN,
                           **{tag: CHAIN for tag in REASONS.values()}}


def step_choice(n: int) -> str:
    """The label of the n-th (1-based) step choice."""
    return f"Step {n}"


def step_number(label: str) -> int | None:
    """Inverse of :func:`step_choice`; None for anything else."""
    head, _, num = label.partition(" ")
    if head != "Step" or not num.isdigit():
        return None
    return int(num)


def result_item(name: str, value: str | list[str]) -> dict:
    """One result entry as Label Studio stores it (text for TextArea, choices for Choices)."""
    if name in TEXT_TAGS:
        return {"from_name": name, "to_name": TO_NAME[name], "type": "textarea",
                "value": {"text": [value] if isinstance(value, str) else list(value)}}
    if name in CHOICE_TAGS:
        return {"from_name": name, "to_name": TO_NAME[name], "type": "choices",
                "value": {"choices": list(value)}}
    raise KeyError(name)


def _attrs(**kw: str) -> str:
    return " ".join(f"{k}={quoteattr(v)}" for k, v in kw.items())


def labeling_config() -> str:
    """The Label Studio XML for rich feedback on one reasoning chain."""
    reason_areas = "\n".join(
        f"    <Header value={quoteattr(f'{ERROR_NAMES[c]}: what is wrong, and in which step?')} "
        f"size=\"6\"/>\n"
        f"    <TextArea {_attrs(name=REASONS[c], toName=CHAIN, rows='2', maxSubmissions='1')}/>"
        for c in ERROR_CODES
    )
    error_choices = "\n".join(f"      <Choice {_attrs(value=v)}/>" for v in ERROR_CHOICES)
    return f"""<View>
  <Header value="Question"/>
  <Text {_attrs(name=QUESTION, value='$' + DATA_QUESTION)}/>
  <Header value="Model answer and explanation"/>
  <View style="white-space: pre-wrap">
    <Text {_attrs(name=CHAIN, value='$' + DATA_CHAIN_DISPLAY)}/>
  </View>
  <Header value="1. Subquestions needed to answer the question, one per line"/>
  <TextArea {_attrs(name=SUBQUESTIONS, toName=QUESTION, rows='3', maxSubmissions='1')}/>
  <Header value="2. Correction: edit the answer and explanation until they are right"/>
  <TextArea {_attrs(name=CORRECTION, toName=CHAIN, value='$' + DATA_MODEL_OUTPUT,
                    rows='4', editable='true', maxSubmissions='1')}/>
  <Header value="3. Error types in the model's explanation"/>
  <Choices {_attrs(name=ERROR_TYPES, toName=CHAIN, choice='multiple', showInline='true')}>
{error_choices}
  </Choices>
  <Header value="4. Describe each error, naming its step"/>
{reason_areas}
  <Header value="5. Step or steps with an error"/>
  <Choices {_attrs(name=ERROR_STEPS, toName=CHAIN, choice='multiple', showInline='true',
                   value='$' + DATA_STEP_CHOICES)}/>
  <View style="display: none">
    <TextArea {_attrs(name=ORIGIN, toName=QUESTION, maxSubmissions='1')}/>
  </View>
</View>
"""
