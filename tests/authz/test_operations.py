# SPDX-License-Identifier: Apache-2.0
"""The body is the truth: what is decided comes from the JSON-RPC body, and MCP 2026-07-28's
Mcp-Method / Mcp-Name headers must agree with it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict
from structlog.testing import capture_logs

from sidecar.authz.decider import Decider
from sidecar.authz.entities import argument_context
from sidecar.authz.operations import (
    BatchRefused,
    Check,
    HeaderMismatch,
    MissingTarget,
    NotJsonRpc,
    Refused,
    classify,
)
from sidecar.authz.policy import PolicyText, compile_policies


def _body(method: str, **params: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


@pytest.mark.parametrize(
    ("body", "check"),
    [
        (_body("tools/call", name="add", arguments={"a": 1}), Check("call_tool", "Tool", "add", {"a": 1})),
        (_body("prompts/get", name="greet"), Check("get_prompt", "Prompt", "greet")),
        (_body("resources/read", uri="docs://x"), Check("read_resource", "Resource", "docs://x")),
        (_body("resources/subscribe", uri="docs://x"), Check("read_resource", "Resource", "docs://x")),
        (
            _body("completion/complete", ref={"type": "ref/prompt", "name": "greet"}),
            Check("get_prompt", "Prompt", "greet"),
        ),
    ],
)
def test_decided_operations(body: bytes, check: Check) -> None:
    assert classify(body, CIMultiDict()).check == check


@pytest.mark.parametrize("method", ["initialize", "ping", "server/discover", "notifications/initialized"])
def test_protocol_messages_are_not_decided(method: str) -> None:
    operation = classify(_body(method), CIMultiDict())
    assert (operation.check, operation.listing, operation.denied) == (None, None, False)


@pytest.mark.parametrize("method", ["tasks/list", "sampling/createMessage", "x/unknown"])
def test_other_methods_are_denied_by_default(method: str) -> None:
    assert classify(_body(method), CIMultiDict()).denied


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Mcp-Method": "tools/list"}, _body("tools/call", name="wipe")),
        ({"Mcp-Method": "tools/call", "Mcp-Name": "add"}, _body("tools/call", name="wipe")),
        ({"Mcp-Name": "docs://public"}, _body("resources/read", uri="docs://private")),
        ({"Mcp-Name": "add"}, _body("tools/list")),
        ({"Mcp-Method": "ping"}, b'{"jsonrpc": "2.0", "id": 1, "result": {}}'),
    ],
)
def test_header_disagreeing_with_body_is_refused(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(HeaderMismatch):
        classify(body, CIMultiDict(headers))


def test_two_copies_of_a_header_are_refused() -> None:
    headers = CIMultiDict([("Mcp-Name", "add"), ("Mcp-Name", "add")])
    with pytest.raises(HeaderMismatch):
        classify(_body("tools/call", name="add"), headers)


def test_matching_headers_pass() -> None:
    headers = CIMultiDict({"Mcp-Method": "tools/call", "Mcp-Name": "add"})
    assert classify(_body("tools/call", name="add"), headers).check is not None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" + _body("ping") + b"]", BatchRefused),
        (b"not json", NotJsonRpc),
        (b'{"id": 1, "method": "ping"}', NotJsonRpc),
        (_body("tools/call"), MissingTarget),
        (_body("tools/call", name=""), MissingTarget),
        (_body("resources/read", uri=7), MissingTarget),
    ],
)
def test_refused_bodies(body: bytes, error: type[Refused]) -> None:
    with pytest.raises(error):
        classify(body, CIMultiDict())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
MESSAGE = st.fixed_dictionaries(
    {
        "jsonrpc": st.just("2.0"),
        "method": st.sampled_from(
            ["tools/call", "prompts/get", "resources/read", "completion/complete", "tools/list", "x"]
        ),
    },
    optional={"id": JSON, "params": JSON},
)


@given(st.binary(max_size=200) | MESSAGE.map(lambda m: json.dumps(m).encode()))
def test_any_body_is_classified_or_refused_never_crashes(body: bytes) -> None:
    try:
        operation = classify(body, CIMultiDict())
    except Refused:
        return
    assert operation.check is None or isinstance(operation.check.name, str)


@given(st.dictionaries(st.text(max_size=8), JSON, max_size=6), st.dictionaries(st.text(max_size=8), JSON))
def test_any_claims_and_arguments_become_a_decision(
    claims: dict[str, object], arguments: dict[str, object]
) -> None:
    """Whatever a token or a caller sends, Cedar gets values it accepts: a decision, never an error."""
    compiled, _ = compile_policies(
        [
            PolicyText(
                "p",
                "permit(principal, action, resource)\n"
                "when { context has arg_x || context has arg_x_present };",
            )
        ],
        entities_json="[]",
        group_entity_type="THVGroup",
        entities_where="e",
    )
    assert compiled is not None
    decider = Decider(compiled, group_claim=None, role_claim=None)
    principal = decider.principal("someone", claims)
    with capture_logs() as logs:
        decision = decider._evaluate(
            principal, "b", [Check("call_tool", "Tool", "t", arguments)], argument_context(arguments)
        )
    assert [entry for entry in logs if entry["log_level"] == "error"] == []
    assert decision == [("x" in arguments)]
