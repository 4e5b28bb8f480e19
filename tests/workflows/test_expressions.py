"""The workflow expression language: what it evaluates to, and what it refuses (with the position), including hostile
input that would be dangerous for an `eval`-based language."""

from __future__ import annotations

import time

import pytest

from workflows.expressions import (
    ExpressionError,
    TemplateError,
    json_equal,
    parse_expression,
    parse_path,
    render_template,
    template_paths,
)

CONTEXT = {
    "input": {"n": 3, "name": "ada", "tags": ["x", "y"], "flag": True, "nested": {"a-b": [10, 20]}, "zero": 0},
    "steps": {"fetch": {"output": {"score": 0.75, "items": [], "meta": {"k": "v"}}, "status": "completed"}},
    "iteration": 2,
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("$.input.n == 3", True),
        ("$.input.n == 3.0", True),
        ("$.input.n != 3", False),
        ("$.input.n > 2 and $.input.n <= 3", True),
        ("$.input.n < 2 or $.input.name == 'ada'", True),
        ('$.input.name == "ada"', True),
        ("not $.input.n == 3", False),
        ("not ($.input.n == 3 or false)", False),
        ("$.steps.fetch.output.score >= 0.75", True),
        ("$.steps.fetch.status == 'completed'", True),
        ("'x' in $.input.tags", True),
        ("'z' not in $.input.tags", True),
        ("'d' in $.input.name", True),
        ("'k' in $.steps.fetch.output.meta", True),
        ("$.input.n in [1, 2, 3]", True),
        ("$.input.missing == null", True),
        ("$.input.missing.deeper[3] == null", True),
        ("$.input.missing < 3", False),  # ordering across types is false, never an error
        ("$.input.name < 3", False),
        ("'abc' < 'abd'", True),
        ("true == 1", False),  # a boolean is not a number
        ("$.input.flag", True),
        ("$.input.zero", False),
        ("$.steps.fetch.output.items", False),  # an empty list is false
        ("$.input.tags[1] == 'y'", True),
        ("$.input.nested['a-b'][0] == 10", True),
        ('$.input["n"] == 3', True),
        ("$.iteration == 2", True),
        ("-1 < $.input.n", True),
        ("1e2 == 100", True),
        ("[1, 'a', null] == [1, 'a', null]", True),
        ("'it\\'s' == \"it's\"", True),
        ("$.input.name.length", False),  # no attributes: a missing member of a string is null
        ("$.input.tags.__class__", False),
        ("$.input.__class__ == null", True),
    ],
)
def test_evaluates(source, expected):
    assert parse_expression(source).evaluate(CONTEXT) is expected


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        ("", 0, "empty expression"),
        ("$.input.n ==", 12, "expected a path"),
        ("$.input.n = 3", 10, "unexpected character '='"),
        ("1 + 1", 2, "unexpected character '+'"),
        ("$.input.n * 1000000000", 10, "unexpected character '*'"),
        ("a == 1", 0, "unknown word 'a'"),
        ("__import__('os').system('id')", 0, "unknown word '__import__'"),
        ("exec('1')", 0, "unknown word 'exec'"),
        ("lambda: 1", 0, "unknown word 'lambda'"),
        ("$.input.n == 3; drop table tasks", 14, "unexpected character ';'"),
        ("$.input.name.upper()", 18, "expected 'and', 'or', a comparison or the end"),
        ("$.input[0:2] == 1", 9, "expected ']'"),
        ("$..n == 1", 2, "expected a member name"),
        ("$.input[-1] == 1", 8, "expected a position"),
        ("'abc", 0, "unterminated string"),
        ("'\\x41' == 'A'", 1, "unknown escape"),
        ("1 == 2 == 3", 7, "comparisons do not chain"),
        ("(1 == 1", 7, "expected ')'"),
        ("1 == 1)", 6, "expected 'and', 'or'"),
        ("{{ $.input.n }}", 0, "unexpected character '{'"),
        ("${input.n}", 1, "unexpected character '{'"),
        ("`id`", 0, "unexpected character '`'"),
        ("$.input.n == 1 and", 18, "expected a path"),
        ("[$.input.n] == [3]", 1, "expected a literal"),
        ("1" * 50 + " == 1", 0, "malformed or too long number"),
        ("1e999 == 1", 0, "number out of range"),
        ("'\x00' == 1", 1, "control character"),
        ("$.input.n\u00a0== 3", 9, "unexpected character"),
    ],
)
def test_refuses_with_a_position(source, position, message):
    with pytest.raises(ExpressionError) as refused:
        parse_expression(source)
    assert refused.value.position == position
    assert message in refused.value.message


