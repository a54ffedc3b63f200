"""Row schemas: one ``View`` per kind of output row (README "Output formats").

Sources yield plain ``dict`` rows whose keys are a view's field names, in field order. Values are
``str`` (amounts exactly as the API sent them, times as ISO 8601 UTC), ``int`` for the integer fields
(``users``, ``uid``), or ``None`` where the API gave nothing. ``render`` uses ``kind`` to align and total.
"""

from __future__ import annotations

from typing import NamedTuple


class Field(NamedTuple):  # not a dataclass: 10x cheaper to define at start-up
    name: str
    kind: str = "text"  # "text" | "amount" | "int" | "time" | "prose" (free text: a table may wrap it at words)
    help: str = ""


class View(NamedTuple):
    name: str
    fields: tuple[Field, ...]
    # Amount fields summed in the table footer. A sum is shown only when every row has the same
    # value in ``unit_field`` (e.g. one coin); with ``unit_field=None`` the sum always means something.
    sum_fields: tuple[str, ...] = ()
    unit_field: str | None = None
    empty_note: str = "no balances"

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def select(self, names: list[str] | None) -> tuple[Field, ...]:
        """The fields to print, in the requested order; the caller has validated the names."""
        if not names:
            return self.fields
        return tuple(self.field(n) for n in names)

    def describe(self) -> str:
        """One line for --help: the row fields in order."""
        return ", ".join(self.field_names)
