"""Writing a file whole or not at all, with the permissions any other new file gets."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | PathLike[str]) -> Iterator[Path]:
    """A temporary path beside *path* to write to; moved onto *path* when the block ends.

    The file appears whole or not at all: a reader never sees half a workbook, and an error
    while writing leaves the old file (or none) in place and no temporary file behind. The
    parent folders are made when missing.

    The temporary file is created here with mode ``0o666`` less the process's umask, as
    ``open()`` creates files, so the result has the permissions a new file usually gets
    (``0644`` under the common umask ``022``). :func:`tempfile.mkstemp` would make it
    ``0600``, readable by its owner only, and the move would keep that.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "out.txt") as tmp:
    ...     _ = tmp.write_text("done", encoding="utf-8")
    >>> (folder / "out.txt").read_text(encoding="utf-8"), [p.name for p in folder.iterdir()]
    ('done', ['out.txt'])
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # the suffix kept last, for writers that choose a format by it
    tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.partial{target.suffix}")
    # O_EXCL: never reuse a file someone else made; mode 0o666 is narrowed by the umask
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