def test_deep_nesting_is_refused_before_it_costs_anything():
    for source in ["(" * 900 + "1" + ")" * 900, "not " * 450 + "true", "(" * 33 + "1" + ")" * 33]:
        with pytest.raises(ExpressionError, match="nested deeper than 32 levels"):
            parse_expression(source)
    assert parse_expression("(" * 31 + "1" + ")" * 31).evaluate({}) is True


def test_long_and_wide_inputs_are_bounded():
    with pytest.raises(ExpressionError, match="longer than 2000 characters"):
        parse_expression("1 == 1 and " * 300 + "true")
    with pytest.raises(ExpressionError, match="at most 32 parts"):
        parse_expression("$" + ".a" * 40 + " == 1")
    with pytest.raises(ExpressionError, match="at most 100 items"):
        parse_expression("1 in [" + ", ".join(["1"] * 150) + "]")
    started = time.perf_counter()
    expression = parse_expression(" or ".join(f"$.input.n == {i}" for i in range(90)))
    assert expression.evaluate(CONTEXT) is True
    assert time.perf_counter() - started < 0.5


def test_non_strings_are_refused():
    for value in (None, 3, ["$.a"], {"$": 1}):
        with pytest.raises(ExpressionError):
            parse_expression(value)


def test_paths_report_what_they_read():
    expression = parse_expression("$.steps.fetch.output.x > 1 and $.input.y")
    assert [path.source for path in expression.paths] == ["$.steps.fetch.output.x", "$.input.y"]
    assert [path.step_id for path in expression.paths] == ["fetch", None]
    assert parse_path("  $.input.a[2]['b c']").segments == ("input", "a", 2, "b c")


def test_json_equality_is_strict_about_booleans_but_not_number_forms():
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1)
    assert not json_equal([1], [1, 1])
    assert not json_equal({"a": 1}, {"b": 1})


def test_templates_fill_whole_values_and_text():
    template = {
        "doc": "{{ $.input.nested }}",
        "line": "Hello {{ $.input.name }}, you have {{ $.input.tags }} ({{$.input.missing}})",
        "list": ["{{ $.iteration }}", 7, None],
        "{{ $.input.name }}": "keys are not templates",
    }
    assert render_template(template, CONTEXT) == {
        "doc": {"a-b": [10, 20]},
        "line": 'Hello ada, you have ["x","y"] (null)',
        "list": [2, 7, None],
        "{{ $.input.name }}": "keys are not templates",
    }


@pytest.mark.parametrize(
    ("template", "location", "position"),
    [
        ({"a": "{{ input.name }}"}, ".a", 3),
        ({"a": ["ok", "{{ $.input.name.__class__() }}"]}, ".a[1]", 25),
        ({"a": "{{ $.input.n"}, ".a", 0),
        ({"a": "x {{ $.a }} {{ 1 + 1 }}"}, ".a", 15),
        ("{{ __import__('os') }}", "", 3),
    ],
)
def test_template_placeholders_are_paths_only(template, location, position):
    with pytest.raises(TemplateError) as refused:
        template_paths(template)
    assert (refused.value.location, refused.value.position) == (location, position)


def test_template_paths_are_listed_with_their_place():
    found = template_paths({"title": "{{ $.input.a }}", "input": {"x": ["{{ $.steps.s.output }}"]}})
    assert sorted((f.location, f.path.source) for f in found) == [
        (".input.x[0]", "$.steps.s.output"),
        (".title", "$.input.a"),
    ]
