// SPDX-License-Identifier: Apache-2.0
// A real OAuth 2 / OIDC provider (oauth2-mock-server) on loopback for the sidecar's tests,
// with a small control listener the tests use to mint tokens and rotate keys.
//   node mock_idp.mjs <idp-port> <control-port>
import http from "node:http";
import { OAuth2Server } from "oauth2-mock-server";

const [idpPort, controlPort] = process.argv.slice(2).map(Number);
const server = new OAuth2Server();
let current = await server.issuer.keys.generate("RS256");
let jwksRequests = 0;
let down = false;
const opaqueTokens = new Map(); // opaque token -> claims, for RFC 7662 introspection
// The mock accepts any refresh token and always rotates; a real provider refuses one it did not
// issue (RFC 6749 §5.2 invalid_grant) and may not rotate (RFC 6749 §6), so both are added here.
const refreshTokens = new Set();
let rotateRefreshTokens = true;
let refreshGrants = 0; // refresh grants received, counted here at the provider
let tokenTtl = null; // seconds, for the tokens of the token endpoint; null: the mock's default
const accessTokens = new Map(); // access token issued at the token endpoint -> expiry (ms)
const introspectionClient = "Basic " + Buffer.from("sidecar:introspection-secret").toString("base64");

server.service.on("beforeIntrospect", (response, req) => {
  if (req.headers.authorization !== introspectionClient) {
    response.statusCode = 401;
    response.body = { error: "invalid_client" };
    return;
  }
  const expiry = accessTokens.get(req.body?.token);
  if (expiry !== undefined) {
    response.body = expiry > Date.now() ? { active: true, iss: server.issuer.url, sub: "johndoe" } : { active: false };
    return;
  }
  const claims = opaqueTokens.get(req.body?.token);
  response.body = claims ? { active: true, iss: server.issuer.url, ...claims } : { active: false };
});

server.service.on("beforeTokenSigning", (token) => {
  if (tokenTtl !== null) token.payload.exp = token.payload.iat + tokenTtl;
});

server.service.on("beforeResponse", (response, req) => {
  if (req.body?.grant_type === "refresh_token") {
    refreshGrants += 1;
    if (!refreshTokens.has(req.body.refresh_token)) {
      response.statusCode = 400;
      response.body = { error: "invalid_grant", error_description: "unknown refresh token" };
      return;
    }
    if (!rotateRefreshTokens) {
      delete response.body.refresh_token;
      return;
    }
    refreshTokens.delete(req.body.refresh_token);
  }
  if (response.body.refresh_token) refreshTokens.add(response.body.refresh_token);
});

server.service.on("beforeResponse", (response) => {
  if (response.statusCode !== 200 || !response.body.access_token) return;
  if (tokenTtl !== null) response.body.expires_in = tokenTtl;
  accessTokens.set(response.body.access_token, Date.now() + 1000 * response.body.expires_in);
});

// The provider's own request handler behind a thin listener that counts JWKS fetches (at the
// IdP itself, independently of the sidecar's metrics) and can simulate an outage.
server.issuer.url = `http://localhost:${idpPort}`; // what server.start() would set on loopback
const app = server.service.requestHandler;
http
  .createServer((req, res) => {
    if (down) {
      res.writeHead(503);
      return res.end();
    }
    if (req.url.startsWith("/jwks")) jwksRequests += 1;
    if (req.method === "POST" && req.url.startsWith("/introspect")) {
      // RFC 7662 §2.1 sends a form; the mock parses only JSON there, so parse it first
      // (body-parser skips requests already marked as parsed).
      let raw = "";
      req.on("data", (chunk) => (raw += chunk));
      req.on("end", () => {
        req.body = Object.fromEntries(new URLSearchParams(raw));
        req._body = true;
        app(req, res);
      });
      return;
    }
    app(req, res);
  })
  .listen(idpPort, "127.0.0.1");

function json(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, "http://control");
    const q = Object.fromEntries(url.searchParams);
    try {
      if (url.pathname === "/issuer") return json(res, 200, { issuer: server.issuer.url });
      if (url.pathname === "/rotate") {
        current = await server.issuer.keys.generate(q.alg ?? "RS256");
        return json(res, 200, { kid: current.kid });
      }
      if (url.pathname === "/jwks-requests") return json(res, 200, { count: jwksRequests });
      if (url.pathname === "/down") {
        down = q.on === "1";
        return json(res, 200, { down });
      }
      if (url.pathname === "/refresh-rotation") {
        rotateRefreshTokens = q.on === "1";
        return json(res, 200, { rotate: rotateRefreshTokens });
      }
      if (url.pathname === "/refresh-grants") return json(res, 200, { count: refreshGrants });
      if (url.pathname === "/token-ttl") {
        tokenTtl = q.seconds ? Number(q.seconds) : null;
        return json(res, 200, { ttl: tokenTtl });
      }
      if (url.pathname === "/forget-refresh-tokens") {
        refreshTokens.clear(); // as a provider does when the user's grant is revoked
        return json(res, 200, {});
      }
      if (url.pathname === "/opaque") {
        const token = "opaque-" + Math.random().toString(36).slice(2) + Date.now().toString(36);
        opaqueTokens.set(token, JSON.parse(q.claims ?? "{}"));
        return json(res, 200, { access_token: token });
      }
      if (url.pathname === "/token") {
        const claims = JSON.parse(q.claims ?? "{}");
        const token = await server.issuer.buildToken({
          kid: q.kid ?? current.kid,
          expiresIn: Number(q.expires_in ?? 300),
          scopesOrTransform: (header, payload) => {
            for (const [k, v] of Object.entries(claims)) {
              if (v === null) delete payload[k];
              else payload[k] = v;
            }
          },
        });
        return json(res, 200, { access_token: token });
      }
      json(res, 404, { error: "not_found" });
    } catch (err) {
      json(res, 500, { error: String(err) });
    }
  })
  .listen(controlPort, "127.0.0.1");
