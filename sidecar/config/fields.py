# SPDX-License-Identifier: Apache-2.0
"""``setting()``: how a configuration key is declared (a dataclass field with its doc)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from typing import Any

MISSING: Any = dataclasses.MISSING


def setting(
    doc: str,
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    coerce: Callable[[Any], Any] | None = None,
) -> Any:
    """Declare a configuration key. ``coerce`` rewrites a shorthand raw value before parsing."""
    metadata = {"doc": doc, "coerce": coerce}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)
