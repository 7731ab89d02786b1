# SPDX-License-Identifier: Apache-2.0
"""The proxy against a real HTTP backend on loopback: what reaches the backend, what comes back."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from tests.proxy.conftest import StartSidecar, echo_backend
from tests.servers.echo import EchoState, headers_of
from tests.support import RunningSidecar

TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"


async def _echo(http: aiohttp.ClientSession, url: str, **kwargs: object) -> dict[str, object]:
    async with http.post(url, **kwargs) as resp:  # type: ignore[arg-type]
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def test_mcp_headers_pass_through_untouched(
    sidecar: RunningSidecar, http: aiohttp.ClientSession
) -> None:
    """Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-* and Last-Event-ID pass."""
    sent = {
        "Mcp-Session-Id": "abc123",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "add",
        "Mcp-Param-Region": "eu",
        "Mcp-Param-Other": "x y",
        "Last-Event-ID": "42",
    }
    echoed = headers_of(await _echo(http, f"{sidecar.url}/b/mcp", headers=sent, data=b"{}"))
    for name, value in sent.items():
        assert echoed[name.lower()] == value


async def test_client_token_and_sidecar_cookies_never_reach_backend(
    sidecar: RunningSidecar, http: aiohttp.ClientSession
) -> None:
    """MCP "no token passthrough": Authorization and the sidecar's own cookies are dropped."""
    echoed = await _echo(
        http,
        f"{sidecar.url}/b/mcp",
        data=b"{}",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Cookie": "mcp_sidecar_session=s3cr3t; theme=dark",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        },
    )
    headers = headers_of(echoed)
    assert "authorization" not in headers
    assert "proxy-authorization" not in headers
    assert headers["cookie"] == "theme=dark"
    assert TOKEN not in json.dumps(echoed)


async def test_host_is_rewritten_to_the_backend(
    sidecar: RunningSidecar, http: aiohttp.ClientSession, echo_server: TestServer
) -> None:
    """SDK servers bound to localhost answer 421 to a foreign Host, so Host names the backend."""
    echoed = await _echo(http, f"{sidecar.url}/b/mcp", data=b"{}", headers={"Host": "mcp.example.com"})
    assert headers_of(echoed)["host"] == f"127.0.0.1:{echo_server.port}"


async def test_hop_by_hop_and_connection_named_headers_removed_both_ways(
    sidecar: RunningSidecar, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{sidecar.url}/b/mcp",
        data=b"{}",
        headers={
            "Connection": "keep-alive, X-Injected",
            "X-Injected": "drop-me",
            "Keep-Alive": "timeout=1",
            "TE": "trailers",
            "Upgrade": "websocket",
            "Proxy-Connection": "keep-alive",
            "X-Kept": "yes",
        },
    ) as resp:
        echoed = headers_of(await resp.json())
        assert "x-hop" not in {k.lower() for k in resp.headers}
        assert "keep-alive" not in {k.lower() for k in resp.headers}
        assert resp.headers["Mcp-Session-Id"] == "sess-1"
    for name in ("x-injected", "keep-alive", "te", "upgrade", "proxy-connection"):
        assert name not in echoed
    assert echoed["x-kept"] == "yes"


async def test_path_and_query_forwarded_below_prefix(
    sidecar: RunningSidecar, http: aiohttp.ClientSession
) -> None:
    echoed = await _echo(http, f"{sidecar.url}/b/mcp/sub%2Fpath?x=1&y=%20")
    assert echoed["path"] == "/mcp/sub%2Fpath?x=1&y=%20"


