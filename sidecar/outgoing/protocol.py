# SPDX-License-Identifier: Apache-2.0
"""The seam between the forwarder and the strategies."""

from __future__ import annotations

from typing import Protocol

from sidecar.authn.validator import Identity


class OutgoingAuth(Protocol):
    """Adds the sidecar's credential for one backend to a request."""

    @property
    def strategy(self) -> str:
        """The configured strategy name (a metric label)."""
        ...

    @property
    def header_names(self) -> frozenset[str]:
        """Lower-cased names of the headers ``apply`` sets; client-sent copies are dropped."""
        ...

    @property
    def uses_token(self) -> bool:
        """Whether ``apply`` reads ``identity.token``; only then is the client's token kept on
        the identity it is given (it has no other use in the sidecar)."""
        ...

    async def apply(self, identity: Identity | None) -> dict[str, str]:
        """The headers to send, for the authenticated ``identity`` (None with anonymous incoming
        auth); raises an ``OutgoingFailure`` when no credential can be had."""
        ...
