"""The small, safe expression language of workflow conditions, and the `{{ path }}` templates of step tasks.

Grammar (docs, "Workflows"; keywords are lowercase)::

    expression := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") operand)?
    operand    := path | literal | list | "(" expression ")"
    path       := "$" ("." name | "[" digits "]" | "[" string "]")*
    literal    := number | string | "true" | "false" | "null"
    list       := "[" (literal ("," literal)*)? "]"

It is parsed here by a hand-written recursive-descent parser into tuples and
evaluated by walking them: nothing is ever handed to `eval`, no attribute of
a Python object is read (a path only looks up JSON object members and list
positions), and there are no calls, arithmetic or assignments. Size and
nesting are bounded, so no input can make parsing or evaluation expensive.
Anything else is an `ExpressionError` carrying the 0-based character
position of the problem.

Semantics: a missing path is `null`; `==`/`!=` compare JSON values (`1 ==
1.0`, `true != 1`); `<`, `<=`, `>`, `>=` compare two numbers or two strings
and are false for anything else (`null < 3` is false, never an error); `x
in list` is membership, `"ab" in "cab"` substring, `"k" in object` a member
name; a bare operand is tested for JSON truthiness (`null`, `false`, `0`,
`""`, `[]`, `{}` are false).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_EXPRESSION_LENGTH = 2000
MAX_DEPTH = 32
MAX_PATH_SEGMENTS = 32
MAX_LIST_ITEMS = 100
MAX_NUMBER_LENGTH = 40

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_POSITION = re.compile(r"[0-9]{1,9}")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_PUNCTUATION = "()[],"
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class ExpressionError(ValueError):
    """A refused expression or path: `message` says what, `position` where (0-based character offset)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class _Token:
    kind: str  # "path", "number", "string", "keyword", "op", "punct", "end"
    value: Any
    position: int


# --- paths ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    """`$.steps.fetch.output.items[0]`: member names (str) and list positions (int), from the root."""

    source: str
    segments: tuple[str | int, ...] = field(default=())

    def resolve(self, data: Any) -> Any:
        """The value at this path, or None when any part is missing (or of another type)."""
        for segment in self.segments:
            if isinstance(segment, int):
                if not isinstance(data, list) or segment >= len(data):
                    return None
                data = data[segment]
            else:
                if not isinstance(data, dict):
                    return None
                data = data.get(segment)
        return data

    @property
    def step_id(self) -> str | None:
        """The step a `$.steps.<id>...` path reads from, else None."""
        if len(self.segments) >= 2 and self.segments[0] == "steps" and isinstance(self.segments[1], str):
            return self.segments[1]
        return None


def _read_string(text: str, start: int) -> tuple[str, int]:
    """A quoted string starting at `text[start]` (a quote); returns its value and the index after it."""
    quote, index, chars = text[start], start + 1, []
    while index < len(text):
        char = text[index]
        if char == quote:
            return "".join(chars), index + 1
        if char == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped not in _ESCAPES:
                raise ExpressionError("unknown escape in string (use \\\\, \\', \\\", \\n or \\t)", index)
            chars.append(_ESCAPES[escaped])
            index += 2
            continue
        if ord(char) < 0x20:
            raise ExpressionError("control character in string", index)
        chars.append(char)
        index += 1
    raise ExpressionError("unterminated string", start)


def _read_path(text: str, start: int) -> tuple[Path, int]:
    """A path starting at `text[start]` (a `$`); returns it and the index after it."""
    index, segments = start + 1, []
    while index < len(text) and text[index] in ".[":
        if len(segments) >= MAX_PATH_SEGMENTS:
            raise ExpressionError(f"a path has at most {MAX_PATH_SEGMENTS} parts", index)
        if text[index] == ".":
            match = _NAME.match(text, index + 1)
            if match is None:
                raise ExpressionError("expected a member name after '.'", index + 1)
            segments.append(match.group())
            index = match.end()
            continue
        inner = index + 1
        if inner < len(text) and text[inner] in "'\"":
            name, inner = _read_string(text, inner)
            segments.append(name)
        else:
            match = _POSITION.match(text, inner)
            if match is None:
                raise ExpressionError("expected a position (digits) or a quoted name inside [ ]", inner)
            segments.append(int(match.group()))
            inner = match.end()
        if inner >= len(text) or text[inner] != "]":
            raise ExpressionError("expected ']'", inner)
        index = inner + 1
    return Path(text[start:index], tuple(segments)), index


