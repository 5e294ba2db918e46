"""The consistency flags are named once (feedback_data.records.consistency): every flag that
annotation.convert or consistency_flags can set is one of those constants, and every flag that
keeps a record out of training is one that can be set (issue 30, item 5)."""

from __future__ import annotations

import ast
import inspect

from annotation import convert
from feedback_data.records import consistency
from feedback_data.records.consistency import (
    CHECK_FLAGS,
    CONVERSION_FLAGS,
    EXCLUDING_FLAGS,
    consistency_flags,
    is_inconsistent,
)


def _appended(module) -> list[ast.expr]:
    """The arguments of every ``flags.append(...)`` in ``module``'s source."""
    tree = ast.parse(inspect.getsource(module))
    return [node.args[0] for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "append" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "flags"]


def _constant(module, arg: ast.expr) -> str:
    """The value of a flag argument: a constant's name, or an f-string led by one."""
    if isinstance(arg, ast.JoinedStr):
        lead = arg.values[0]
        assert isinstance(lead, ast.FormattedValue), ast.unparse(arg)
        arg = lead.value
    assert isinstance(arg, ast.Name), f"a flag written as {ast.unparse(arg)}, not a constant"
    return getattr(module, arg.id)


def test_every_flag_convert_sets_is_a_conversion_constant():
    args = _appended(convert)
    assert len(args) == 6
    assert {_constant(convert, a) for a in args} == CONVERSION_FLAGS
    imported = {a.name for node in ast.walk(ast.parse(inspect.getsource(convert)))
                if isinstance(node, ast.ImportFrom)
                and node.module == "feedback_data.records.consistency" for a in node.names}
    assert {a.id for a in args} <= imported  # imported, never retyped in convert


def test_every_flag_consistency_sets_is_a_check_constant():
    args = _appended(consistency)
    assert len(args) == 5
    assert {_constant(consistency, a) for a in args} == CHECK_FLAGS


def test_every_excluding_flag_can_be_set():
    assert EXCLUDING_FLAGS <= CONVERSION_FLAGS | CHECK_FLAGS
    assert not CONVERSION_FLAGS & CHECK_FLAGS
    assert EXCLUDING_FLAGS == {"none_with_error_types", "empty_correction",
                               "no_error_type_ticked", "error_without_type"}


def test_the_flags_of_a_real_export_are_known_constants(export_asset):
    users = {int(k): v for k, v in export_asset["users"].items()}
    items = convert.convert(export_asset["tasks"], users).items
    set_here = [f for i in items for f in i.feedback.flags]
    checked = [f.split(":")[0] for i in items for f in consistency_flags(i)]
    assert set_here and set(set_here) <= CONVERSION_FLAGS
    assert set(checked) <= CONVERSION_FLAGS | CHECK_FLAGS
    assert sum(map(is_inconsistent, items)) == sum(
        any(f.split(":")[0] in EXCLUDING_FLAGS for f in consistency_flags(i)) for i in items)
