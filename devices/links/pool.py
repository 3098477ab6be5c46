"""A pool of links to physical connections, one per key, each shared by every driver that uses it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
L = TypeVar("L")


class LinkPool(Generic[K, L]):
    """Links to physical connections, one per key, each shared by every driver that uses it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._links: dict[K, L] = {}
        self._users: dict[K, int] = {}

    def attach(self, key: K, make: Callable[[], L]) -> L:
        """Return the link for ``key`` (made on first use) and count one more user of it."""
        with self._lock:
            link = self._links.get(key)
            if link is None:
                link = make()
                self._links[key] = link
            self._users[key] = self._users.get(key, 0) + 1
            return link

    def detach(self, key: K) -> L | None:
        """Count one user less; return the link when that was its last user (the caller closes it)."""
        with self._lock:
            users = self._users.get(key, 0) - 1
            if users > 0:
                self._users[key] = users
                return None
            self._users.pop(key, None)
            return self._links.pop(key, None)

    def get(self, key: K) -> L | None:
        """Return the link for ``key`` if one is open."""
        with self._lock:
            return self._links.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._links)
