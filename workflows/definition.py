"""The shape of a workflow's `definition`: the published JSON Schema, the checks it cannot express, and the plan.

`validate_definition` is called on every write (API, admin, services): first
the JSON Schema (`DEFINITION_SCHEMA`, served at GET /api/v1/workflows/schema),
then the semantic checks a schema cannot make (duplicate step ids, unknown
or not-yet-available step references, cycles, conditions and templates that
do not parse, quorums larger than the number of agents, agents that do not
exist). Every problem is reported with its place, as
`{"definition.steps[2].depends_on[0]": ["..."]}`.

`compile_plan` turns a valid definition into the `Plan` the engine runs: a
list of nodes with their dependencies. Every type is such a graph:
`sequential` is a chain, `parallel` has no edges, `conditional` has the edges
it declares, `loop` repeats a chain, `map_reduce` is a chain ending in a map
node and a reduce node, `scatter_gather` is one scatter node.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from agents.models import Agent
from mcpadmin.core.errors import DomainError
from mcpadmin.core.validation import free_json_problem
from tasks.models import TaskPriority
from workflows.expressions import Expression, ExpressionError, Path, TemplateError, parse_expression, parse_path
from workflows.expressions import template_paths as find_template_paths
from workflows.models import WorkflowType

MAX_STEPS = 100
#: A definition is free-form JSON (`clean_json`) with limits of its own: 100 steps need more than 64 KB.
MAX_DEFINITION_BYTES = 256 * 1024
MAX_DEFINITION_DEPTH = 32
MAX_ITERATIONS_LIMIT = 1000
MAX_CONCURRENCY = 1000
MAX_SCATTER = 100
DEFAULT_MAP_CONCURRENCY = 10
STEP_ID_PATTERN = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
PATH_PATTERN = "^\\s*\\$"
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

JOIN_MODES = ("all", "any", "fail_fast")
GATHER_MODES = ("all", "first")

# --- the published schema ---------------------------------------------------------------------------------------


def _steps(step_ref: str) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": {"$ref": step_ref}}


_STEP_PROPERTIES: dict[str, Any] = {
    "id": {"$ref": "#/$defs/step_id"},
    "task": {"$ref": "#/$defs/task"},
    "continue_on_error": {
        "type": "boolean",
        "description": "A failure of this step does not fail the execution: the step is `failed`, its output null, "
        "and the steps after it run.",
    },
}

DEFINITION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:mcpadmin:workflow:1",
    "title": "mcpadmin workflow",
    "description": "The body of POST /api/v1/workflows as far as the definition goes: `definition` takes the shape "
    "of `$defs.<workflow_type>`. Templates (`title`, `description`, `input` of a task) may hold `{{ $.path }}` "
    "placeholders; conditions (`when`, `while`) are expressions of the workflow expression language (docs).",
    "type": "object",
    "required": ["workflow_type", "definition"],
    "properties": {
        "workflow_type": {"enum": list(WorkflowType.values)},
        "definition": {"type": "object"},
    },
    "allOf": [
        {
            "if": {"properties": {"workflow_type": {"const": workflow_type}}, "required": ["workflow_type"]},
            "then": {"properties": {"definition": {"$ref": f"#/$defs/{workflow_type}"}}},
        }
        for workflow_type in WorkflowType.values
    ],
    "$defs": {
        "step_id": {
            "type": "string",
            "pattern": STEP_ID_PATTERN,
            "description": "Letters, digits and '_', not starting with a digit, at most 64: usable in paths "
            "as `$.steps.<id>`.",
        },
        "uuid": {"type": "string", "pattern": UUID_PATTERN},
        "expression": {"type": "string", "minLength": 1, "maxLength": 2000},
        "path": {"type": "string", "pattern": PATH_PATTERN, "maxLength": 2000},
        "capabilities": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "uniqueItems": True,
            "maxItems": 50,
        },
        "task": {
            "type": "object",
            "description": "The task a step creates. `agent_id` names the agent; otherwise an online agent with all "
            "`capabilities` (none: any online agent) and the least open work gets it.",
            "required": ["title"],
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 500},
                "description": {"type": "string", "maxLength": 100000},
                "input": {"description": "Any JSON; rendered into the task's input_data (an object)."},
                "priority": {"enum": list(TaskPriority.values)},
                "agent_id": {"$ref": "#/$defs/uuid"},
                "capabilities": {"$ref": "#/$defs/capabilities"},
                "max_retries": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 100,
                    "description": "A failed task is retried automatically this many times (default 0).",
                },
            },
            "not": {"required": ["agent_id", "capabilities"]},
        },
        "step": {
            "type": "object",
            "required": ["id", "task"],
            "additionalProperties": False,
            "properties": _STEP_PROPERTIES,
        },
        "conditional_step": {
            "type": "object",
            "required": ["id", "task"],
            "additionalProperties": False,
            "properties": {
                **_STEP_PROPERTIES,
                "depends_on": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/step_id"},
                    "uniqueItems": True,
                    "maxItems": MAX_STEPS,
                    "description": "Steps that must be finished (completed, skipped, or failed with "
                    "continue_on_error) first. Without it the step starts with the execution.",
                },
                "when": {
                    "$ref": "#/$defs/expression",
                    "description": "Evaluated when the step could start: false skips it (a skipped step counts "
                    "as finished for the steps that depend on it).",
                },
            },
        },
        WorkflowType.SEQUENTIAL: {
            "type": "object",
            "required": ["steps"],
            "additionalProperties": False,
            "properties": {"steps": _steps("#/$defs/step")},
        },
        WorkflowType.PARALLEL: {
            "type": "object",
            "required": ["steps"],
            "additionalProperties": False,
            "properties": {
                "steps": _steps("#/$defs/step"),
                "join": {
                    "enum": list(JOIN_MODES),
                    "description": "all (default): wait for every step; any: the first success completes the "
                    "execution and the rest are cancelled; fail_fast: the first failure fails it.",
                },
            },
        },
        WorkflowType.CONDITIONAL: {
            "type": "object",
            "required": ["steps"],
            "additionalProperties": False,
            "properties": {"steps": _steps("#/$defs/conditional_step")},
        },
        WorkflowType.LOOP: {
            "type": "object",
            "required": ["steps", "while", "max_iterations"],
            "additionalProperties": False,
            "properties": {
                "steps": _steps("#/$defs/step"),
                "while": {
                    "$ref": "#/$defs/expression",
                    "description": "Checked before every iteration (also the first), with `$.iteration` (iterations "
                    "done) and the latest `$.steps.<id>.output`.",
                },
                "max_iterations": {"type": "integer", "minimum": 1, "maximum": MAX_ITERATIONS_LIMIT},
                "on_max_iterations": {
                    "enum": ["fail", "complete"],
                    "description": "What happens when the condition still holds after max_iterations (default fail).",
                },
            },
        },
        WorkflowType.MAP_REDUCE: {
            "type": "object",
            "required": ["map", "reduce"],
            "additionalProperties": False,
            "properties": {
                "steps": {**_steps("#/$defs/step"), "description": "Optional steps run in order before the map."},
                "map": {
                    "type": "object",
                    "required": ["id", "items", "task"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"$ref": "#/$defs/step_id"},
                        "items": {
                            "$ref": "#/$defs/path",
                            "description": "A path to a non-empty list: `$.input...` or an earlier step's output.",
                        },
                        "task": {"$ref": "#/$defs/task"},
                        "concurrency": {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY},
                        "continue_on_error": {
                            "type": "boolean",
                            "description": "A failed item gives a null output instead of failing the map.",
                        },
                    },
                },
                "reduce": {"$ref": "#/$defs/step"},
            },
        },
        WorkflowType.SCATTER_GATHER: {
            "type": "object",
            "required": ["scatter", "gather"],
            "additionalProperties": False,
            "properties": {
                "scatter": {
                    "type": "object",
                    "required": ["id", "task"],
                    "additionalProperties": False,
                    "description": "The same task for several agents: the listed `agents`, or `count` online "
                    "agents with the `capabilities` (each a different agent).",
                    "properties": {
                        "id": {"$ref": "#/$defs/step_id"},
                        "task": {"$ref": "#/$defs/task"},
                        "agents": {
                            "type": "array",
                            "items": {"$ref": "#/$defs/uuid"},
                            "minItems": 1,
                            "maxItems": MAX_SCATTER,
                            "uniqueItems": True,
                        },
                        "capabilities": {"$ref": "#/$defs/capabilities"},
                        "count": {"type": "integer", "minimum": 1, "maximum": MAX_SCATTER},
                    },
                    "dependentRequired": {"capabilities": ["count"], "count": ["capabilities"]},
                    "not": {"required": ["agents", "capabilities"]},
                },
                "gather": {
                    "description": '`all`, `first`, or `{"quorum": n}`: done when that many succeeded; the rest '
                    "are cancelled.",
                    "anyOf": [
                        {"enum": list(GATHER_MODES)},
                        {
                            "type": "object",
                            "required": ["quorum"],
                            "additionalProperties": False,
                            "properties": {"quorum": {"type": "integer", "minimum": 1, "maximum": MAX_SCATTER}},
                        },
                    ],
                },
            },
        },
    },
}

_VALIDATOR = Draft202012Validator(DEFINITION_SCHEMA)

#: Friendlier words for the keywords whose default message names the schema instead of the problem.
_MESSAGES = {
    "not": "give either agent_id or capabilities (scatter: agents or capabilities), not both",
    "anyOf": 'must be "all", "first" or {"quorum": n}',
    "uniqueItems": "has duplicates",
}
_PATTERN_MESSAGES = {
    STEP_ID_PATTERN: "letters, digits and '_', not starting with a digit, at most 64 characters",
    UUID_PATTERN: "must be a UUID",
    PATH_PATTERN: "must be a path starting with '$', such as $.input.documents",
}


class DefinitionErrors:
    """Problems found so far, by place (`definition.steps[2].depends_on[0]`)."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, where: str, message: str) -> None:
        messages = self.errors.setdefault(where, [])
        if message not in messages:
            messages.append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DomainError("invalid", "The workflow definition is not valid; see details.", self.errors)


