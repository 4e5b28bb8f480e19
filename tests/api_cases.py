"""Generic API test cases (NetBox's `APIViewTestCases` idea, in pytest style): declare an endpoint, get its tests.

A test module declares `Case`s: the sample object of a tenant (a factory of a `Ctx`), how it fills the URL, and
the `Call`s made on it (method, URL, body, the expected status per key type). Then

    globals().update(api_tests(CASE_A, CASE_B, ...))

adds these parametrized tests to the module:

- `test_anonymous_is_401`: every call without a key is 401 with the JSON error shape;
- `test_each_key_type_gets_its_status`: every call, for each key type, is the declared status; a 403 is
  `service_not_allowed` exactly when the key-type matrix (`apikeys.policy`) refuses the view's service and action;
  an error has the JSON error shape; a paginated answer is a list that declares a query ceiling;
- `test_another_tenants_object_is_404`: a call on an object of another tenant (built for a key of the same type
  there) is 404 for every key type the matrix lets through — never 403, never 2xx;
- `test_a_list_leaves_out_other_tenants`: lists show the caller's sample and not another tenant's;
- `test_list_queries_do_not_grow_with_rows`: a list of 5 and of 20 rows costs the same number of queries,
  at most the declared ceiling.

Every case is registered in `REGISTRY`; `tests/test_api_coverage.py` fails for any route (pattern and method)
under /api/v1/ that no case calls. To cover a new endpoint, add a `Call` (or a `Case`) to the module of its app.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import resolve

from apikeys import policy
from mcpadmin.core.access import KEY_ITSELF
from tests import factories

KEY_TYPES = ("admin", "gateway", "service", "agent", "user")
#: What fills each URL parameter when a call's URL is resolved without a sample (coverage, collection-time checks).
PLACEHOLDERS = {"pk": "00000000-0000-4000-8000-000000000000", "provider": "sample", "collection": "sample"}
PLACEHOLDER_UUID = PLACEHOLDERS["pk"]


class ApiError(tuple):
    """An error response, read two ways: as the tuple `(status, code, sorted names in details)` and as the
    `error` member of the body (`["code"]`, `["message"]`, `["details"]`)."""

    error: dict[str, Any]

    def __new__(cls, status: int, error: dict[str, Any]) -> ApiError:
        details = error["details"]
        names = sorted(details) if isinstance(details, dict) else []
        made = super().__new__(cls, (status, error["code"], names))
        made.error = error
        return made

    def __getitem__(self, key: Any) -> Any:
        return self.error[key] if isinstance(key, str) else super().__getitem__(key)


def error_of(response: Any) -> ApiError:
    """The error of a response, checking the one JSON error shape of the API (`{"error": {"code", "message",
    "details"}}` and nothing else): `error_of(r) == (409, "task_final", ["status"])`, `error_of(r)["details"]`."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    return ApiError(response.status_code, body["error"])


def every(status: int, **overrides: int) -> dict[str, int]:
    """The expected status of each key type: `status`, but where a key type is named."""
    unknown = set(overrides) - set(KEY_TYPES)
    assert not unknown, f"unknown key types {unknown}"
    return {key_type: overrides.get(key_type, status) for key_type in KEY_TYPES}


