"""Serving safely: optional HTTP basic auth for the whole app (pages, callbacks and assets),
the ``Host`` check against DNS rebinding, the Content-Security-Policy and hardening headers."""

from __future__ import annotations

import hmac

from flask import Response, request
from werkzeug.security import check_password_hash

__all__ = [
    "LOOPBACK_HOSTS",
    "allowed_host_names",
    "check_user",
    "content_security_policy",
    "host_allowed",
    "install_basic_auth",
    "install_host_check",
    "install_security_headers",
]


def check_user(users: dict[str, str], name: str | None, password: str | None) -> bool:
    """True when ``name`` is a configured user and ``password`` matches (plain or hashed)."""
    if not name or password is None or name not in users:
        return False
    stored = users[name]
    if stored.startswith(("pbkdf2:", "scrypt:")):
        return check_password_hash(stored, password)
    return hmac.compare_digest(stored.encode(), password.encode())


def install_basic_auth(server, users: dict[str, str], realm: str = "dispatch-analytics") -> None:
    """Refuse every request without valid credentials (401 with a Basic challenge)."""
    if not users:
        return

    @server.before_request
    def _require_auth():
        auth = request.authorization
        if auth is None or not check_user(users, auth.username, auth.password):
            return Response(
                "Authentication required", 401, {"WWW-Authenticate": f'Basic realm="{realm}"'}
            )
        return None


#: Names a browser on this machine uses for a loopback server (always allowed).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _host_name(header: str | None) -> str:
    """The host of a ``Host`` header, lower-cased, without the port (``[::1]:8050`` -> ``[::1]``)."""
    h = (header or "").strip().lower()
    if h.startswith("["):
        return h[: h.find("]") + 1] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def allowed_host_names(
    bind_host: str | None, allowed: list[str] | tuple[str, ...] = ()
) -> set[str]:
    """The ``Host`` names the dashboard answers: loopback names, the bound host (unless it is a
    wildcard address) and ``allowed`` (``"*"`` allows any, for a proxy that checks it)."""
    names = set(LOOPBACK_HOSTS)
    if bind_host and bind_host not in ("0.0.0.0", "::", ""):
        names.add(_host_name(bind_host) if not bind_host.count(":") > 1 else f"[{bind_host}]")
    names.update(_host_name(a) for a in allowed)
    return names


def host_allowed(header: str | None, names: set[str]) -> bool:
    """True when the request's ``Host`` header names one of ``names`` (any port)."""
    return "*" in names or _host_name(header) in names


def install_host_check(server, names: set[str]) -> None:
    """Refuse (400) every request whose ``Host`` is not in ``names``: a page on another site
    that rebinds its DNS name to this machine cannot read the dashboard."""

    @server.before_request
    def _check_host():
        if not host_allowed(request.host, names):
            return Response(
                f"Host {request.host!r} is not allowed. Open the dashboard as "
                "http://127.0.0.1:PORT, or add the name to `allowed_hosts` in [dashboard] "
                "(or `dispatch serve --allowed-host NAME`).",
                400,
                {"Content-Type": "text/plain; charset=utf-8"},
            )
        return None


def content_security_policy(script_hashes: list[str]) -> str:
    """The dashboard's Content-Security-Policy: everything from this server only; inline
    scripts only those Dash renders itself (by hash); no frames, plugins or other sites."""
    scripts = " ".join(["'self'", *script_hashes])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            # Dash components and Plotly set style attributes and inject <style> elements
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def install_security_headers(server, csp: str) -> None:
    """Send ``csp`` and the usual hardening headers with every response."""

    @server.after_request
    def _headers(resp):
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        return resp
