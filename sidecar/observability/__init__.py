# SPDX-License-Identifier: Apache-2.0
"""Observability: Prometheus metrics, structured logs, the per-request access event, liveness
and readiness."""
