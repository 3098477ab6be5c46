"""Bearer tokens and roles: operator < supervisor < engineer. Tokens are stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from andon.config.schema import AuthConfig
from andon.storage.store import Store
from andon.storage.tables import ApiTokenRow

ROLES = ("operator", "supervisor", "engineer")


@dataclass(frozen=True)
class Principal:
    """Who is making a request: the token's name and role."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """Tell whether this principal has ``role`` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


OPEN_ACCESS = Principal("open-access", "engineer")


def token_hash(token: str) -> str:
    """Return the hex SHA-256 of a token secret."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenBook:
    """Look up tokens from the config and the database."""

    def __init__(self, auth: AuthConfig | None, store: Store) -> None:
        self.auth = auth
        self.store = store
        self._config = {t.token_sha256.lower(): Principal(t.name, t.role) for t in (auth.tokens if auth else [])}

    @property
    def enabled(self) -> bool:
        """Tell whether auth is on (an ``auth`` section exists)."""
        return self.auth is not None

    @property
    def public_read(self) -> bool:
        """Tell whether reads need no token."""
        return self.auth is None or self.auth.public_read

    def lookup(self, token: str) -> Principal | None:
        """Return the principal of a token secret, or None."""
        digest = token_hash(token)
        found = self._config.get(digest)
        if found is not None:
            return found
        with self.store.session() as s:
            row = s.execute(select(ApiTokenRow).where(ApiTokenRow.token_sha256 == digest)).scalars().first()
            return Principal(row.name, row.role) if row is not None else None

    def create(self, name: str, role: str, at: float) -> str:
        """Create a token in the database and return its secret (shown once)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if any(p.name == name for p in self._config.values()):
            raise ValueError(f"a token named {name!r} exists in the config")
        secret = secrets.token_urlsafe(32)
        with self.store.transaction() as s:
            if s.get(ApiTokenRow, name) is not None:
                raise ValueError(f"a token named {name!r} exists")
            s.add(ApiTokenRow(name=name, role=role, token_sha256=token_hash(secret), created_at=at))
        return secret
