"""The labeling interface: the XML built from the tag names in feedback_data.records.labeling_tags.

The converter, the simulator, the browser test and the task builder look names up here (this
module re-exports the tag names), so a rename happens in one place.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from feedback_data.records.labeling_tags import *  # noqa: F403  (the names are part of this module)
from feedback_data.records.labeling_tags import (
    ANSWER_CHOICE,
    ANSWER_TEXT,
    CHAIN,
    CORRECTION,
    DATA_ANSWER_OPTIONS,
    DATA_CHAIN_DISPLAY,
    DATA_MODEL_ANSWER,
    DATA_MODEL_OUTPUT,
    DATA_QUESTION,
    DATA_STEP_CHOICES,
    DATA_STEPS,
    ERROR_DEFINITIONS,
    ERROR_STEPS,
    ERROR_TYPES,
    NO_ERROR,
    ORIGIN,
    QUESTION,
    RATING_CHOICES,
    REASONS,
    STEP_RATING_PREFIX,
    STEP_TEXT_PREFIX,
    SUBQUESTIONS,
)
from feedback_data.records.schema import ERROR_CODES, ERROR_NAMES

IDX = "{{idx}}"
REQUIRED_TYPES_MESSAGE = "Tick the error types in the explanation, or None"
REQUIRED_RATING_MESSAGE = "Rate every step (Can't judge when you cannot tell)"
REQUIRED_ANSWER_MESSAGE = "Give the right answer"
ANSWER_TYPES = ("yes_no", "multiple_choice", "free_form")
DEFINITION_STYLE = "font-size: 14px; font-weight: normal; margin: 0 0 2px 0; color: #555"


def _attrs(**kw: str) -> str:
    return " ".join(f"{k}={quoteattr(v)}" for k, v in kw.items())


def _hint(code: str) -> str:
    return f"{ERROR_NAMES[code]}: {ERROR_DEFINITIONS[code]}"


def _reason_area(code: str) -> str:
    """The description box of one error type, shown only while that type is ticked."""
    shown_when = _attrs(visibleWhen="choice-selected", whenTagName=ERROR_TYPES,
                        whenChoiceValue=ERROR_NAMES[code])
    header = _attrs(value=f"{ERROR_NAMES[code]}: what is wrong, and in which step?", size="6")
    area = _attrs(name=REASONS[code], toName=CHAIN, rows="2", maxSubmissions="1")
    return f"  <View {shown_when}>\n    <Header {header}/>\n    <TextArea {area}/>\n  </View>"


def answer_area(answer_type: str) -> str:
    """The answer control of a task that is not yes/no ('' for yes/no, whose answer is read
    from the correction): one option (multiple choice, the options from the task data), or a
    one-line box pre-filled with the model's answer (free form)."""
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"answer type must be one of {', '.join(ANSWER_TYPES)}, got "
                         f"{answer_type!r}")
    if answer_type == "yes_no":
        return ""
    if answer_type == "multiple_choice":
        attrs = _attrs(name=ANSWER_CHOICE, toName=CHAIN, choice="single-radio",
                       required="true", requiredMessage=REQUIRED_ANSWER_MESSAGE,
                       value="$" + DATA_ANSWER_OPTIONS)
        control = f"<Choices {attrs}/>"
        header = "Answer: the right option"
    else:
        attrs = _attrs(name=ANSWER_TEXT, toName=CHAIN, value="$" + DATA_MODEL_ANSWER,
                       rows="1", editable="true", maxSubmissions="1", required="true",
                       requiredMessage=REQUIRED_ANSWER_MESSAGE)
        control = f"<TextArea {attrs}/>"
        header = "Answer: the right short answer (edit the model's)"
    return f'  <Header value="{header}"/>\n  {control}\n'


def labeling_config(answer_type: str = "yes_no") -> str:
    """The Label Studio XML for rich feedback on one reasoning chain of a task whose answers
    are ``answer_type``.

    Sections carry no numbers (the chain's steps do). Each step gets a required rating from a
    Repeater over the task's ``steps``. Error types are required, each with its definition as
    a hint and on the page; a type's description box shows only while that type is ticked.
    A yes/no task's answer is the correction's; another task adds an answer area
    (:func:`answer_area`) whose answer the correction then states.
    """
    error_choices = "\n".join(
        f"      <Choice {_attrs(value=ERROR_NAMES[c], hint=_hint(c))}/>" for c in ERROR_CODES)
    error_choices += f"\n      <Choice {_attrs(value=NO_ERROR, hint='no error in any step')}/>"
    definitions = "\n".join(
        f"    <Header {_attrs(value=_hint(c), size='6', style=DEFINITION_STYLE)}/>"
        for c in ERROR_CODES)
    reason_areas = "\n".join(_reason_area(c) for c in ERROR_CODES)
    ratings = "\n".join(f"        <Choice {_attrs(value=v)}/>" for v in RATING_CHOICES)
    return f"""<View>
  <Header value="Question"/>
  <Text {_attrs(name=QUESTION, value='$' + DATA_QUESTION)}/>
  <Header value="Model answer and explanation"/>
  <View style="white-space: pre-wrap">
    <Text {_attrs(name=CHAIN, value='$' + DATA_CHAIN_DISPLAY)}/>
  </View>
  <Header value="Rate each step"/>
  <Repeater {_attrs(on='$' + DATA_STEPS, indexFlag=IDX)}>
    <View style="margin-bottom: 8px">
      <Text {_attrs(name=STEP_TEXT_PREFIX + IDX, value=f'${DATA_STEPS}[{IDX}].text')}/>
      <Choices {_attrs(name=STEP_RATING_PREFIX + IDX, toName=STEP_TEXT_PREFIX + IDX,
                       choice='single-radio', showInline='true', required='true',
                       requiredMessage=REQUIRED_RATING_MESSAGE)}>
{ratings}
      </Choices>
    </View>
  </Repeater>
  <Header value="Subquestions needed to answer the question, one per line"/>
  <TextArea {_attrs(name=SUBQUESTIONS, toName=QUESTION, rows='3', maxSubmissions='1')}/>
{answer_area(answer_type)}  <Header value="Correction: edit the answer and explanation until they \
are right"/>
  <TextArea {_attrs(name=CORRECTION, toName=CHAIN, value='$' + DATA_MODEL_OUTPUT,
                    rows='4', editable='true', maxSubmissions='1')}/>
  <Header value="Error types in the model's explanation"/>
  <View style="color: #555">
{definitions}
  </View>
  <Choices {_attrs(name=ERROR_TYPES, toName=CHAIN, choice='multiple', showInline='true',
                   required='true', requiredMessage=REQUIRED_TYPES_MESSAGE)}>
{error_choices}
  </Choices>
{reason_areas}
  <Header value="Step or steps with an error"/>
  <Choices {_attrs(name=ERROR_STEPS, toName=CHAIN, choice='multiple', showInline='true',
                   value='$' + DATA_STEP_CHOICES)}/>
  <View style="display: none">
    <TextArea {_attrs(name=ORIGIN, toName=QUESTION, maxSubmissions='1')}/>
  </View>
</View>
"""
