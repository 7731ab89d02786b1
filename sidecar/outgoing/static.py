# SPDX-License-Identifier: Apache-2.0
"""The strategies that need no user: ``unauthenticated`` and ``header_injection``."""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.authn.validator import Identity


class Unauthenticated:
    """Adds nothing."""

    strategy = "unauthenticated"
    header_names: frozenset[str] = frozenset()
    uses_token = False

    async def apply(self, identity: Identity | None) -> dict[str, str]:
        return {}


@dataclass(frozen=True, slots=True)
class HeaderInjection:
    """One static header, its value read at load (``value_file`` or ``value_env``)."""

    header_name: str
    value: str = field(repr=False)
    strategy = "header_injection"
    uses_token = False

    @property
    def header_names(self) -> frozenset[str]:
        return frozenset({self.header_name.lower()})

    async def apply(self, identity: Identity | None) -> dict[str, str]:
        return {self.header_name: self.value}
