# SPDX-License-Identifier: Apache-2.0
"""Scenario 4, token validation micro-benchmarks: cost per token, cached and uncached, per
algorithm, in-process key tier versus the JWKS tier, against a bare PyJWT decode."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bench.harness import per_call_us
from sidecar.authn.jwks import JwksSource
from sidecar.authn.keys import StaticKeyProvider, VerificationKey, key_from_jwk
from sidecar.authn.validator import TokenValidator
from sidecar.config.schema import OidcSettings
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient, OutboundPolicy

AUDIENCE = "https://mcp.bench.example/mcp"


@dataclass(frozen=True)
class Row:
    algorithm: str
    bare_pyjwt_us: float
    local_uncached_us: float
    jwks_uncached_us: float
    cached_us: float


def _keys() -> list[tuple[str, Any, str]]:
    return [
        ("ES256", ec.generate_private_key(ec.SECP256R1()), "ECAlgorithm"),
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048), "RSAAlgorithm"),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate(), "OKPAlgorithm"),
    ]


async def _measure(alg: str, private: Any, encoder: str, iterations: int) -> Row:
    jwk = {**json.loads(getattr(jwt.algorithms, encoder).to_jwk(private.public_key())), "kid": "k1"}
    key = key_from_jwk(jwk)
    if not isinstance(key, VerificationKey):
        raise RuntimeError(key)
    documents: dict[str, dict[str, Any]] = {"/jwks": {"keys": [jwk]}}

    async def serve(request: web.Request) -> web.Response:
        return web.json_response(documents[request.path])

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    issuer = f"http://127.0.0.1:{runner.addresses[0][1]}"
    documents["/.well-known/openid-configuration"] = {"issuer": issuer, "jwks_uri": f"{issuer}/jwks"}
    now = int(time.time())
    token = jwt.encode(
        {"iss": issuer, "aud": AUDIENCE, "sub": "bench", "iat": now, "exp": now + 3600},
        private,
        algorithm=alg,
        headers={"kid": "k1"},
    )
    audiences = frozenset({AUDIENCE})
    public = private.public_key()
    client = OutboundClient(timeout=5)
    jwks = JwksSource(
        client=client,
        policy=OutboundPolicy(allow_http=True, allow_private=True),
        issuer=issuer,
        jwks_url=None,
        refresh_min=30,
        refresh_max=3600,
        max_stale=3600,
        cooldown=30,
        metrics=Metrics(),
    )
    uncached = OidcSettings(issuer=issuer, token_cache_size=0)
    local = TokenValidator(uncached, local=StaticKeyProvider([key]))
    remote = TokenValidator(uncached, jwks=jwks)
    cached = TokenValidator(OidcSettings(issuer=issuer), local=StaticKeyProvider([key]))

    async def bare() -> None:
        jwt.decode(token, public, algorithms=[alg], audience=AUDIENCE, issuer=issuer)

    def validating(validator: TokenValidator) -> Callable[[], Awaitable[Any]]:
        return lambda: validator.validate(token, audiences)

    try:
        return Row(
            alg,
            await per_call_us(bare, iterations),
            await per_call_us(validating(local), iterations),
            await per_call_us(validating(remote), iterations),
            await per_call_us(validating(cached), iterations * 10),
        )
    finally:
        await client.close()
        await runner.cleanup()


async def _run(iterations: int) -> list[Row]:
    return [await _measure(alg, private, encoder, iterations) for alg, private, encoder in _keys()]


def run(*, smoke: bool) -> list[Row]:
    return asyncio.run(_run(200 if smoke else 5000))


def report(rows: list[Row]) -> str:
    lines = [
        "| algorithm | bare PyJWT decode µs | sidecar, in-process key, uncached µs | / bare | "
        "sidecar, JWKS tier, uncached µs | sidecar, cached µs |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.algorithm} | {row.bare_pyjwt_us:.1f} | {row.local_uncached_us:.1f} | "
            f"{row.local_uncached_us / row.bare_pyjwt_us:.2f} | {row.jwks_uncached_us:.1f} | "
            f"{row.cached_us:.2f} |"
        )
    return "\n".join(lines)