@dataclass
class Ctx:
    """A tenant and a caller of one key type, for whom a sample is built.

    `agent` is an agent of the tenant (the one an agent key acts as); `key` is the caller's key row.
    """

    tenant: Any
    key_type: str
    agent: Any
    key: Any
    raw_key: str

    @property
    def api(self) -> Any:
        return factories.client_for(self.raw_key)

    @cached_property
    def admin(self) -> Any:
        """A client with an admin key of the tenant: samples are set up through the API where that is simplest
        (it survives models moving between apps). The tenant's rate limits are raised for such setups."""
        client = factories.client_for(factories.issued_key(self.tenant, "admin").raw_key)
        limits = {"default_requests_per_minute": 100_000, "default_requests_per_hour": 100_000}
        response = client.patch("/api/v1/tenant-config", {"rate_limit_config": limits}, format="json")
        assert response.status_code == 200, shown(response)
        return client

    def created(self, url: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POSTs `body` as the tenant's admin and returns the created object's body."""
        response = self.admin.post(url, body, format="json")
        assert response.status_code == 201, shown(response)
        return response.json()


def make_ctx(key_type: str, tenant: Any = None) -> Ctx:
    tenant = tenant or factories.service_tenant()
    agent = factories.agent(tenant)
    extra = {"agent": agent} if key_type == "agent" else {}
    issued = factories.issued_key(tenant, key_type, **extra)
    return Ctx(tenant=tenant, key_type=key_type, agent=agent, key=issued.key, raw_key=issued.raw_key)


Body = Mapping[str, Any] | Callable[[Ctx, Any], Mapping[str, Any]] | None


@dataclass(frozen=True)
class Call:
    """One request on an endpoint. `url` is a template filled by the case's `params` of the sample
    (`/api/v1/agents/{pk}/heartbeat`); `expect` is the status for each key type (see `every`).

    Lists: `max_queries` (the ceiling of queries of one request, whatever the number of rows) makes a GET a list;
    `rows(ctx, n)` builds n rows and returns the sample whose URL lists them (default: n samples).
    `counted_for`: the key types whose lists are counted (default: all those the list answers 200; the rows must
    be visible to them); `queries_grow_for`: key types whose list has a known N+1 today, with the reason (their
    check is a strict xfail, which fails once it is fixed). `id_field`: what identifies a list's items.

    `cross_tenant`: the status of the call on another tenant's object (URL and body built from it); by default 404
    for URLs with parameters, not checked for the others.
    """

    method: str
    url: str
    expect: Mapping[str, int]
    body: Body = None
    max_queries: int | None = None
    rows: Callable[[Ctx, int], Any] | None = None
    cross_tenant: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    id_field: str = "id"
    counted_for: tuple[str, ...] = ()
    queries_grow_for: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.method in ("GET", "POST", "PUT", "PATCH", "DELETE"), self.method
        assert self.url.startswith("/api/v1/"), self.url
        assert set(self.expect) == set(KEY_TYPES), f"{self.label}: declare a status for each of {KEY_TYPES}"

    @property
    def label(self) -> str:
        return f"{self.method} {self.url.removeprefix('/api/v1/')}"

    @property
    def has_params(self) -> bool:
        return "{" in urlsplit(self.url).path

    @property
    def cross_tenant_status(self) -> int | None:
        if self.cross_tenant is not None:
            return self.cross_tenant
        return 404 if self.has_params else None

    @property
    def is_list(self) -> bool:
        return self.max_queries is not None

    def placeholder_path(self) -> str:
        """The URL's path with every parameter filled by a placeholder, for resolving it without a sample."""
        return re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m[1], PLACEHOLDER_UUID), urlsplit(self.url).path)


@dataclass(frozen=True)
class Case:
    """An endpoint (or a group of them) around one kind of sample object.

    `sample(ctx)` builds the object of `ctx.tenant` that the calls act on, as visible to `ctx`'s key type as the
    domain allows (an agent key's own agent, its assigned task...); `params(sample)` fills the URL templates;
    `listed_id(sample)` is how lists show it (the `id_field` of their items).
    """

    name: str
    calls: tuple[Call, ...]
    sample: Callable[[Ctx], Any] | None = None
    params: Callable[[Any], Mapping[str, Any]] = lambda sample: {"pk": sample.pk}
    listed_id: Callable[[Any], str] = lambda sample: str(sample.pk)

    def url(self, call: Call, sample: Any) -> str:
        return call.url.format(**self.params(sample)) if call.has_params else call.url

    def build(self, ctx: Ctx) -> Any:
        return self.sample(ctx) if self.sample is not None else None


#: Every declared case, by name (filled when a case module is imported).
REGISTRY: dict[str, Case] = {}


def register(case: Case) -> None:
    known = REGISTRY.get(case.name)
    assert known is None or known is case, f"two cases are named {case.name!r}"
    REGISTRY[case.name] = case


# --- what the view says about a call ---------------------------------------------------------------------------


def view_of(call: Call) -> tuple[type, str | None]:
    """The view class and its action (viewsets) that serve `call`."""
    match = resolve(call.placeholder_path())
    view_class = getattr(match.func, "cls", None) or match.func.view_class
    actions = getattr(match.func, "actions", None) or {}
    return view_class, actions.get(call.method.lower())


def service_and_access(call: Call) -> tuple[str, str]:
    """The service the call's view declares and whether the matrix sees it as a read or a write."""
    view_class, action = view_of(call)
    view = view_class()
    view.action = action
    return view_class.service, view.get_service_action(SimpleNamespace(method=call.method))


def matrix_allows(call: Call, key_type: str) -> bool:
    service, access = service_and_access(call)
    return service == KEY_ITSELF or policy.key_type_allows(key_type, service, access)


# --- making the request ----------------------------------------------------------------------------------------


def send(api: Any, case: Case, call: Call, ctx: Ctx, sample: Any) -> Any:
    body = call.body(ctx, sample) if callable(call.body) else call.body
    url = case.url(call, sample)
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in call.headers.items()}
    return getattr(api, call.method.lower())(url, body, format="json", **extra)


def shown(response: Any) -> str:
    try:
        return str(response.json())[:600]
    except ValueError:
        return response.content[:600].decode(errors="replace")


def listed_ids(response: Any, id_field: str) -> set[str]:
    body = response.json()
    items = body["results"] if isinstance(body, dict) else body
    return {str(item[id_field]) for item in items}


# --- the generated tests ---------------------------------------------------------------------------------------


def _param(case: Case, call: Call, *rest: str, grows: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"known N+1: {grows}")] if grows else []
    return pytest.param(case, call, *rest, id=":".join([case.name, call.label, *rest]), marks=marks)


