"""Errors the services raise for requests they cannot carry out; the API maps them to 4xx."""

from __future__ import annotations


class ServiceError(ValueError):
    """A request that cannot be carried out; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str, reason: str = "refused") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # a word for counters (bad_station, bad_category...), beside the status


class StorageUnavailable(ServiceError):
    """Storage cannot write right now; senders keep their data and retry (HTTP 503)."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)
