# SPDX-License-Identifier: Apache-2.0
"""Rate limits (``incoming_auth.rate_limits``): token buckets per user, per tool, and per user
and tool. ``bucket`` is the arithmetic (pure, ``now`` passed in), ``store`` the seam where the
buckets live (in memory today; a Redis store can implement the same Protocol), ``limiter`` the
one call the forwarder makes."""
