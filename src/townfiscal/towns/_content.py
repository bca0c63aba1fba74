"""A table's content key, and the mark a validated table carries.

Validating a towns table and hashing it for provenance take longer than the formula that
reads it, and the same table is passed again and again (a sweep, a service, a notebook). The
library therefore remembers which tables it has checked — but a table may be changed in place
after it was checked (``towns.loc[code, "expenditure"] = -1``), so neither the object's
identity nor its memory buffers can say that it is still valid: pandas writes into the same
arrays, and copy-on-write gives a changed copy the buffers of the original until it writes.

What does say so is the content itself. :func:`content_key` is a SHA-256 digest of
everything validation looks at — the index name and codes, the column names and dtypes, and
every value (numbers by their bytes, text by its UTF-8 bytes) — computed in one pass over
the arrays, well under a millisecond for the bundled example against several for validating
and hashing it. :func:`mark` stores the key of a table the library has just
validated in its ``attrs`` under :data:`VALIDATED`; :func:`is_marked` trusts a table only when
its key, recomputed now, still equals the one stored. So:

- a table changed after validation has another key and is validated again;
- the mark travels with the table through ``copy()``, pickling (worker processes) and
  parquet, and is honoured wherever the content is unchanged — comparing dtypes by equality,
  not identity, so that an unpickled table (whose dtype objects are new) matches;
- a mark copied onto another table (pandas carries ``attrs`` into slices and derived frames)
  does not match that table's content and is ignored.

The key is a fingerprint, not a signature: it guards against mistakes, not against someone
who computes it for a table they have made invalid on purpose. Files are untrusted input:
:func:`townfiscal.read_towns` drops any mark a file brings before validating.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["VALIDATED", "content_key", "is_marked", "mark"]

#: The ``attrs`` key under which a validated table keeps its content key.
VALIDATED = "townfiscal.validated"

#: Text is joined with this separator; when a value contains it, the lengths are hashed too,
#: so that no two different columns give the same bytes.
_SEP = "\x1f"


def _feed_text(h: Any, arr: np.ndarray[Any, np.dtype[Any]]) -> bool:
    try:
        joined = _SEP.join(arr)
    except TypeError:  # not only str values (a NaN, a number): not keyed
        return False
    if joined.count(_SEP) != max(arr.size - 1, 0):
        h.update(np.fromiter(map(len, arr), dtype=np.int64, count=arr.size).view(np.uint8))
    h.update(joined.encode("utf-8", "surrogatepass"))
    return True


def _feed_arrow(h: Any, chunked: Any) -> bool:
    """Arrow-backed text by its buffers: byte lengths, then the UTF-8 data (no copy to str)."""
    lengths, data = [], []
    for chunk in chunked.chunks:
        if chunk.null_count or str(chunk.type) not in ("string", "large_string"):
            return False
        _, offsets_buf, data_buf = chunk.buffers()
        width = np.int64 if str(chunk.type) == "large_string" else np.int32
        start = chunk.offset
        offsets = np.frombuffer(offsets_buf, dtype=width)[start:start + len(chunk) + 1]
        lengths.append(np.diff(offsets).astype(np.int64))
        if data_buf is not None and offsets.size:
            data.append(memoryview(data_buf)[int(offsets[0]):int(offsets[-1])])
    h.update(np.concatenate(lengths or [np.zeros(0, np.int64)]).view(np.uint8))
    for part in data:
        h.update(part)
    return True


def _feed(h: Any, values: pd.Series | pd.Index) -> bool:
    """Add one column's (or the index's) dtype and values to the digest; False when it cannot."""
    dtype = values.dtype
    h.update(str(dtype).encode())
    if isinstance(dtype, np.dtype):
        if dtype.kind in "biuf":
            h.update(np.ascontiguousarray(values.to_numpy()).view(np.uint8))
            return True
        return dtype == np.dtype(object) and _feed_text(h, values.to_numpy())
    if not pd.api.types.is_string_dtype(dtype):
        return False
    # the buffers only where pyarrow holds them: pandas' python-backed strings (no pyarrow
    # installed, as with a plain `pip install townfiscal`) also offer __arrow_array__, which
    # would then import pyarrow
    arrow = getattr(values.array, "__arrow_array__", None)
    if arrow is not None and getattr(dtype, "storage", None) == "pyarrow":
        return _feed_arrow(h, arrow())
    return _feed_text(h, values.to_numpy(dtype=object))


def content_key(frame: pd.DataFrame) -> str | None:
    """A digest of the table's labels, dtypes and values, or ``None`` if it has other kinds.

    Two tables have the same key only when they have the same index name and codes, the same
    columns in the same order with the same dtypes, and the same values. Columns of numbers
    (float, int, bool) and of text (str values only) are keyed; a table with any other
    column (categories, dates, mixed objects, missing text) gets ``None``, and is simply not
    remembered.
    """
    h = hashlib.sha256()
    h.update(repr((frame.index.name, [str(c) for c in frame.columns], frame.shape)).encode(
        "utf-8", "surrogatepass"))
    if not _feed(h, frame.index):
        return None
    for _, column in frame.items():
        if not _feed(h, column):
            return None
    return h.hexdigest()


def mark(frame: pd.DataFrame, key: str | None = None) -> pd.DataFrame:
    """Record in ``frame.attrs`` that *frame* (validated just now) is valid; returns *frame*.

    *key* is the frame's :func:`content_key` when the caller has it. A frame without one
    loses any mark it carried.
    """
    key = content_key(frame) if key is None else key
    if key is None:
        frame.attrs.pop(VALIDATED, None)
    else:
        frame.attrs[VALIDATED] = key
    return frame


def is_marked(frame: pd.DataFrame) -> str | None:
    """The frame's content key if it carries a mark that matches its content now, else None."""
    stored = frame.attrs.get(VALIDATED)
    if not isinstance(stored, str):
        return None
    key = content_key(frame)
    return key if key == stored else None
