# SPDX-License-Identifier: Apache-2.0
"""``ListenError``, in a module of its own: the command line and the worker supervisor catch it
without importing the app (and with it prometheus-client, whose storage mode the supervisor must
choose before that import)."""

from __future__ import annotations

import os


class ListenError(Exception):
    """A listening socket could not be opened (address in use, no permission, no such address)."""

    def __init__(self, host: str, port: int, key: str, error: OSError) -> None:
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # asyncio's message repeats the address; the errno's text is the part a user needs.
        reason = os.strerror(error.errno).lower() if error.errno else str(error)
        super().__init__(f"cannot listen on {address} ({key}): {reason}")
