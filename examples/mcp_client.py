# SPDX-License-Identifier: Apache-2.0
"""An MCP client for the sidecar's demo, with the official MCP Python SDK, OAuth included.

Start the demo (``./scripts/demo``), then, in another terminal::

    .venv/bin/python examples/mcp_client.py                       # http://127.0.0.1:8080/mcp
    .venv/bin/python examples/mcp_client.py http://127.0.0.1:9000/mcp

The SDK does all of OAuth itself: its first request gets a 401, it reads the protected resource
metadata, finds the sidecar's authorization server, registers a client (dynamic registration,
RFC 7591), sends the user to the login page with PKCE, exchanges the code for tokens and retries
the request with the access token. The one part an application supplies is the user's browser:
``redirect_handler`` opens the login page and ``callback_handler`` hands the code back. Here there
is no browser, so ``DemoLoginForm`` below fills in the demo's login page (demo / demo) instead.
"""

from __future__ import annotations

import asyncio
import re
import sys
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

DEMO_URL = "http://127.0.0.1:8080/mcp"
# Where the authorization server sends the browser back with the code. A desktop application
# listens there (or registers a custom scheme); this example never contacts it.
REDIRECT_URI = "http://127.0.0.1:33418/callback"


class InMemoryTokens(TokenStorage):
    """Where the SDK keeps its client registration and tokens; a real application persists them
    (e.g. in the OS keychain) so it need not register and log in again on every start."""

    def __init__(self) -> None:
        self._tokens: OAuthToken | None = None
        self._client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self._tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._client = client_info


# --- DEMO ONLY: a stand-in for the user's browser -------------------------------------------
# A real application opens `authorization_url` in the browser (webbrowser.open) and receives the
# code on REDIRECT_URI; the user types the password into the sidecar's login page, never into
# the application. This helper does the user's part by posting the demo's login form itself.
class DemoLoginForm:
    """Opens the login page, posts the demo user's name and password, and catches the
    redirect to REDIRECT_URI that carries the authorization code."""

    def __init__(self, username: str = "demo", password: str = "demo") -> None:
        self._username, self._password = username, password
        self._result: AuthorizationCodeResult | None = None

    @staticmethod
    async def _allow(browser: httpx2.AsyncClient, consent_url: str) -> httpx2.Response:
        page = await browser.get(consent_url)
        page.raise_for_status()
        fields = dict(re.findall(r'name="(request|csrf)" value="([^"]+)"', page.text))
        return await browser.post(
            urljoin(consent_url, "/oauth/consent"), data={**fields, "decision": "allow"}
        )

    async def open(self, authorization_url: str) -> None:
        """The SDK's redirect_handler: what a browser and a user would do."""
        # One client for the whole login: it keeps the cookie that ties the login to this "browser".
        async with httpx2.AsyncClient(timeout=30) as browser:
            login = await browser.get(authorization_url, follow_redirects=True)
            login.raise_for_status()
            request_id = re.search(r'name="request" value="([^"]+)"', login.text)
            if request_id is None:
                raise RuntimeError(f"no login form at {login.url}")
            answer = await browser.post(
                urljoin(str(login.url), "/oauth/login"),
                data={"request": request_id[1], "username": self._username, "password": self._password},
            )
            if answer.headers.get("location", "").startswith("/oauth/consent"):
                # The first sign-in of this application: the user allows it on the consent page.
                answer = await self._allow(browser, urljoin(str(login.url), answer.headers["location"]))
        location = answer.headers.get("location", "")
        if answer.status_code != 303 or not location.startswith(REDIRECT_URI):
            raise RuntimeError(f"the login was refused ({answer.status_code})")
        query = parse_qs(urlsplit(location).query)
        if "code" not in query:
            raise RuntimeError(f"the authorization server answered {query.get('error', ['?'])[0]}")
        self._result = AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )

    async def callback(self) -> AuthorizationCodeResult:
        """The SDK's callback_handler: the code and state that came back on REDIRECT_URI."""
        if self._result is None:
            raise RuntimeError("the login did not finish")
        return self._result


# --- end of the stand-in ----------------------------------------------------------------------


async def main(url: str) -> None:
    login = DemoLoginForm()
    oauth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="mcp-auth-sidecar example",
            redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]  # pydantic parses the URL
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",  # a public client: PKCE, no secret
        ),
        storage=InMemoryTokens(),
        redirect_handler=login.open,
        callback_handler=login.callback,
    )
    async with (
        httpx2.AsyncClient(auth=oauth, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        tools = await client.list_tools()
        print("tools:", ", ".join(sorted(tool.name for tool in tools.tools)))
        result = await client.call_tool("add", {"a": 2, "b": 40})
        print("add(2, 40) =", (result.structured_content or {}).get("result"))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else DEMO_URL))
