"""Who did it: the person a request names in ``"by"``, by id or badge, checked against ``people:``.

Without ``people:`` in the config any short text is taken as given (a small plant names people freely); with
it, ``by`` must name a listed person by id or badge and the record keeps the person's id, so a badge scan and a
typed id land on the same person. A blank ``by`` names nobody (the token's name stands alone).
"""

from __future__ import annotations

from andon.config.schema import Config, PersonConfig
from andon.errors import ServiceError
from andon.payload import excerpt


class People:
    """Resolve ``by`` to a person id."""

    def __init__(self, config: Config) -> None:
        self.listed = bool(config.people)
        self._by: dict[str, PersonConfig] = {}
        for person in config.people:
            self._by[person.id] = person
            if person.badge is not None:
                self._by.setdefault(person.badge, person)

    def resolve(self, by: str | None) -> str | None:
        """Return the person ``by`` names (its id), None for nobody; 422 for one not in ``people:``."""
        if by is None or not by.strip():
            return None
        by = by.strip()
        if not self.listed:
            return by
        person = self._by.get(by)
        if person is None:
            raise ServiceError(422, f"no person {excerpt(by)} in people: give a person's id or badge", "unknown_person")
        return person.id

    def get(self, person_id: str) -> PersonConfig | None:
        """Return a listed person by id or badge."""
        return self._by.get(person_id)