def place(parts: Any) -> str:
    """`("definition", "steps", 2, "id")` -> `definition.steps[2].id`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _schema_errors(document: dict[str, Any], errors: DefinitionErrors) -> None:
    for error in sorted(_VALIDATOR.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        where = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [name for name in error.validator_value if name not in error.instance]
            for name in missing:
                errors.add(place([*where, name]), "is required")
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {}))
            for name in sorted(set(error.instance) - known):
                errors.add(place([*where, name]), "unknown member")
            continue
        if error.validator == "dependentRequired" and isinstance(error.instance, dict):
            for name, needs in error.validator_value.items():
                for needed in needs:
                    if name in error.instance and needed not in error.instance:
                        errors.add(place([*where, needed]), f"is required with {name}")
            continue
        if error.validator == "pattern":
            message = _PATTERN_MESSAGES.get(error.validator_value, error.message)
        elif error.validator == "minLength" and error.validator_value == 1:
            message = "must not be empty"
        elif error.validator == "minItems":
            message = f"needs at least {error.validator_value} item(s)"
        else:
            message = _MESSAGES.get(str(error.validator), error.message)
        errors.add(place(where) or "definition", message)


# --- the plan ---------------------------------------------------------------------------------------------------

TASK_NODE, MAP_NODE, SCATTER_NODE = "task", "map", "scatter"


@dataclass(frozen=True)
class Node:
    """One step of the plan, with where it came from in the definition (for error messages)."""

    id: str
    kind: str
    task: dict[str, Any]
    where: str
    depends_on: tuple[str, ...] = ()
    when: Expression | None = None
    continue_on_error: bool = False
    items: Path | None = None  # map
    concurrency: int = 1  # map
    agents: tuple[str, ...] = ()  # scatter: named agents
    capabilities: tuple[str, ...] = ()  # scatter: by capability
    count: int = 0  # scatter: number of tasks (agents listed, or count)
    gather: str = "all"  # scatter: all | first | quorum
    quorum: int = 0


@dataclass(frozen=True)
class Plan:
    workflow_type: str
    nodes: tuple[Node, ...]
    join: str = "all"  # parallel
    loop_while: Expression | None = None
    max_iterations: int = 0
    on_max_iterations: str = "fail"
    by_id: dict[str, Node] = field(default_factory=dict, compare=False)

    def node(self, node_id: str) -> Node:
        return self.by_id[node_id]


def _task_node(step: dict[str, Any], where: str, depends_on: tuple[str, ...]) -> Node:
    return Node(
        id=step["id"],
        kind=TASK_NODE,
        task=step["task"],
        where=where,
        depends_on=depends_on,
        when=parse_expression(step["when"]) if "when" in step else None,
        continue_on_error=bool(step.get("continue_on_error", False)),
    )


def _chain(steps: list[dict[str, Any]], where: str, first_depends_on: tuple[str, ...] = ()) -> list[Node]:
    nodes, previous = [], first_depends_on
    for index, step in enumerate(steps):
        nodes.append(_task_node(step, f"{where}[{index}]", previous))
        previous = (step["id"],)
    return nodes


def compile_plan(workflow_type: str, definition: dict[str, Any]) -> Plan:
    """The plan of a valid definition (see the module docstring)."""
    extra: dict[str, Any] = {}
    if workflow_type == WorkflowType.SEQUENTIAL:
        nodes = _chain(definition["steps"], "definition.steps")
    elif workflow_type == WorkflowType.PARALLEL:
        nodes = [_task_node(step, f"definition.steps[{i}]", ()) for i, step in enumerate(definition["steps"])]
        extra["join"] = definition.get("join", "all")
    elif workflow_type == WorkflowType.CONDITIONAL:
        nodes = [
            _task_node(step, f"definition.steps[{i}]", tuple(step.get("depends_on", ())))
            for i, step in enumerate(definition["steps"])
        ]
    elif workflow_type == WorkflowType.LOOP:
        nodes = _chain(definition["steps"], "definition.steps")
        extra = {
            "loop_while": parse_expression(definition["while"]),
            "max_iterations": definition["max_iterations"],
            "on_max_iterations": definition.get("on_max_iterations", "fail"),
        }
    elif workflow_type == WorkflowType.MAP_REDUCE:
        nodes = _chain(definition.get("steps", []), "definition.steps")
        mapping = definition["map"]
        map_task = {"input": {"item": "{{ $.item }}", "index": "{{ $.index }}"}, **mapping["task"]}
        nodes.append(
            Node(
                id=mapping["id"],
                kind=MAP_NODE,
                task=map_task,
                where="definition.map",
                depends_on=(nodes[-1].id,) if nodes else (),
                continue_on_error=bool(mapping.get("continue_on_error", False)),
                items=parse_path(mapping["items"]),
                concurrency=mapping.get("concurrency", DEFAULT_MAP_CONCURRENCY),
            )
        )
        reduce = definition["reduce"]
        reduce_task = {"input": {"outputs": "{{ $.steps." + mapping["id"] + ".output }}"}, **reduce["task"]}
        nodes.append(_task_node({**reduce, "task": reduce_task}, "definition.reduce", (mapping["id"],)))
    elif workflow_type == WorkflowType.SCATTER_GATHER:
        scatter, gather = definition["scatter"], definition["gather"]
        agents = tuple(scatter.get("agents", ()))
        nodes = [
            Node(
                id=scatter["id"],
                kind=SCATTER_NODE,
                task={"input": "{{ $.input }}", **scatter["task"]},
                where="definition.scatter",
                agents=agents,
                capabilities=tuple(scatter.get("capabilities", ())),
                count=len(agents) or scatter.get("count", 0),
                gather="quorum" if isinstance(gather, dict) else gather,
                quorum=gather["quorum"] if isinstance(gather, dict) else 0,
            )
        ]
    else:
        raise ValueError(f"unknown workflow type {workflow_type!r}")
    return Plan(workflow_type=workflow_type, nodes=tuple(nodes), by_id={n.id: n for n in nodes}, **extra)


# --- semantic checks --------------------------------------------------------------------------------------------


def _id_places(workflow_type: str, definition: dict[str, Any]) -> list[tuple[str, str]]:
    """Every step id with the place of its `id` member, in definition order."""
    found = [(step["id"], f"definition.steps[{i}].id") for i, step in enumerate(definition.get("steps", []))]
    if workflow_type == WorkflowType.MAP_REDUCE:
        found += [(definition["map"]["id"], "definition.map.id"), (definition["reduce"]["id"], "definition.reduce.id")]
    if workflow_type == WorkflowType.SCATTER_GATHER:
        found.append((definition["scatter"]["id"], "definition.scatter.id"))
    return found


def _check_ids(workflow_type: str, definition: dict[str, Any], errors: DefinitionErrors) -> None:
    first_place: dict[str, str] = {}
    for step_id, where in _id_places(workflow_type, definition):
        if step_id in first_place:
            errors.add(where, f"duplicate step id {step_id!r} (first used at {first_place[step_id]})")
        else:
            first_place[step_id] = where


def _check_graph(definition: dict[str, Any], errors: DefinitionErrors) -> None:
    """Conditional steps: references exist, no step depends on itself, no cycles."""
    steps = definition["steps"]
    ids = {step["id"] for step in steps}
    for index, step in enumerate(steps):
        for position, dependency in enumerate(step.get("depends_on", [])):
            where = f"definition.steps[{index}].depends_on[{position}]"
            if dependency == step["id"]:
                errors.add(where, "a step cannot depend on itself")
            elif dependency not in ids:
                errors.add(where, f"unknown step {dependency!r}")
    if errors.errors:
        return
    edges = {step["id"]: list(step.get("depends_on", [])) for step in steps}
    index_of = {step["id"]: index for index, step in enumerate(steps)}
    state: dict[str, str] = {}
    for start in edges:
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            node, next_edge = stack.pop()
            if next_edge == 0:
                state[node] = "visiting"
                trail.append(node)
            if next_edge < len(edges[node]):
                stack.append((node, next_edge + 1))
                target = edges[node][next_edge]
                if state.get(target) == "visiting":
                    cycle = [*trail[trail.index(target) :], target]
                    errors.add(
                        f"definition.steps[{index_of[node]}].depends_on[{next_edge}]",
                        "cycle of depends_on: " + " -> ".join(cycle),
                    )
                    return
                if target not in state:
                    stack.append((target, 0))
            else:
                state[node] = "done"
                trail.pop()


def _ancestors(plan: Plan) -> dict[str, set[str]]:
    """For each node, the nodes that are certainly finished before it starts (transitive dependencies)."""
    found: dict[str, set[str]] = {}

    def collect(node_id: str) -> set[str]:
        if node_id not in found:
            found[node_id] = set()
            for dependency in plan.node(node_id).depends_on:
                found[node_id] |= {dependency} | collect(dependency)
        return found[node_id]

    for node in plan.nodes:
        collect(node.id)
    return found


def _check_reference(
    path: Path, where: str, roots: tuple[str, ...], available: set[str], known: set[str], errors: DefinitionErrors
) -> None:
    root = path.segments[0] if path.segments else None
    step_id = path.step_id
    if root not in roots:
        listed = ", ".join("$.steps.<id>" if name == "steps" else f"$.{name}" for name in roots)
        errors.add(where, f"{path.source}: here a path starts with {listed}")
    elif root == "steps" and step_id is None:
        errors.add(where, f"{path.source}: name the step, as in $.steps.<id>.output")
    elif step_id is not None and step_id not in known:
        errors.add(where, f"{path.source}: unknown step {step_id!r}")
    elif step_id is not None and step_id not in available:
        errors.add(where, f"{path.source}: step {step_id!r} is not finished before this point (depend on it)")


def _check_references(plan: Plan, definition: dict[str, Any], errors: DefinitionErrors) -> None:
    """Conditions, templates and map items parse, and read only what exists where they are evaluated."""
    known = set(plan.by_id)
    ancestors = _ancestors(plan)
    loop = plan.workflow_type == WorkflowType.LOOP
    roots: tuple[str, ...] = ("input", "steps", "iteration") if loop else ("input", "steps")
    for node in plan.nodes:
        # In a loop, every step's latest output exists from the second iteration on (null in the first).
        available = known if loop else ancestors[node.id]
        if node.when is not None:
            for path in node.when.paths:
                _check_reference(path, f"{node.where}.when", roots, available, known, errors)
        if node.items is not None:
            _check_reference(node.items, f"{node.where}.items", roots, available, known, errors)
        task_roots = (*roots, "item", "index") if node.kind == MAP_NODE else roots
        try:
            for found in find_template_paths(_original_task(definition, node), f"{node.where}.task"):
                _check_reference(found.path, found.location, task_roots, available, known, errors)
        except TemplateError as error:
            errors.add(error.location, f"{error.message} at position {error.position}")
    if plan.loop_while is not None:
        for path in plan.loop_while.paths:
            _check_reference(path, "definition.while", roots, known, known, errors)


def _original_task(definition: dict[str, Any], node: Node) -> dict[str, Any]:
    """The task as written (the plan adds default inputs, which need no checking)."""
    parts = node.where.removeprefix("definition.")
    value: Any = definition
    for part in parts.replace("[", ".").replace("]", "").split("."):
        value = value[int(part)] if part.isdigit() else value[part]
    return value["task"]


def _check_expressions(workflow_type: str, definition: dict[str, Any], errors: DefinitionErrors) -> None:
    """Every condition and map path parses (positions in the message); conditional workflows have one condition."""
    conditions = [
        (f"definition.steps[{i}].when", s["when"]) for i, s in enumerate(definition.get("steps", [])) if "when" in s
    ]
    if "while" in definition:
        conditions.append(("definition.while", definition["while"]))
    for where, source in conditions:
        try:
            parse_expression(source)
        except ExpressionError as error:
            errors.add(where, f"{error.message} at position {error.position}")
    if workflow_type == WorkflowType.CONDITIONAL and not conditions:
        errors.add("definition.steps", "a conditional workflow needs at least one step with a `when` condition")
    if workflow_type == WorkflowType.MAP_REDUCE:
        try:
            parse_path(definition["map"]["items"])
        except ExpressionError as error:
            errors.add("definition.map.items", f"{error.message} at position {error.position}")


def _check_scatter(definition: dict[str, Any], errors: DefinitionErrors) -> None:
    scatter, gather = definition["scatter"], definition["gather"]
    if "agents" not in scatter and "capabilities" not in scatter:
        errors.add("definition.scatter", "name the agents (agents) or how many capable agents (capabilities, count)")
        return
    for member in ("agent_id", "capabilities"):
        if member in scatter["task"]:
            errors.add(f"definition.scatter.task.{member}", "a scatter's targets go in scatter.agents or capabilities")
    total = len(scatter.get("agents", [])) or scatter.get("count", 0)
    if isinstance(gather, dict) and gather["quorum"] > total:
        errors.add("definition.gather.quorum", f"a quorum of {gather['quorum']} needs at least as many tasks ({total})")


def _agent_references(workflow_type: str, definition: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for where, task in _tasks_with_places(workflow_type, definition):
        if "agent_id" in task:
            found.append((f"{where}.agent_id", task["agent_id"]))
    if workflow_type == WorkflowType.SCATTER_GATHER:
        found += [(f"definition.scatter.agents[{i}]", a) for i, a in enumerate(definition["scatter"].get("agents", []))]
    return found


def _tasks_with_places(workflow_type: str, definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"definition.steps[{i}].task", step["task"]) for i, step in enumerate(definition.get("steps", []))]
    for member in ("map", "reduce", "scatter"):
        if member in definition:
            found.append((f"definition.{member}.task", definition[member]["task"]))
    return found


def _check_agents(workflow_type: str, definition: dict[str, Any], tenant_id: Any, errors: DefinitionErrors) -> None:
    references = _agent_references(workflow_type, definition)
    if not references:
        return
    wanted = {uuid.UUID(agent_id) for _, agent_id in references}
    existing = set(Agent.objects.filter(tenant_id=tenant_id, pk__in=wanted).values_list("pk", flat=True))
    for where, agent_id in references:
        if uuid.UUID(agent_id) not in existing:
            errors.add(where, "no such agent in this tenant")


def validate_definition(workflow_type: str, definition: Any, *, tenant_id: Any) -> Plan:
    """The plan of a definition that can run; DomainError 400 with every problem by place otherwise."""
    errors = DefinitionErrors()
    if not isinstance(definition, dict):
        errors.add("definition", "must be an object")
        errors.raise_if_any()
    problem = free_json_problem(
        definition, "definition", max_bytes=MAX_DEFINITION_BYTES, max_depth=MAX_DEFINITION_DEPTH
    )
    if problem:
        errors.add("definition", problem)
        errors.raise_if_any()
    _schema_errors({"workflow_type": workflow_type, "definition": definition}, errors)
    errors.raise_if_any()
    _check_ids(workflow_type, definition, errors)
    if workflow_type == WorkflowType.CONDITIONAL:
        _check_graph(definition, errors)
    if workflow_type == WorkflowType.SCATTER_GATHER:
        _check_scatter(definition, errors)
    _check_expressions(workflow_type, definition, errors)
    errors.raise_if_any()
    plan = compile_plan(workflow_type, definition)
    _check_references(plan, definition, errors)
    _check_agents(workflow_type, definition, tenant_id, errors)
    errors.raise_if_any()
    return plan
