"""What every study result shares: plain JSON out of a frozen dataclass."""

from __future__ import annotations

import json

from dynsim.jsonutil import to_jsonable


class StudyResult:
    """Mixin for the frozen result dataclass of a study.

    Subclasses define ``__str__`` (the table the CLI prints) and, where they have one,
    ``figure()`` (a matplotlib Figure drawn by :mod:`dynsim.plots`).  ``to_dict()`` is every field as
    plain JSON types (NaN and inf become None); ``to_json()`` is that dict as a JSON string.
    Override ``to_dict`` to leave out bulky fields.
    """

    def to_dict(self) -> dict:
        import dataclasses

        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(to_jsonable(self.to_dict()), indent=indent, allow_nan=False)

    def figure(self):
        raise NotImplementedError(f"{type(self).__name__} has no figure")