def parse_path(source: str) -> Path:
    """A whole string that must be one path (`$.input.documents`)."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("expected a path starting with '$'", 0)
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"longer than {MAX_EXPRESSION_LENGTH} characters", MAX_EXPRESSION_LENGTH)
    offset = len(source) - len(source.lstrip())
    if source[offset] != "$":
        raise ExpressionError("expected a path starting with '$'", offset)
    path, end = _read_path(source, offset)
    rest = source[end:]
    if rest.strip():
        raise ExpressionError("unexpected text after the path", end + len(rest) - len(rest.lstrip()))
    return path


# --- tokens ---------------------------------------------------------------------------------------------------


def _tokens(text: str) -> list[_Token]:
    tokens, index = [], 0
    while index < len(text):
        char = text[index]
        if char in " \t\r\n":
            index += 1
        elif char == "$":
            path, index_after = _read_path(text, index)
            tokens.append(_Token("path", path, index))
            index = index_after
        elif char in "'\"":
            value, index_after = _read_string(text, index)
            tokens.append(_Token("string", value, index))
            index = index_after
        elif char.isdigit() or (char == "-" and text[index + 1 : index + 2].isdigit()):
            match = _NUMBER.match(text, index)
            if match is None or len(match.group()) > MAX_NUMBER_LENGTH:
                raise ExpressionError("malformed or too long number", index)
            literal = match.group()
            value = float(literal) if any(c in literal for c in ".eE") else int(literal)
            if isinstance(value, float) and value in (float("inf"), float("-inf")):
                raise ExpressionError("number out of range", index)
            tokens.append(_Token("number", value, index))
            index = match.end()
        elif char.isalpha() or char == "_":
            match = _NAME.match(text, index)
            word = match.group() if match else char
            if word not in _KEYWORDS:
                raise ExpressionError(f"unknown word {word[:40]!r} (paths start with '$', strings are quoted)", index)
            tokens.append(_Token("keyword", word, index))
            index += len(word)
        elif text.startswith(_OPERATORS, index):
            operator = next(op for op in _OPERATORS if text.startswith(op, index))
            tokens.append(_Token("op", operator, index))
            index += len(operator)
        elif char in _PUNCTUATION:
            tokens.append(_Token("punct", char, index))
            index += 1
        else:
            raise ExpressionError(f"unexpected character {char!r}", index)
    tokens.append(_Token("end", None, len(text)))
    return tokens


# --- parser ---------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _is(self, kind: str, value: Any = None) -> bool:
        token = self.current
        return token.kind == kind and (value is None or token.value == value)

    def _expect(self, kind: str, value: Any, what: str) -> _Token:
        if not self._is(kind, value):
            raise self._unexpected(what)
        return self._advance()

    def _unexpected(self, expected: str) -> ExpressionError:
        token = self.current
        found = "the end" if token.kind == "end" else repr(_describe(token))
        return ExpressionError(f"expected {expected}, found {found}", token.position)

    def _nest(self, depth: int) -> int:
        if depth >= MAX_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels", self.current.position)
        return depth + 1

    def parse(self) -> tuple:
        tree = self.expression(0)
        if not self._is("end"):
            raise self._unexpected("'and', 'or', a comparison or the end")
        return tree

    def expression(self, depth: int) -> tuple:
        depth = self._nest(depth)
        terms = [self.conjunction(depth)]
        while self._is("keyword", "or"):
            self._advance()
            terms.append(self.conjunction(depth))
        return terms[0] if len(terms) == 1 else ("or", tuple(terms))

    def conjunction(self, depth: int) -> tuple:
        terms = [self.negation(depth)]
        while self._is("keyword", "and"):
            self._advance()
            terms.append(self.negation(depth))
        return terms[0] if len(terms) == 1 else ("and", tuple(terms))

    def negation(self, depth: int) -> tuple:
        if self._is("keyword", "not"):
            self._advance()
            return ("not", self.negation(self._nest(depth)))
        return self.comparison(depth)

    def comparison(self, depth: int) -> tuple:
        left = self.operand(depth)
        if self._is("op") or self._is("keyword", "in"):
            operator = self._advance().value
        elif (
            self._is("keyword", "not")
            and self.tokens[self.index + 1].kind == "keyword"
            and (self.tokens[self.index + 1].value == "in")
        ):
            self.index += 2
            operator = "not in"
        else:
            return left
        right = self.operand(depth)
        if self._is("op") or self._is("keyword", "in"):
            raise ExpressionError("comparisons do not chain; combine them with 'and'", self.current.position)
        return ("cmp", operator, left, right)

    def operand(self, depth: int) -> tuple:
        token = self.current
        if token.kind == "path":
            self._advance()
            return ("path", token.value)
        if token.kind in ("number", "string"):
            self._advance()
            return ("lit", token.value)
        if token.kind == "keyword" and token.value in ("true", "false", "null"):
            self._advance()
            return ("lit", {"true": True, "false": False, "null": None}[token.value])
        if self._is("punct", "("):
            self._advance()
            inner = self.expression(depth)
            self._expect("punct", ")", "')'")
            return inner
        if self._is("punct", "["):
            return self.list_literal()
        raise self._unexpected("a path ($...), a literal, '[' or '('")

    def list_literal(self) -> tuple:
        self._advance()
        items: list[Any] = []
        while not self._is("punct", "]"):
            if items:
                self._expect("punct", ",", "',' or ']'")
            token = self.current
            if token.kind in ("number", "string"):
                items.append(token.value)
            elif token.kind == "keyword" and token.value in ("true", "false", "null"):
                items.append({"true": True, "false": False, "null": None}[token.value])
            else:
                raise self._unexpected("a literal (lists hold literals only)")
            if len(items) > MAX_LIST_ITEMS:
                raise ExpressionError(f"a list has at most {MAX_LIST_ITEMS} items", token.position)
            self._advance()
        self._advance()
        return ("lit", items)


def _describe(token: _Token) -> str:
    if token.kind == "path":
        return token.value.source
    if token.kind == "string":
        return json.dumps(token.value)[:40]
    return str(token.value)


# --- evaluation -----------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values: numbers by value (1 == 1.0), but a boolean is never a number."""
    if _is_number(left) and _is_number(right):
        return left == right
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    return left == right


