# SPDX-License-Identifier: Apache-2.0
"""Outgoing auth: how the sidecar authenticates to each backend (``backends[].outgoing_auth``).

One strategy per backend, each an :class:`~sidecar.outgoing.protocol.OutgoingAuth` built once
at start-up from the typed settings (``build.py``). The forwarder calls ``apply`` after the
client was authenticated and before the body is read; the headers it returns replace any
client-sent copy. Strategy names are ToolHive's: ``unauthenticated``, ``header_injection``,
``upstream_inject``, ``token_exchange``.
"""
