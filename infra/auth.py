"""Signed bearer tokens (JWT, HS256). The embedded default keeps a generated secret in
its data directory so tokens survive restarts."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import jwt

ALGORITHM = "HS256"


class InvalidTokenError(Exception):
    """Missing, malformed, expired or forged token: 401."""


class TokenIssuer:
    def __init__(self, secret: str, ttl: timedelta) -> None:
        self.secret = secret
        self.ttl = ttl

    def issue(self, user_id: UUID, now: datetime) -> str:
        claims = {"sub": str(user_id), "iat": now, "exp": now + self.ttl}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> UUID:
        try:
            claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM],
                                options={"require": ["sub", "exp"]})
            return UUID(claims["sub"])
        except (jwt.PyJWTError, ValueError) as error:
            raise InvalidTokenError("invalid or expired token") from error


def load_or_create_secret(data_dir: Path) -> str:
    path = data_dir / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
