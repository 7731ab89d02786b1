# SPDX-License-Identifier: Apache-2.0
"""Route mapping: public paths to backend URLs and back."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.config import load_config_data
from sidecar.proxy.routing import Route, confined_rest, routes_for


def _route(url: str, path: str) -> Route:
    settings = load_config_data({"backends": [{"name": "a", "url": url, "path": path}]})
    return routes_for(settings.backends[0])[0]


@pytest.mark.parametrize(
    ("url", "path", "raw_path", "query", "target"),
    [
        ("http://127.0.0.1:3001/mcp", "/mcp", "/mcp", "", "http://127.0.0.1:3001/mcp"),
        ("http://127.0.0.1:3001/mcp", "/mcp", "/mcp/", "", "http://127.0.0.1:3001/mcp/"),
        (
            "http://127.0.0.1:3001/api/mcp",
            "/mcp",
            "/mcp/x%2Fy",
            "a=%20",
            "http://127.0.0.1:3001/api/mcp/x%2Fy?a=%20",
        ),
        ("http://127.0.0.1:3001/", "/b", "/b/timed-sse", "", "http://127.0.0.1:3001/timed-sse"),
        ("http://127.0.0.1:3001/mcp/", "/team/mcp/", "/team/mcp", "", "http://127.0.0.1:3001/mcp/"),
    ],
)
def test_target_for(url: str, path: str, raw_path: str, query: str, target: str) -> None:
    assert str(_route(url, path).target_for(raw_path, query)) == target


@pytest.mark.parametrize("raw_path", ["/mcpx", "/%6Dcp", "/mcp/..", "/mcp/%2e/x", "/mcp/a/..%5C..%5Cb"])
def test_target_refused_outside_the_route(raw_path: str) -> None:
    assert _route("http://127.0.0.1:3001/api/mcp", "/mcp").target_for(raw_path, "") is None


@pytest.mark.parametrize(
    ("location", "public"),
    [
        ("http://127.0.0.1:3001/api/mcp/next?x=1", "/mcp/next?x=1"),
        ("http://127.0.0.1:3001/api/mcp", "/mcp"),
        ("http://127.0.0.1:3001/elsewhere", "/elsewhere"),
        ("https://idp.example.com/login", "https://idp.example.com/login"),
        ("/relative", "/relative"),
    ],
)
def test_backend_redirects_point_at_the_sidecar(location: str, public: str) -> None:
    assert _route("http://127.0.0.1:3001/api/mcp", "/mcp").public_location(location) == public


def _plain_rest(raw_path: str, prefix: str) -> str | None:
    """The confinement rule without shortcuts: below the prefix, no dot segment once decoded."""
    if not raw_path.startswith(prefix):
        return None
    rest = raw_path[len(prefix) :]
    if rest and not rest.startswith("/"):
        return None
    if any(s in (".", "..") for s in unquote(rest).replace("\\", "/").split("/")):
        return None
    return rest


_PATH_PIECES = st.sampled_from(["/", ".", "..", "%2e", "%2E", "%5c", "\\", "a", "x.y", "%2F", "mcp", "%6D"])


@given(st.lists(_PATH_PIECES, max_size=8).map("".join), st.sampled_from(["", "a=1", "x=%20"]))
def test_confinement_and_target_as_the_plain_rule_says(tail: str, query: str) -> None:
    """Whatever follows the prefix, the shortcuts (nothing after it; no dot, percent or
    backslash in it) decide as the plain rule, and the target is the one spelled out."""
    route = _route("http://127.0.0.1:3001/api/mcp/", "/mcp")
    raw_path = "/mcp" + tail
    rest = _plain_rest(raw_path, "/mcp")
    assert confined_rest(raw_path, "/mcp") == rest
    target = route.target_for(raw_path, query)
    if rest is None:
        assert target is None
    else:
        path = "/api/mcp" + rest if rest else "/api/mcp/"
        assert str(target) == "http://127.0.0.1:3001" + path + (f"?{query}" if query else "")
