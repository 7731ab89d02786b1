# SPDX-License-Identifier: Apache-2.0
"""The redirect-URI rules as pure functions: registration, matching, and the redirect built from
them (RFC 9700 §2.1, RFC 8252 §7.3), as tables and fuzzed."""

from __future__ import annotations

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from sidecar.authserver.authorize import check_redirect_target, redirect_with
from sidecar.authserver.errors import InvalidRedirectUri, InvalidRequest
from sidecar.authserver.redirect_uris import check_registrable, matches
from sidecar.storage.records import Client

LOOPBACK = "http://127.0.0.1:9/callback"


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com\\@evil.example/cb",
        "https://app\\evil.example/cb",
        "http://127.0.0.1\\evil.example:9/cb",
        "com.example.app://host\\evil/cb",
    ],
)
def test_backslash_in_authority_is_never_registrable(uri: str) -> None:
    """A URI the URL library refuses is never registered (its redirect could not be built)."""
    with pytest.raises(InvalidRedirectUri):
        check_registrable(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:abc/cb",  # port not a number
        "http://127.0.0.1:65536/cb",  # port out of range
        "https://App.Example.com/cb",  # the library lower-cases the host
        "HTTPS://app.example.com/cb",  # and the scheme
        "https://app.example.com:443/cb",  # drops the default port
        "https://app.example.com/a/../cb",  # removes dot segments
        "https://app.example.com/%7Ecb",  # decodes unreserved characters
        "https://app.example.com/cb?",  # drops an empty query
        "https://bücher.example/cb",  # writes the host in punycode
        "https://@app.example.com/cb",  # drops an empty userinfo
    ],
)
def test_uri_the_url_library_refuses_or_rewrites_refused_at_registration(uri: str) -> None:
    """Registered URIs are written exactly as the redirect will be: the code goes to the very
    string that was registered."""
    with pytest.raises(InvalidRedirectUri):
        check_registrable(uri)


@pytest.mark.parametrize(
    ("requested", "registered", "ok"),
    [
        ("http://127.0.0.1:54321/callback", LOOPBACK, True),  # RFC 8252 §7.3: the port may vary
        ("http://127.0.0.1/callback", LOOPBACK, True),
        ("http://[::1]:54321/callback", "http://[::1]:9/callback", True),
        ("http://user@127.0.0.1:54321/callback", LOOPBACK, False),  # the userinfo may not
        ("http://user:pw@127.0.0.1:9/callback", LOOPBACK, False),
        ("http://:@127.0.0.1:9/callback", LOOPBACK, False),
        ("http://localhost:9/callback", LOOPBACK, False),  # nor the host
        ("http://127.0.0.2:9/callback", LOOPBACK, False),
        ("http://127.0.0.1:9/callback/", LOOPBACK, False),  # nor the path
        ("http://127.0.0.1:9/callback?x=1", LOOPBACK, False),  # nor the query
        ("http://127.0.0.1:abc/callback", LOOPBACK, False),  # no port the library refuses
        ("http://127.0.0.1:9\\@evil.example/callback", LOOPBACK, False),
        ("http://127.0.0.1:9\\/callback", LOOPBACK, False),
        ("https://app.example.com:8443/cb", "https://app.example.com/cb", False),  # not loopback
        ("https://app.example.com/cb", "https://app.example.com/cb", True),
    ],
)
def test_loopback_redirect_only_the_port_may_vary(requested: str, registered: str, ok: bool) -> None:
    """RFC 8252 §7.3: a loopback redirect URI matches its registration on any port, and only then."""
    assert matches(requested, (registered,)) is ok


def test_registered_uri_the_url_library_refuses_never_matches() -> None:
    """A URI stored before the round-trip rule cannot be redirected to, even on an exact match."""
    assert not matches("https://app\\evil.example/cb", ("https://app\\evil.example/cb",))


