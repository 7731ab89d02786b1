# SPDX-License-Identifier: Apache-2.0
"""V-03 as a warning: with one upstream, the token exchanged is that upstream's, and the config
says so when it does not name it."""

from __future__ import annotations

import pytest

from sidecar.config import load_config_data
from sidecar.config.rules_outgoing import exchange_subject_provider
from sidecar.config.schema import TokenExchangeOutgoing
from tests.authserver.flow import mode_b_raw


def test_token_exchange_in_mode_b_infers_the_only_upstream_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXCHANGE_SECRET", "s3cret")
    raw = mode_b_raw()
    corp = {
        "name": "corp",
        "type": "oidc",
        "oidc_config": {"issuer_url": "https://login.example.com", "client_id": "m"},
    }
    raw["auth_server"]["upstreams"] = [corp]
    outgoing = {
        "type": "token_exchange",
        "token_url": "https://sts.example.com/token",
        "client_id": "mcp",
        "client_secret_env": "EXCHANGE_SECRET",
    }
    raw["backends"] = [{**raw["backends"][0], "outgoing_auth": outgoing}]
    settings = load_config_data(raw)
    [warning] = [w for w in settings.warnings if w.path == "backends[0].outgoing_auth.subject_provider"]
    assert "V-03" in warning.problem
    config = settings.backends[0].outgoing_auth
    assert isinstance(config, TokenExchangeOutgoing)
    assert exchange_subject_provider(config, settings.auth_server) == "corp"
    assert settings.secrets.backend_secrets == ("s3cret",)