async def test_unknown_path_is_json_404(sidecar: RunningSidecar, http: aiohttp.ClientSession) -> None:
    for path in ("/nope", "/.well-known/openid-configuration", "/bee"):
        async with http.get(f"{sidecar.url}{path}") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"] == "not_found"


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 200),
        ("http://localhost:{port}", 200),
        ("http://127.0.0.1:{port}", 200),
        ("https://app.example.com", 200),
        ("HTTPS://APP.EXAMPLE.COM:443", 200),
        ("https://evil.example.com", 403),
        ("https://app.example.com.evil.com", 403),
        ("http://app.example.com", 403),
        ("null", 403),
    ],
)
async def test_origin_checked_then_rewritten(
    start_sidecar: StartSidecar,
    echo_server: TestServer,
    http: aiohttp.ClientSession,
    origin: str | None,
    status: int,
) -> None:
    """DNS-rebinding guard: a present Origin must be the sidecar's own or an allowed one."""
    sidecar = await start_sidecar([echo_backend(echo_server)], allowed_origins=["https://app.example.com"])
    headers = {} if origin is None else {"Origin": origin.format(port=sidecar.sidecar.ports[0])}
    async with http.post(f"{sidecar.url}/b/mcp", data=b"{}", headers=headers) as resp:
        assert resp.status == status
        if status == 200:
            echoed = headers_of(await resp.json())
            expected = None if origin is None else f"http://127.0.0.1:{echo_server.port}"
            assert echoed.get("origin") == expected
        else:
            assert (await resp.json())["error"] == "origin_not_allowed"


