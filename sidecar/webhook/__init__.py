# SPDX-License-Identifier: Apache-2.0
"""The sidecar injection webhook (``mcp-sidecar inject-webhook``): a Kubernetes mutating admission
webhook that adds the sidecar to pods annotated ``mcp-sidecar.io/inject: "true"``.

  settings.py   the webhook's YAML file, parsed once into typed values (errors by key path)
  review.py     admission.k8s.io/v1 AdmissionReview: the request parsed, the response rendered
  injection.py  the sidecar container and volumes, and the JSONPatch that adds them (no I/O)
  web.py        the aiohttp app (/mutate, /health) and its HTTPS listener

The container is the one the Helm chart's ``mcp-sidecar.container`` template renders, built from
the same values (the chart's ``sidecar`` and ``secrets`` sections); a test keeps the two in step.
"""
