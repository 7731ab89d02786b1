# SPDX-License-Identifier: Apache-2.0
"""The sign-in pages in a real browser: headless Chromium (Debian's, driven by Selenium through
Debian's chromedriver) goes through the static login, the consent page and the redirect back to a
loopback client, with real cookies; the security headers are checked as the browser received
them (DevTools network events). Set SIDECAR_SCREENSHOTS=docs/images to refresh the screenshots
in the docs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.authserver.flow import PASSWORD, mode_b_settings, pkce_pair
from tests.support import RunningSidecar, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@dataclass
class LoopbackClient:
    """The MCP client's side of the redirect: a loopback page that receives the code."""

    port: int = field(default_factory=free_port)
    received: list[dict[str, str]] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def app(self) -> web.Application:
        async def callback(request: web.Request) -> web.Response:
            self.received.append(dict(request.query))
            return web.Response(text="<h1>Signed in</h1>", content_type="text/html")

        app = web.Application()
        app.router.add_get("/callback", callback)
        return app


@pytest.fixture
async def loopback_client() -> AsyncIterator[LoopbackClient]:
    client = LoopbackClient()
    runner = web.AppRunner(client.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", client.port).start()
    yield client
    await runner.cleanup()


def _chromium() -> webdriver.Chrome:
    for needed in (CHROMIUM, CHROMEDRIVER):
        assert Path(needed).exists(), f"{needed} is needed: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=720,760"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def _responses(driver: webdriver.Chrome) -> dict[str, dict[str, str]]:
    """The headers of each document response the browser received, by URL path (lower-case names)."""
    seen: dict[str, dict[str, str]] = {}
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]  # selenium leaves it untyped
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived" and message["params"]["type"] == "Document":
            response = message["params"]["response"]
            path = response["url"].split("?", 1)[0].split("/", 3)[-1]
            seen["/" + path] = {name.lower(): value for name, value in response["headers"].items()}
    return seen


def _submit(driver: webdriver.Chrome, button: str) -> None:
    """Click a form's button and wait until the browser has left the page (the next page is loaded)."""
    element = driver.find_element(By.CSS_SELECTOR, button)
    element.click()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(element))


def _drive(authorize_url: str, screenshots: Path) -> dict[str, Any]:
    """What a person does: sign in, look at the consent page, allow. Runs in a thread (Selenium
    blocks; the sidecar runs on this test's event loop)."""
    driver = _chromium()
    try:
        driver.get(authorize_url)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Sign in"
        driver.save_screenshot(str(screenshots / "login.png"))
        driver.find_element(By.ID, "username").send_keys("alice")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        _submit(driver, "button[type=submit]")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Allow access?"
        consent_text = driver.find_element(By.TAG_NAME, "main").text
        driver.save_screenshot(str(screenshots / "consent.png"))
        cookies = driver.get_cookies()
        _submit(driver, "button[value=allow]")
        landed = driver.find_element(By.TAG_NAME, "h1").text
        return {
            "consent_text": consent_text,
            "cookies": cookies,
            "landed": landed,
            "url": driver.current_url,
            "responses": _responses(driver),
        }
    finally:
        driver.quit()


async def test_static_login_and_consent_in_headless_chromium(
    mcp_server: str, loopback_client: LoopbackClient, tmp_path: Path
) -> None:
    settings = mode_b_settings(mcp_server)
    base = settings.server.public_url
    assert base is not None
    screenshots = Path(os.environ.get("SIDECAR_SCREENSHOTS", tmp_path))
    async with RunningSidecar(settings), aiohttp.ClientSession() as http:
        registration = {"redirect_uris": [loopback_client.redirect_uri], "client_name": "Browser test client"}
        async with http.post(f"{base}/oauth/register", json=registration) as resp:
            client_id = (await resp.json())["client_id"]
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": loopback_client.redirect_uri,
            "state": "st-browser",
            "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256",
            "scope": "openid email",
            "resource": f"{base}/mcp",
        }
        seen = await asyncio.to_thread(_drive, f"{base}/oauth/authorize?{urlencode(query)}", screenshots)

    assert seen["landed"] == "Signed in"
    assert seen["url"].startswith(loopback_client.redirect_uri)
    [received] = loopback_client.received
    assert received["state"] == "st-browser"
    assert received["iss"] == base
    assert received["code"]
    for shown in ("Browser test client", "127.0.0.1", "openid email", "local", "not verified"):
        assert shown in seen["consent_text"]
    # The binding cookie, as the browser stored it.
    [binding] = [c for c in seen["cookies"] if c["name"] == "mcp_sidecar_authz"]
    assert binding["httpOnly"]
    assert binding["sameSite"] == "Lax"
    assert binding["path"] == "/oauth"
    # The page headers, as the browser received them.
    for path in ("/oauth/login", "/oauth/consent"):
        headers = seen["responses"][path]
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
    for name in ("login.png", "consent.png"):
        assert (screenshots / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
