# SPDX-License-Identifier: Apache-2.0
"""``setting()``: how a configuration key is declared (a dataclass field with its doc).

Fields declared otherwise (``Settings.secrets``, ``Settings.warnings``) are what the loader
derives, not keys: :func:`config_fields` leaves them out."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import Field, field
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


def config_fields(cls: type[Any]) -> tuple[Field[Any], ...]:
    """The fields of ``cls`` that are configuration keys (declared with :func:`setting`)."""
    return tuple(f for f in dataclasses.fields(cls) if "doc" in f.metadata)