@pytest.mark.parametrize("redirect_uri", [[], ["https://app\\evil.example/cb"]])
def test_stored_client_with_an_unusable_redirect_uri_gets_an_error_page(redirect_uri: list[str]) -> None:
    """A client stored before the round-trip rule: its sole URI, named or implied, is refused
    before the authorization starts (an error page), not at the redirect after the login."""
    client = Client(
        client_id="old",
        redirect_uris=("https://app\\evil.example/cb",),
        token_endpoint_auth_method="none",
        secret_hash=None,
        grant_types=("authorization_code",),
        application_type="native",
        client_name=None,
        scope=None,
        created_at=0.0,
    )
    with pytest.raises(InvalidRequest):
        check_redirect_target({"redirect_uri": redirect_uri}, client)


_URL_CHARS = st.sampled_from(list(":/?#[]@!$&'()*+,;=%\\.-_~0aZ9"))
_GOOD = st.sampled_from(
    [
        LOOPBACK,
        "http://[::1]:9/callback",
        "http://localhost/cb?x=1",
        "https://app.example.com/cb",
        "https://app.example.com:8443/a/b?x=1&y=%2B",
        "com.example.app:/oauth",
    ]
)
_SCHEMES = st.sampled_from(["https", "http", "HTTP", "com.example.app", "javascript", "data", "x", ""])
_HOSTS = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "::1", "app.example.com", ""])
_URL_SHAPED = st.builds(
    lambda scheme, slashes, userinfo, host, port, path, query: (
        f"{scheme}:{slashes}{userinfo}{host}{port}{path}{query}"
    ),
    _SCHEMES,
    st.sampled_from(["//", "/", "", "\\\\", "/\\"]),
    st.sampled_from(["", "user@", ":@", "@"]) | st.text(_URL_CHARS, max_size=4).map(lambda s: s + "@"),
    _HOSTS | st.text(_URL_CHARS, max_size=6),
    st.sampled_from(["", ":9", ":0", ":65535", ":65536", ":abc", ":"]) | st.text(_URL_CHARS, max_size=4),
    st.sampled_from(["/callback", "/", ""]) | st.text(_URL_CHARS, max_size=12),
    st.sampled_from(["", "?a=1", "?a", "?"]) | st.text(_URL_CHARS, max_size=8),
)
# A good URI with a few characters spliced in somewhere.
_MUTATED = st.builds(
    lambda uri, at, extra: uri[:at] + extra + uri[at:],
    _GOOD,
    st.integers(min_value=0, max_value=45),
    st.text(_URL_CHARS, max_size=3) | st.text(max_size=2),
)
_ANY_URI = st.text() | _URL_SHAPED | _GOOD | _MUTATED
_PARAMS = st.fixed_dictionaries(
    {"code": st.text(), "state": st.text() | st.none(), "iss": st.just("https://as.example.com")}
)


@settings(max_examples=500)
@given(_ANY_URI, _PARAMS)
def test_any_redirect_uri_is_refused_or_redirects_exactly(uri: str, params: dict[str, str | None]) -> None:
    """Fuzzed: a URI is refused cleanly, or the URL library writes it back unchanged and the
    redirect built from it is that URI with the parameters added, sendable as is."""
    try:
        check_registrable(uri)
    except InvalidRedirectUri:
        assert not matches(uri, (uri,))
        return
    assert str(URL(uri)) == uri
    assert matches(uri, (uri,))
    location = redirect_with(uri, params)
    assert location.startswith(uri)
    assert web.HTTPFound(location).headers["Location"] == location
    query = URL(location).query
    for name, value in params.items():
        if value is not None:
            assert query.getall(name)[-1] == value


@settings(max_examples=500)
@given(_ANY_URI, st.sampled_from([LOOPBACK, "http://[::1]:9/callback", "https://app.example.com/cb"]))
def test_any_requested_uri_is_refused_or_matches_by_the_rules(requested: str, registered: str) -> None:
    """Fuzzed: matching never raises, and a match is registrable and differs at most by port."""
    if not matches(requested, (registered,)):
        return
    check_registrable(requested)
    assert URL(requested).with_port(None) == URL(registered).with_port(None)
