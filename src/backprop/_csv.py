"""CSV tables for the command line, read in one streaming pass.

A file is a header row of column names, then data rows of the same width; blank lines are
skipped.  Only the first column may be unnamed (pandas' ``to_csv`` writes its index so).  Standard input (``"-"``) and a file path are read by the same code: UTF-8, a leading
byte-order mark dropped, any other byte sequence refused.  Only the columns asked for are kept:
the feature columns are parsed as float64 a few thousand rows at a time, so that a table's peak
memory is about twice its parsed float64 data (the chunks, then the matrix they are joined into),
not the many times of a list of Python strings per cell.  Header checks take time linear in the
number of columns.
"""

from __future__ import annotations

import collections
import csv
import io
import math
import sys
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, TextIO, Tuple

import numpy as np

__all__ = ["CLIError", "Table", "read_table", "column_list", "shown"]

#: Rows parsed into one float64 chunk at a time.
CHUNK_ROWS = 4096


class CLIError(Exception):
    """An error reported to the user as one line on stderr (exit status 1)."""


@dataclass
class Table:
    """The columns of a CSV file that a command asked for."""

    header: List[str]  #: every column name, in file order
    features: List[str]  #: the names of X's columns, in X's order
    X: np.ndarray  #: float64 (n_rows, len(features))
    labels: Optional[List[str]]  #: the target column's cells (surrounding whitespace removed), or None


#: ``select(header) -> (feature names, target name or None)``: which columns a command wants.
Selector = Callable[[List[str]], Tuple[List[str], Optional[str]]]


def column_list(names: Sequence[str], limit: int = 20) -> str:
    """``a, b, c`` for an error message, cut after ``limit`` names (a header may hold millions)."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} columns in all)" if len(names) > limit else "")


def read_table(path: str, select: Selector) -> Table:
    """Read the feature and target columns that ``select`` names from the CSV file at ``path``.

    Parameters
    ----------
    path : str
        File name, or ``"-"`` for standard input.
    select : callable
        Given the header, returns the feature columns (in the order X should have them) and the
        target column (or None); it raises :class:`CLIError` for a choice that cannot be made.

    Raises
    ------
    CLIError
        Missing or unreadable file, bytes that are not UTF-8, an empty file, empty or duplicate
        column names, a named column that is not in the header, a row of the wrong width, a
        feature cell that is not a finite number, or an empty target cell; the message names
        the file, and the column and data row where there is one.
    """
    name = "standard input" if path == "-" else path
    text = _open_text(path)
    reader = csv.reader(text)
    try:
        header = _read_header(reader, name)
        features, target = select(header)
        return _read_rows(reader, name, header, features, target)
    except csv.Error as exc:
        raise CLIError(f"{name}, line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError:
        raise CLIError(f"{name} is not a UTF-8 text file (is it a CSV file?)") from None
    finally:
        if path == "-":
            text.detach()  # leave the process's standard input open
        else:
            text.close()


def _open_text(path: str) -> TextIO:
    """The file (or standard input) as UTF-8 text with universal newlines left to ``csv``."""
    try:
        raw = sys.stdin.buffer if path == "-" else open(path, "rb")
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CLIError(f"{path} is a directory, not a CSV file") from None
    except OSError as exc:
        raise CLIError(f"{path}: {exc.strerror or exc}") from None
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")


def _is_blank(row: List[str]) -> bool:
    return not row or (not row[0].strip() and all(not c.strip() for c in row))


def _read_header(reader: Iterator[List[str]], name: str) -> List[str]:
    for row in reader:
        if not _is_blank(row):
            break
    else:
        raise CLIError(f"{name} is empty: expected a header row of column names, then data rows")
    header = [c.strip() for c in row]
    if "" in header[1:]:  # the first may be unnamed: pandas' to_csv writes its index so
        raise CLIError(f"{name}: the header has an empty column name (column {header.index('', 1) + 1})")
    dupes = sorted(h for h, count in collections.Counter(header).items() if count > 1)
    if dupes:
        raise CLIError(f"{name}: duplicate column names in the header: {column_list(dupes)}")
    return header


def _read_rows(reader, name: str, header: List[str], features: List[str], target: Optional[str]) -> Table:
    position = {h: j for j, h in enumerate(header)}
    missing = [c for c in [*features, *([target] if target else [])] if c not in position]
    if missing:
        raise CLIError(f"{name}: no column named {', '.join(map(repr, missing[:5]))} (columns: {column_list(header)})")
    cols = [position[c] for c in features]
    t = None if target is None else position[target]
    width = len(header)
    chunks: List[np.ndarray] = []
    pending: List[List[str]] = []
    labels: Optional[List[str]] = None if target is None else []
    n_rows = 0
    for row in reader:
        if len(row) != width:
            if _is_blank(row):
                continue
            raise CLIError(f"{name}, line {reader.line_num}: {len(row)} fields, but the header has {width} columns")
        pending.append([row[j] for j in cols])
        if labels is not None:
            label = row[t].strip()
            if not label:
                raise CLIError(
                    f"{name}: the target column {target!r} has an empty cell in data row {n_rows + len(pending)} "
                    "(every row needs a label)"
                )
            labels.append(label)
        if len(pending) == CHUNK_ROWS:
            chunks.append(_parse_chunk(name, features, pending, n_rows))
            n_rows += len(pending)
            pending = []
    if pending:
        chunks.append(_parse_chunk(name, features, pending, n_rows))
        n_rows += len(pending)
    if n_rows == 0:
        raise CLIError(f"{name} has a header but no data rows")
    X = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    return Table(header=header, features=list(features), X=X, labels=labels)


def _parse_chunk(name: str, features: List[str], rows: List[List[str]], first_row: int) -> np.ndarray:
    """The cells as float64 (len(rows), len(features)); a bad cell is reported by column and data row."""
    try:
        X = np.array(rows, dtype=np.float64).reshape(len(rows), len(features))
    except ValueError:
        X = None
    if X is not None and np.isfinite(X).all():
        return X
    # Cell by cell with Python's float: the first bad cell is reported, or every cell is good.
    X = np.empty((len(rows), len(features)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            X[i, j] = _cell_value(name, features[j], first_row + i + 1, cell)
    return X


def shown(column: str) -> str:
    """A column for a message: ``'x1'``, or ``1 (unnamed)`` for an unnamed first column."""
    return repr(column) if column else "1 (unnamed)"


def _cell_value(name: str, column: str, row: int, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        if not cell.strip():
            raise CLIError(
                f"{name}: column {shown(column)} has an empty cell in data row {row} (missing values are not supported)"
            ) from None
        raise CLIError(
            f"{name}: column {shown(column)} is not numeric: data row {row} has {cell!r} "
            "(features must be numbers; use --features to choose the columns)"
        ) from None
    if not math.isfinite(value):
        raise CLIError(f"{name}: column {shown(column)} has the non-finite value {cell.strip()!r} in data row {row}")
    return value
