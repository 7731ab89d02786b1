# SPDX-License-Identifier: Apache-2.0
"""Reading an RFC 8693 answer does no I/O: a table of answers and what each becomes."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.outgoing.errors import ExchangeRefused
from sidecar.outgoing.token_exchange import Exchanged, read_answer

NOW = 1_800_000_000.0
GOOD = {"access_token": "t", "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}


@pytest.mark.parametrize(
    ("status", "document", "expected"),
    [
        (200, {**GOOD, "token_type": "Bearer", "expires_in": 60}, Exchanged("t", NOW + 60)),
        (200, {**GOOD, "token_type": "bearer", "expires_in": 60}, Exchanged("t", NOW + 60)),  # RFC 6749 §5.1
        (200, {**GOOD, "token_type": "Bearer"}, Exchanged("t", None)),  # no lifetime: never cached
        (200, {**GOOD, "token_type": "Bearer", "expires_in": True}, Exchanged("t", None)),
        (200, {**GOOD, "token_type": "Bearer", "expires_in": -5}, Exchanged("t", None)),
        (200, {**GOOD, "token_type": "N_A"}, "issued no Bearer token"),  # RFC 8693 §2.2.1
        (200, {"token_type": "Bearer"}, "without access_token"),
        (200, ["not", "an", "object"], "without access_token"),
        (400, {"error": "invalid_target", "error_description": "no"}, "refused: invalid_target"),
        (401, {"error": "invalid_client"}, "refused: invalid_client"),
        (400, "not json object", "refused: no error code"),
    ],
)
def test_answer_table(status: int, document: Any, expected: Exchanged | str) -> None:
    if isinstance(expected, Exchanged):
        assert read_answer("search", status, document, NOW) == expected
    else:
        with pytest.raises(ExchangeRefused) as info:
            read_answer("search", status, document, NOW)
        assert expected in info.value.description
        assert "'search'" in info.value.description
