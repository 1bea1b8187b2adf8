"""Reading an import file: one wallet a line, as a plain address or CSV `address,tag`.

Blank lines and lines starting with '#' are skipped, and so is a first row whose first
cell is `address` (a CSV header). A line that is not one or two cells is refused with
its number; everything else is checked against the pool's network by the import.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from .engine.intake import Row
from .errors import InvalidInput
from .models import Rejected

Source = str | os.PathLike[str] | Iterable[str]
"""A path, or lines (an open text file, a list of str)."""


def read_rows(lines: Iterable[str]) -> tuple[list[Row], list[Rejected]]:
    rows: list[Row] = []
    rejected: list[Rejected] = []
    header_possible = True
    for number, line in enumerate(lines, start=1):
        stripped = line.strip().lstrip("\ufeff") if number == 1 else line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        cells = [c.strip() for c in next(csv.reader([stripped]))] if "," in stripped or \
            '"' in stripped else [stripped]
        if header_possible and cells[0].lower() == "address":
            header_possible = False
            continue
        header_possible = False
        if len(cells) > 2:
            rejected.append(Rejected(number, stripped[:100],
                                     f"has {len(cells)} cells; expected address or address,tag"))
        elif not cells[0]:
            rejected.append(Rejected(number, stripped[:100], "has no address before the comma"))
        else:
            rows.append((number, cells[0], cells[1] if len(cells) == 2 and cells[1] else None))
    return rows, rejected


def read_source(source: Source) -> tuple[list[Row], list[Rejected]]:
    if isinstance(source, (str, os.PathLike)):
        # utf-8-sig: a spreadsheet's export starts with a byte order mark
        with Path(source).open(encoding="utf-8-sig", newline="") as file:
            return read_rows(read_lines(file, str(source)))
    return read_rows(_lines(source))


def read_lines(file: IO[str], name: str) -> list[str]:
    """Every line of a text file, or InvalidInput naming the first byte that is not
    UTF-8 (a file saved in another encoding)."""
    try:
        return file.readlines()
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name} is not UTF-8 text (it holds the byte "
                           f"0x{exc.object[exc.start]:02x}, which UTF-8 cannot start with): "
                           "save it as UTF-8 and import again; nothing was added") from None


def _lines(source: Iterable[str] | IO[str]) -> Iterator[str]:
    for line in source:
        if not isinstance(line, str):
            raise TypeError(f"import lines must be str, not {type(line).__name__}")
        yield line
