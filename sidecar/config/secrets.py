# SPDX-License-Identifier: Apache-2.0
"""Secrets come from a file (``*_file``) or an environment variable (``*_env``), never inline.
This module reads them; the values are never logged or put in an error message."""

from __future__ import annotations

import os
from pathlib import Path


class SecretError(Exception):
    """A secret source is missing, unreadable or empty; the message names the source only."""


def read_secret(file: str | None, env: str | None) -> str | None:
    """The secret from ``file`` or ``env`` (surrounding whitespace stripped), None when neither is set."""
    if file is not None:
        try:
            value = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"cannot read secret file {file!r}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SecretError(f"secret file {file!r} is not UTF-8 text") from None
        if not value:
            raise SecretError(f"secret file {file!r} is empty")
        return value
    if env is not None:
        value = os.environ.get(env, "").strip()
        if not value:
            raise SecretError(f"environment variable {env} is not set or empty")
        return value
    return None
