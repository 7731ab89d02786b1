# SPDX-License-Identifier: Apache-2.0
"""Authorization-server state behind one protocol (``protocol.Storage``): clients, pending
authorizations, codes, refresh-token families, revoked sessions and upstream tokens.

``memory.MemoryStorage`` is the in-process implementation (one worker; state is lost on
restart). The protocol is shaped for Redis: every single-use operation is one atomic call.
"""
