"""An Emarsys file's columns, found by their header names rather than by their position.

No Emarsys document promises that a file's columns follow the request's order, and
the header names follow the request's ``language``. The tap asks for English headers
and maps each name onto a stable field: ``user_id``, each contact field's English name
(``GET /field/translate/en``) and the documented names of the other columns. A column
whose name no document gives (the registration time) is the one column left over. A
header that does not match fails the run, naming what was expected and what was found,
instead of loading one column's values into another. Emarsys writes ``,`` or ``;``: the
file's delimiter is the one under which its header matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tap_exports.engine.adapter import Row
from tap_exports.errors import LayoutError
from tap_exports.io.csvrows import CsvLayout, FirstLine
from tap_exports.providers.emarsys.client import EmarsysApi

#: The language the tap asks Emarsys to name a file's columns in.
LANGUAGE = "en"
#: The delimiters Emarsys writes.
DELIMITERS = (",", ";")


def english_names(api: EmarsysApi, fields: Sequence[int]) -> tuple[str, ...]:
    """The contact fields' English names, as an export asked for ``language: en`` heads them."""
    catalogue = api.call("GET", f"/field/translate/{LANGUAGE}")
    names = {
        int(item["id"]): str(item.get("name") or "")
        for item in catalogue or []
        if isinstance(item, Mapping) and "id" in item
    }
    return tuple(names.get(field, "") for field in fields)


def normal(name: str) -> str:
    """A header name compared without case or extra spaces (``Url`` is ``URL``)."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class Column:
    """A field of the stream and the English header naming it (None: undocumented)."""

    field: str
    header: str | None


class ColumnMap:
    """Maps header rows onto fields; one per export being read, learning each file's header."""

    def __init__(self, stream: str, export_id: str, columns: Sequence[Column]) -> None:
        self.stream = stream
        self.export_id = export_id
        self.columns = tuple(columns)
        self._named: dict[str, str] = {}
        for column in self.columns:
            if column.header is not None:
                self._named.setdefault(normal(column.header), column.field)
        self.header: tuple[str, ...] | None = None
        self.delimiter = DELIMITERS[0]
        self._fields: dict[str, str] = {}

    @property
    def fields(self) -> Mapping[str, str]:
        """The last header learned: each header name's field."""
        return self._fields

    def learn(self, header: Sequence[str]) -> None:
        """Map a file's header row onto the fields, or fail naming expected and found."""
        found = tuple(header)
        if found == self.header:
            return
        fields = {name: self._named.get(normal(name)) for name in found}
        mapped = set(fields.values())
        missing = [column for column in self.columns if column.field not in mapped]
        left = [name for name, field in fields.items() if field is None]
        if len(left) == len(missing) == 1 and missing[0].header is None:
            fields[left[0]] = missing[0].field
            left, missing = [], []
        if left or missing or len(set(found)) != len(found) or len(found) != len(self.columns):
            raise self._mismatch(found)
        self.header = found
        self._fields = {name: str(field) for name, field in fields.items()}

    def layout(self, line: FirstLine) -> CsvLayout:
        """A file's layout from its first line.

        The export's first file must start with its header row, which is checked against
        the export's columns before any row is read; a later page may repeat it or not.
        """
        if self.header is None:
            self.learn_line(line)
        if tuple(line.cells(self.delimiter)) == self.header:
            return CsvLayout(self.delimiter)
        return CsvLayout(self.delimiter, fieldnames=self.header)

    def learn_line(self, line: FirstLine) -> None:
        """Learn a CSV header line and its delimiter: the one under which it matches."""
        failures: list[tuple[int, LayoutError]] = []
        for delimiter in DELIMITERS:
            names = line.cells(delimiter)
            try:
                self.learn(names)
            except LayoutError as exc:
                failures.append((len(names), exc))
                continue
            self.delimiter = delimiter
            return
        # The reading that splits the line into more names shows the clearer mismatch.
        raise max(failures, key=lambda failure: failure[0])[1]

    def rename(self, row: Row) -> Row:
        """A row keyed by header names, keyed by fields."""
        fields = self._fields
        return {fields[name]: value for name, value in row.items()}

    def _mismatch(self, found: Sequence[str]) -> LayoutError:
        expected = [column.header or f"<{column.field}>" for column in self.columns]
        return LayoutError(
            "Emarsys",
            f"the file's header row does not match the export: expected the columns "
            f"{', '.join(expected)} (in any order); found {', '.join(found) or 'none'}",
            export_id=self.export_id,
            stream=self.stream,
            hint="Emarsys may have changed the export's layout, or written the header in "
            "another language than the English the tap asks for; please report it",
        )
