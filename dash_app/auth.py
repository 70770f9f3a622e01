"""Optional HTTP basic auth for the whole app (pages, callbacks and assets)."""

from __future__ import annotations

import hmac

from flask import Response, request
from werkzeug.security import check_password_hash

__all__ = ["check_user", "install_basic_auth"]


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