async def test_request_body_over_limit_is_413(
    start_sidecar: StartSidecar, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """Declared and chunked bodies past server.max_request_body both get 413."""
    sidecar = await start_sidecar([echo_backend(echo_server)], max_request_body="100KiB")
    async with http.post(f"{sidecar.url}/b/mcp", data=b"x" * (100 * 1024 + 1)) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"] == "request_too_large"

    async def chunks() -> object:
        for _ in range(30):
            yield b"y" * 8192

    async with http.post(f"{sidecar.url}/b/mcp", data=chunks()) as resp:
        assert resp.status == 413
    async with http.post(f"{sidecar.url}/b/mcp", data=b"z" * (90 * 1024)) as resp:
        assert resp.status == 200
        assert len((await resp.json())["body"]) == 90 * 1024


async def test_streamed_request_body_reaches_backend_whole(
    sidecar: RunningSidecar, http: aiohttp.ClientSession
) -> None:
    async def chunks() -> object:
        for index in range(20):
            yield f"{index:04d}".encode() * 1024

    echoed = await _echo(http, f"{sidecar.url}/b/mcp", data=chunks())
    assert echoed["body"] == "".join(f"{index:04d}" * 1024 for index in range(20))


async def test_content_encoding_passes_through_untouched(
    sidecar: RunningSidecar, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{sidecar.url}/b/gzip") as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert await resp.read() == b"\x1f\x8b-not-really-gzip"


async def test_large_response_streams_through(sidecar: RunningSidecar, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sidecar.url}/b/big?size=3000000") as resp:
        assert resp.status == 200
        assert len(await resp.read()) == 3_000_000


async def test_sse_event_arrives_while_the_backend_still_holds_the_next(
    sidecar: RunningSidecar, echo_state: EchoState, http: aiohttp.ClientSession
) -> None:
    """No buffering: the first event reaches the client before the backend sends the second."""
    async with http.get(f"{sidecar.url}/b/gated-sse") as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["X-Accel-Buffering"] == "no"
        assert "Content-Length" not in resp.headers
        received = b""
        async with asyncio.timeout(10):  # a buffering proxy would hold the first event forever
            while b"data: first\n\n" not in received:
                received += await resp.content.readany()
        echo_state.proceed.set()
        rest = await resp.content.read()
    assert b": keep-alive\n\n" in received  # comments pass through
    assert rest.endswith(b"id: 2\ndata: second\n\n")


async def test_client_disconnect_closes_backend_request(
    sidecar: RunningSidecar, echo_state: EchoState, http: aiohttp.ClientSession
) -> None:
    """A client that goes away mid-stream ends the backend request at once (2026-07-28 cancel)."""
    resp = await http.get(f"{sidecar.url}/b/hold-sse")
    assert await resp.content.readuntil(b"\n\n") == b"data: hello\n\n"
    resp.close()  # drop the connection
    assert await asyncio.wait_for(echo_state.disconnects.get(), 5) == "/hold-sse"


async def test_backend_crash_mid_stream_ends_client_stream(
    sidecar: RunningSidecar, echo_state: EchoState, http: aiohttp.ClientSession
) -> None:
    """A backend that drops an SSE stream mid-body: the client's stream ends cleanly, after the
    events that came before."""
    async with http.get(f"{sidecar.url}/b/crash-sse") as resp:
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
        echo_state.proceed.set()  # now the backend drops its connection
        rest = await asyncio.wait_for(resp.content.read(), 5)
    assert (first, rest) == (b"data: before-crash\n\n", b"")


async def test_backend_down_gives_fast_502_with_jsonrpc_error(
    start_sidecar: StartSidecar, http: aiohttp.ClientSession, dead_port: int
) -> None:
    sidecar = await start_sidecar(
        [{"name": "down", "url": f"http://127.0.0.1:{dead_port}/mcp", "path": "/mcp"}]
    )
    request = {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}
    async with http.post(f"{sidecar.url}/mcp", json=request) as resp:
        assert resp.status == 502
        body = await resp.json()
    assert body["id"] == 7
    assert body["error"]["code"] == -32001
    async with http.get(f"{sidecar.url}/mcp") as resp:
        assert resp.status == 502
        assert (await resp.json())["error"] == "bad_gateway"


async def test_unroutable_backend_gives_502_within_connect_timeout(
    start_sidecar: StartSidecar, http: aiohttp.ClientSession
) -> None:
    """A backend address that swallows SYNs is cut off by connect_timeout, never a hang."""
    # 192.0.2.0/24 (TEST-NET-1) is never routed; allow_remote only to let the config through.
    sidecar = await start_sidecar(
        [
            {
                "name": "blackhole",
                "url": "http://192.0.2.1:9/mcp",
                "path": "/mcp",
                "allow_remote": True,
                "connect_timeout": "300ms",
            }
        ]
    )
    async with http.post(
        f"{sidecar.url}/mcp",
        json={"jsonrpc": "2.0", "method": "ping", "id": 1},
        timeout=aiohttp.ClientTimeout(total=5),
    ) as resp:
        assert resp.status == 502  # a connect that never completes is the backend being down
        assert (await resp.json())["error"]["code"] == -32001


async def test_legacy_sse_endpoint_event_rewritten_to_public_path(
    start_sidecar: StartSidecar, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await start_sidecar(
        [
            {
                "name": "legacy",
                "url": f"http://127.0.0.1:{echo_server.port}/mcp",
                "path": "/mcp",
                "sse_path": "/sse",
                "messages_path": "/messages/",
            }
        ]
    )
    async with http.get(f"{sidecar.url}/sse") as resp:
        body = await resp.read()
    assert body.startswith(b"event: endpoint\ndata: /messages/?session_id=abc\n\n")
    assert b'data: {"endpoint": "untouched"}' in body
    echoed = await _echo(http, f"{sidecar.url}/messages/?session_id=abc", data=b"{}")
    assert echoed["path"] == "/messages/?session_id=abc"


@pytest.mark.parametrize(
    ("requested", "status"),
    [
        ("content-type, mcp-session-id, authorization", 204),
        ("Mcp-Param-Region, MCP-Protocol-Version", 204),
        (None, 204),
        ("x-evil", 403),
    ],
)
async def test_cors_preflight_answered_by_sidecar(
    start_sidecar: StartSidecar,
    echo_server: TestServer,
    http: aiohttp.ClientSession,
    requested: str | None,
    status: int,
) -> None:
    sidecar = await start_sidecar([echo_backend(echo_server)], allowed_origins=["https://app.example.com"])
    headers = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
    if requested is not None:
        headers["Access-Control-Request-Headers"] = requested
    async with http.options(f"{sidecar.url}/b/mcp", headers=headers) as resp:
        assert resp.status == status
        if status == 204:
            assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            assert "Access-Control-Allow-Credentials" not in resp.headers
    headers["Origin"] = "https://evil.example"
    async with http.options(f"{sidecar.url}/b/mcp", headers=headers) as resp:
        assert resp.status == 403


async def test_cors_headers_on_responses_to_allowed_origins(
    start_sidecar: StartSidecar, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await start_sidecar([echo_backend(echo_server)], allowed_origins=["https://app.example.com"])
    async with http.post(
        f"{sidecar.url}/b/mcp", data=b"{}", headers={"Origin": "https://app.example.com"}
    ) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "Mcp-Session-Id" in resp.headers["Access-Control-Expose-Headers"]
    async with http.post(f"{sidecar.url}/b/mcp", data=b"{}") as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_forwarding_headers_describe_the_real_peer(
    sidecar: RunningSidecar, http: aiohttp.ClientSession
) -> None:
    """Without trusted proxies, client-sent X-Forwarded-* are replaced by what the sidecar saw."""
    echoed = headers_of(
        await _echo(
            http,
            f"{sidecar.url}/b/mcp",
            data=b"{}",
            headers={
                "X-Forwarded-For": "6.6.6.6",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "evil.example",
                "X-Request-Id": "client-chosen",
            },
        )
    )
    assert echoed["x-forwarded-for"] == "127.0.0.1"
    assert echoed["x-forwarded-proto"] == "http"
    assert echoed["x-forwarded-host"] == sidecar.url.removeprefix("http://")
    assert echoed["x-request-id"] not in ("client-chosen", "")


async def test_trusted_proxy_forwarding_headers_are_believed(
    start_sidecar: StartSidecar, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await start_sidecar([echo_backend(echo_server)], trusted_proxies=["127.0.0.0/8"])
    echoed = headers_of(
        await _echo(
            http,
            f"{sidecar.url}/b/mcp",
            data=b"{}",
            headers={
                "X-Forwarded-For": "6.6.6.6, 198.51.100.4",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "mcp.example.com",
            },
        )
    )
    assert echoed["x-forwarded-for"] == "198.51.100.4, 127.0.0.1"
    assert echoed["x-forwarded-proto"] == "https"
    assert echoed["x-forwarded-host"] == "mcp.example.com"


@pytest.mark.parametrize(
    "path",
    [
        "/b/%2e%2e/x",
        "/b/mcp/../../x",
        "/b/mcp/%2E%2E/x",
        "/b/./mcp",
        "/b/mcp/..%5Cx",
        "/%62/mcp",  # the decoded path matches the route, the raw one does not
    ],
)
async def test_paths_that_would_leave_the_route_are_refused(sidecar: RunningSidecar, path: str) -> None:
    """Path confinement: no request reaches the backend outside the route's URL path."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.sidecar.ports[0])
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status.split()[1] in (b"400", b"404"), status


async def test_sidecar_errors_carry_cors_headers_for_allowed_origins(
    start_sidecar: StartSidecar, http: aiohttp.ClientSession, dead_port: int
) -> None:
    """A browser client on an allowed Origin can read the 502 the sidecar made."""
    sidecar = await start_sidecar(
        [{"name": "down", "url": f"http://127.0.0.1:{dead_port}/mcp", "path": "/mcp"}],
        allowed_origins=["https://app.example.com"],
    )
    async with http.post(
        f"{sidecar.url}/mcp", data=b"{}", headers={"Origin": "https://app.example.com"}
    ) as resp:
        assert resp.status == 502
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


@pytest.mark.parametrize(
    ("host", "status"),
    [("mcp.example.com", 200), ("MCP.example.com:443", 200), ("evil.example", 421), ("127.0.0.1", 200)],
)
async def test_allowed_hosts_guard_against_dns_rebinding(
    start_sidecar: StartSidecar, echo_server: TestServer, http: aiohttp.ClientSession, host: str, status: int
) -> None:
    sidecar = await start_sidecar([echo_backend(echo_server)], allowed_hosts=["mcp.example.com", "127.0.0.1"])
    async with http.get(f"{sidecar.url}/b/mcp", headers={"Host": host}) as resp:
        assert resp.status == status
    async with http.get(f"{sidecar.url}/health", headers={"Host": "evil.example"}) as resp:
        assert resp.status == 200  # probes reach the sidecar by pod IP; only backend routes are guarded


async def _raw_exchange(sidecar: RunningSidecar, head: str) -> tuple[int, dict[str, object]]:
    """Send ``head`` (request line and headers) as typed, return the status and the JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.sidecar.ports[0])
    writer.write(f"{head}Connection: close\r\n\r\n".encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = response.partition(b"\r\n")
    _headers, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), dict(json.loads(body))


@pytest.mark.parametrize("allowed_hosts", [[], ["127.0.0.1"]])
async def test_absolute_form_authority_differing_from_host_refused(
    start_sidecar: StartSidecar, echo_server: TestServer, allowed_hosts: list[str]
) -> None:
    """RFC 9112 §3.2.2: the target's authority and Host must agree, or the Host check and the
    X-Forwarded-Host the backend is told would read two different hosts."""
    sidecar = await start_sidecar([echo_backend(echo_server)], allowed_hosts=allowed_hosts)
    status, body = await _raw_exchange(
        sidecar, "GET http://evil.example/b/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    )
    assert (status, body["error"]) == (400, "invalid_host")


@pytest.mark.parametrize(
    ("target", "host", "forwarded_host"),
    [
        ("/b/mcp", "127.0.0.1:8080", "127.0.0.1:8080"),
        ("http://127.0.0.1:8080/b/mcp", "127.0.0.1:8080", "127.0.0.1:8080"),
        ("HTTP://MCP.example.com:80/b/mcp", "mcp.example.com", "mcp.example.com"),
        ("https://mcp.example.com/b/mcp", "MCP.example.com:443", "MCP.example.com:443"),
    ],
)
async def test_backend_is_told_the_host_that_was_checked(
    start_sidecar: StartSidecar, echo_server: TestServer, target: str, host: str, forwarded_host: str
) -> None:
    """X-Forwarded-Host is the Host the allowed_hosts check read, whatever the request target."""
    sidecar = await start_sidecar([echo_backend(echo_server)], allowed_hosts=["127.0.0.1", "mcp.example.com"])
    status, body = await _raw_exchange(sidecar, f"GET {target} HTTP/1.1\r\nHost: {host}\r\n")
    assert status == 200, body
    assert headers_of(body)["x-forwarded-host"] == forwarded_host


@pytest.mark.parametrize(
    "host", ["example.com:abc", "example.com:", "example.com:99999", "a b", "ex@mple.com", "[::1"]
)
async def test_host_with_non_numeric_port_refused(
    sidecar: RunningSidecar, http: aiohttp.ClientSession, host: str
) -> None:
    """A Host that is not host[:port] gets 400, not forwarded as X-Forwarded-Host (nor a 500)."""
    async with http.get(f"{sidecar.url}/b/mcp", headers={"Host": host}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_host"


@pytest.mark.parametrize(
    "origins",
    [
        ["https://app.example.com", "https://evil.example"],
        ["https://evil.example", "https://app.example.com"],
        ["https://app.example.com", "https://app.example.com"],
    ],
)
async def test_several_origin_headers_refused(
    start_sidecar: StartSidecar, echo_server: TestServer, http: aiohttp.ClientSession, origins: list[str]
) -> None:
    """A browser sends one Origin (RFC 6454 §7.3); several are refused, not the first one checked."""
    sidecar = await start_sidecar([echo_backend(echo_server)], allowed_origins=["https://app.example.com"])
    headers = CIMultiDict(("Origin", origin) for origin in origins)
    async with http.post(f"{sidecar.url}/b/mcp", data=b"{}", headers=headers) as resp:
        assert resp.status == 403
        body = await resp.json()
    assert body["error"] == "origin_not_allowed"
    assert "one Origin header" in body["error_description"]
