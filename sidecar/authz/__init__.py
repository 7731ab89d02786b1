# SPDX-License-Identifier: Apache-2.0
"""MCP-aware access control, sans-IO: which MCP operation a message is (``operations``), the
Cedar entities and request for it (``entities``), the decision (``decider``), the policies it is
made with (``policy``) and the filtering of list results (``listfilter``, ``sse``). The forwarder
only calls in here; nothing here reads a socket, a file or the clock.

Errors: ``HeaderMismatch`` (400) and ``BatchRefused`` (400) from ``operations``; a denial is a
``Decision`` value, not an exception.
"""