def truthy(value: Any) -> bool:
    """JSON truthiness: null, false, 0, "", [] and {} are false."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if _is_number(value):
        return value != 0
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def _compare(operator: str, left: Any, right: Any) -> bool:
    if operator == "==":
        return json_equal(left, right)
    if operator == "!=":
        return not json_equal(left, right)
    if operator in ("in", "not in"):
        if isinstance(right, list):
            found = any(json_equal(left, item) for item in right)
        elif isinstance(right, str | dict) and isinstance(left, str):
            found = left in right
        else:
            found = False
        return found if operator == "in" else not found
    comparable = (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))
    if not comparable:
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[operator]


def _value(node: tuple, context: Any) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "path":
        return node[1].resolve(context)
    return _truth(node, context)


def _truth(node: tuple, context: Any) -> bool:
    kind = node[0]
    if kind == "or":
        return any(_truth(term, context) for term in node[1])
    if kind == "and":
        return all(_truth(term, context) for term in node[1])
    if kind == "not":
        return not _truth(node[1], context)
    if kind == "cmp":
        return _compare(node[1], _value(node[2], context), _value(node[3], context))
    return truthy(_value(node, context))


def _paths_of(node: tuple) -> list[Path]:
    kind = node[0]
    if kind == "path":
        return [node[1]]
    if kind in ("or", "and"):
        return [path for term in node[1] for path in _paths_of(term)]
    if kind == "not":
        return _paths_of(node[1])
    if kind == "cmp":
        return _paths_of(node[2]) + _paths_of(node[3])
    return []


@dataclass(frozen=True)
class Expression:
    source: str
    tree: tuple

    def evaluate(self, context: dict[str, Any]) -> bool:
        return _truth(self.tree, context)

    @property
    def paths(self) -> list[Path]:
        return _paths_of(self.tree)


def parse_expression(source: str) -> Expression:
    """Parses a condition; raises ExpressionError (with the position) for anything outside the grammar."""
    if not isinstance(source, str):
        raise ExpressionError("an expression is a string", 0)
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"longer than {MAX_EXPRESSION_LENGTH} characters", MAX_EXPRESSION_LENGTH)
    if not source.strip():
        raise ExpressionError("empty expression", 0)
    return Expression(source, _Parser(source).parse())


# --- templates ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplatePath:
    path: Path
    location: str  # where in the template: "" for the root, ".title", "[2].name" ...


class TemplateError(ExpressionError):
    """A bad placeholder: `position` is the offset within the string at `location` of the template."""

    def __init__(self, message: str, position: int, location: str) -> None:
        super().__init__(message, position)
        self.location = location


def template_paths(template: Any, location: str = "") -> list[TemplatePath]:
    """Every `{{ path }}` of a template (strings anywhere in a JSON value), checked; TemplateError otherwise."""
    found: list[TemplatePath] = []
    stack: list[tuple[Any, str]] = [(template, location)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            spans = []
            for match in _TEMPLATE.finditer(value):
                try:
                    path = parse_path(match.group(1))
                except ExpressionError as error:
                    raise TemplateError(error.message, match.start(1) + error.position, where) from error
                found.append(TemplatePath(path, where))
                spans.append(match.span())
            opening = value.find("{{")
            while opening != -1:
                if not any(start <= opening < end for start, end in spans):
                    raise TemplateError("'{{' without a matching '}}'", opening, where)
                opening = value.find("{{", opening + 2)
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{index}]") for index, item in enumerate(value))
        elif isinstance(value, dict):
            stack.extend((item, f"{where}.{key}") for key, item in value.items())
    return found


def render_template(template: Any, context: dict[str, Any]) -> Any:
    """A copy of `template` with its `{{ path }}` placeholders filled from `context`.

    A string that is exactly one placeholder becomes the value itself (any
    JSON type); placeholders inside longer text are replaced by the value as
    text (strings as they are, anything else as JSON). The template was
    checked when the workflow was written, so every placeholder parses.
    """
    if isinstance(template, str):
        whole = _TEMPLATE.fullmatch(template.strip())
        if whole is not None and template.strip().count("{{") == 1:
            return parse_path(whole.group(1)).resolve(context)
        return _TEMPLATE.sub(lambda match: _as_text(parse_path(match.group(1)).resolve(context)), template)
    if isinstance(template, list):
        return [render_template(item, context) for item in template]
    if isinstance(template, dict):
        return {key: render_template(item, context) for key, item in template.items()}
    return template


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