def _calls(cases: tuple[Case, ...]) -> Iterator[tuple[Case, Call]]:
    for case in cases:
        for call in case.calls:
            yield case, call


def api_tests(*cases: Case) -> dict[str, Any]:
    """The generated tests of `cases`, by name, for a test module's `globals().update(...)`."""
    for case in cases:
        register(case)
    calls = list(_calls(cases))

    @pytest.mark.django_db
    @pytest.mark.parametrize(("case", "call"), [_param(case, call) for case, call in calls])
    def test_anonymous_is_401(case: Case, call: Call) -> None:
        from rest_framework.test import APIClient

        ctx = make_ctx("admin")
        response = send(APIClient(), case, call, ctx, case.build(ctx))
        assert response.status_code == 401, shown(response)
        assert error_of(response)["code"] == "not_authenticated"

    @pytest.mark.django_db
    @pytest.mark.parametrize(
        ("case", "call", "key_type"),
        [_param(case, call, key_type) for case, call in calls for key_type in KEY_TYPES],
    )
    def test_each_key_type_gets_its_status(case: Case, call: Call, key_type: str) -> None:
        ctx = make_ctx(key_type)
        sample = case.build(ctx)
        response = send(ctx.api, case, call, ctx, sample)
        assert response.status_code == call.expect[key_type], shown(response)
        if response.status_code >= 400:
            code = error_of(response)["code"]
            if response.status_code == 403:
                refused_by_matrix = not matrix_allows(call, key_type)
                assert (code == "service_not_allowed") == refused_by_matrix, (code, refused_by_matrix)
        elif call.method == "GET" and isinstance(body := response.json(), dict) and "results" in body:
            assert call.is_list, f"{call.label} is a list: declare its max_queries"

    cross = [
        _param(case, call, key_type)
        for case, call in calls
        if call.cross_tenant_status is not None
        for key_type in KEY_TYPES
        if matrix_allows(call, key_type)
    ]

    @pytest.mark.django_db
    @pytest.mark.parametrize(("case", "call", "key_type"), cross)
    def test_another_tenants_object_is_404(case: Case, call: Call, key_type: str) -> None:
        theirs = make_ctx(key_type)
        sample = case.build(theirs)
        ours = make_ctx(key_type)
        response = send(ours.api, case, call, theirs, sample)
        assert response.status_code == call.cross_tenant_status, shown(response)
        if response.status_code >= 400:
            error_of(response)

    lists = [
        _param(case, call, key_type)
        for case, call in calls
        if call.is_list and not call.has_params
        for key_type in KEY_TYPES
        if call.expect[key_type] == 200
    ]

    @pytest.mark.django_db
    @pytest.mark.parametrize(("case", "call", "key_type"), lists)
    def test_a_list_leaves_out_other_tenants(case: Case, call: Call, key_type: str) -> None:
        theirs = make_ctx(key_type)
        their_sample = case.build(theirs)
        ours = make_ctx(key_type)
        our_sample = case.build(ours)
        response = send(ours.api, case, call, ours, our_sample)
        assert response.status_code == 200, shown(response)
        ids = listed_ids(response, call.id_field)
        assert case.listed_id(our_sample) in ids
        assert case.listed_id(their_sample) not in ids

    counted = [
        _param(case, call, key_type, grows=call.queries_grow_for.get(key_type))
        for case, call in calls
        if call.is_list
        for key_type in (call.counted_for or KEY_TYPES)
        if call.expect[key_type] == 200
    ]

    @pytest.mark.django_db
    @pytest.mark.parametrize(("case", "call", "key_type"), counted)
    def test_list_queries_do_not_grow_with_rows(
        case: Case, call: Call, key_type: str, django_assert_max_num_queries: Any
    ) -> None:
        ctx = make_ctx(key_type)
        rows = call.rows or (lambda ctx, count: [case.build(ctx) for _ in range(count)][-1])
        counts = {}
        send(ctx.api, case, call, ctx, case.build(ctx))  # warm-up: the key's first use, prepared statements
        for count in (5, 20):
            sample = rows(ctx, count)
            with django_assert_max_num_queries(call.max_queries) as captured:
                response = send(ctx.api, case, call, ctx, sample)
            assert response.status_code == 200, shown(response)
            assert len(listed_ids(response, call.id_field)) >= count
            counts[count] = len(captured.captured_queries)
        assert counts[5] == counts[20], f"queries grow with the rows: {counts}"

    return {
        "test_anonymous_is_401": test_anonymous_is_401,
        "test_each_key_type_gets_its_status": test_each_key_type_gets_its_status,
        "test_another_tenants_object_is_404": test_another_tenants_object_is_404,
        "test_a_list_leaves_out_other_tenants": test_a_list_leaves_out_other_tenants,
        "test_list_queries_do_not_grow_with_rows": test_list_queries_do_not_grow_with_rows,
    }
