# SPDX-License-Identifier: Apache-2.0
"""The benchmark suite: everything started on loopback, measured side by side in one run, and
reported as ratios against a baseline from the same run (see docs/benchmarks.md)."""
