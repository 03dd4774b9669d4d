"""Parse a run's CSV chunks into one NumPy time series, or say exactly what is wrong.

The fast path is ``numpy.loadtxt`` on the columns the statistics need; only when it
fails does a slow pass with the ``csv`` module find the row and column to name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

TIMESTAMP = "timestamp"
LIMIT = 1e18
"""Largest magnitude accepted in a cell: far above any real metric, far below overflow."""


class CsvError(ValueError):
    """The run's CSV cannot be used: a column is missing, a cell is not a number, or no rows."""


@dataclass(frozen=True)
class Table:
    """Rows of every chunk, sorted by time: ``values[:, j]`` holds column ``columns[j]``."""

    timestamps: np.ndarray
    columns: tuple[str, ...]
    values: np.ndarray


def read_chunks(
    chunks: Iterable[str], required: Sequence[str], optional: Sequence[str] = ()
) -> Table:
    """Parse CSV texts (each with its own header) into one table of floats.

    Args:
        chunks: Texts of the CSV files in time order; a chunk may hold only whitespace.
        required: Metric columns every chunk must have (``timestamp`` is always required).
        optional: Metric columns read when every chunk has them.

    Raises:
        CsvError: A required column is missing, a row has the wrong number of fields,
            a cell is not a finite number, or there are no data rows at all.
    """
    texts = [text for text in chunks if text and not text.isspace()]
    headers = [_header(text, len(texts), k) for k, text in enumerate(texts, 1)]
    for k, header in enumerate(headers, 1):
        missing = [name for name in (TIMESTAMP, *required) if name not in header]
        if missing:
            raise CsvError(
                f"{_chunk(len(texts), k)}missing column(s): {', '.join(missing)}; "
                "expected the resource-tracker column set (timestamp, process_*, system_*)"
            )
    columns = (
        TIMESTAMP,
        *required,
        *(name for name in optional if all(name in header for header in headers)),
    )
    blocks = [
        _parse(text, header, columns, len(texts), k)
        for k, (text, header) in enumerate(zip(texts, headers, strict=True), 1)
    ]
    if not blocks or sum(len(block) for block in blocks) == 0:
        raise CsvError("no data rows: the CSV holds at most a header")
    table = np.concatenate(blocks)
    timestamps = table[:, 0]
    if np.any(np.diff(timestamps) < 0):
        # A clock step back or chunks given out of order: keep every row, in time order.
        table = table[np.argsort(timestamps, kind="stable")]
    return Table(timestamps=table[:, 0], columns=columns[1:], values=table[:, 1:])


def _chunk(count: int, k: int) -> str:
    """Prefix naming the chunk when there is more than one."""
    return f"chunk {k}: " if count > 1 else ""


def _header(text: str, count: int, k: int) -> dict[str, int]:
    """Column name to field index, from the chunk's first line."""
    names = next(csv.reader([text.lstrip().partition("\n")[0]]))
    header: dict[str, int] = {}
    for index, name in enumerate(names):
        name = name.strip()
        if name in header:
            raise CsvError(f"{_chunk(count, k)}column {name} appears twice in the header")
        header[name] = index
    return header


def _parse(
    text: str, header: dict[str, int], columns: Sequence[str], count: int, k: int
) -> np.ndarray:
    """The chunk's rows as floats, one column per name in ``columns``."""
    body = text.lstrip().partition("\n")[2]
    if not body or body.isspace():
        return np.empty((0, len(columns)))
    try:
        block = np.loadtxt(
            io.StringIO(body),
            delimiter=",",
            quotechar='"',
            comments=None,
            usecols=[header[name] for name in columns],
            ndmin=2,
        )
    except ValueError as error:
        _locate(body, header, columns, count, k)
        raise CsvError(f"{_chunk(count, k)}unreadable CSV: {error}") from error
    # loadtxt ignores extra fields when given usecols; a comma count finds such rows
    # cheaply, and the slow pass tells them apart from commas inside quoted text.
    if body.count(",") != len(block) * (len(header) - 1):
        _locate(body, header, columns, count, k)
    # NaN fails the comparison too; the bound keeps sums finite, so results stay JSON-safe.
    bad = np.argwhere(~(np.abs(block) <= LIMIT))
    if len(bad):
        row, col = bad[0]
        raise CsvError(
            f"{_chunk(count, k)}row {row + 1}, column {columns[col]}: "
            f"'{block[row, col]}' is not a finite number of magnitude at most {LIMIT:g}"
        )
    return block


def _locate(body: str, header: dict[str, int], columns: Sequence[str], count: int, k: int) -> None:
    """Raise a CsvError naming the first bad row and cell; return if every row is sound."""
    indices = [(name, header[name]) for name in columns]
    rows = (row for row in csv.reader(io.StringIO(body)) if row)
    for number, row in enumerate(rows, 1):
        if len(row) != len(header):
            raise CsvError(
                f"{_chunk(count, k)}row {number} has {len(row)} fields, "
                f"the header has {len(header)}"
            )
        for name, index in indices:
            try:
                float(row[index])
            except ValueError:
                raise CsvError(
                    f"{_chunk(count, k)}row {number}, column {name}: {row[index]!r} is not a number"
                ) from None
