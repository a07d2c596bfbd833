"""A table of strings on disk: one UTF-8 blob plus int64 offsets, memory-mapped, with lookup by hash.

Passage ids, titles, texts and the index vocabulary are stored this way, so that a 21M-passage
knowledge base opens in seconds and holds no Python object per passage. ``lookup`` finds the
row of a string by binary search in the sorted 64-bit hashes, then compares the stored bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def string_hashes(encoded: list[bytes]) -> np.ndarray:
    """A 64-bit BLAKE2b hash of each byte string (stable across processes, unlike ``hash``)."""
    return np.frombuffer(b"".join(hashlib.blake2b(b, digest_size=8).digest() for b in encoded), dtype=np.uint64)


class StringTableWriter:
    """Appends strings to ``<name>.bytes`` / ``<name>.offsets``; ``close`` adds the hash index if asked."""

    def __init__(self, folder: Path, name: str, *, hashed: bool):
        self.folder, self.name, self.hashed = Path(folder), name, hashed
        self._blob = open(self.folder / f"{name}.bytes", "wb")
        self._offsets = open(self.folder / f"{name}.offsets", "wb")
        self._hashes = open(self.folder / f"{name}.hash.tmp", "wb") if hashed else None
        self._end = 0
        self.count = 0
        self._offsets.write(np.zeros(1, dtype=np.int64).tobytes())

    def append(self, strings: list[str]) -> None:
        encoded = [s.encode("utf-8") for s in strings]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        self._blob.write(b"".join(encoded))
        self._offsets.write((self._end + np.cumsum(lengths)).tobytes())
        self._end += int(lengths.sum())
        self.count += len(encoded)
        if self._hashes:
            self._hashes.write(string_hashes(encoded).tobytes())

    def close(self) -> tuple[int, int] | None:
        """Finish the files; with a hash index, return the first pair of rows holding the same string."""
        for f in (self._blob, self._offsets):
            f.close()
        if not self._hashes:
            return None
        self._hashes.close()
        tmp = self.folder / f"{self.name}.hash.tmp"
        hashes = np.fromfile(tmp, dtype=np.uint64)
        tmp.unlink()
        order = np.argsort(hashes, kind="stable")
        sorted_hashes = hashes[order]
        del hashes
        sorted_hashes.tofile(self.folder / f"{self.name}.hash")
        order.astype(np.int64).tofile(self.folder / f"{self.name}.order")
        table = StringTable(self.folder, self.name)
        for i in np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1]):
            first, second = sorted(int(r) for r in order[i:i + 2])
            if table[first] == table[second]:
                return first, second
        return None


class StringTable:
    """Read side of :class:`StringTableWriter`: ``table[i]``, ``table.get(rows)``, ``table.lookup(strings)``."""

    def __init__(self, folder: Path, name: str):
        folder = Path(folder)
        self._offsets = mapped(folder / f"{name}.offsets", np.int64)
        self._blob = mapped(folder / f"{name}.bytes", np.uint8)
        hashed = folder / f"{name}.hash"
        self._hashes = mapped(hashed, np.uint64) if hashed.is_file() else None
        self._order = mapped(folder / f"{name}.order", np.int64) if self._hashes is not None else None

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, row: int) -> str:
        return self._blob[self._offsets[row]:self._offsets[row + 1]].tobytes().decode("utf-8")

    def get(self, rows) -> list[str]:
        return [self[int(row)] for row in rows]

    def lookup(self, strings: list[str]) -> np.ndarray:
        """The row of each string, -1 where it is not in the table."""
        rows = np.full(len(strings), -1, dtype=np.int64)
        if not strings or self._hashes is None or len(self) == 0:
            return rows
        encoded = [s.encode("utf-8") for s in strings]
        hashes = string_hashes(encoded)
        starts = np.searchsorted(self._hashes, hashes, side="left").tolist()
        sorted_hashes, order, offsets, blob = self._hashes, self._order, self._offsets, self._blob
        for i, (start, wanted) in enumerate(zip(starts, encoded)):
            while start < len(sorted_hashes) and sorted_hashes[start] == hashes[i]:
                row = int(order[start])
                if blob[offsets[row]:offsets[row + 1]].tobytes() == wanted:
                    rows[i] = row
                    break
                start += 1
        return rows

    @staticmethod
    def files(name: str, *, hashed: bool) -> list[str]:
        return [f"{name}.bytes", f"{name}.offsets"] + ([f"{name}.hash", f"{name}.order"] if hashed else [])


def mapped(path: Path, dtype) -> np.ndarray:
    """A raw array file, memory-mapped read-only as a plain ndarray view (indexing a np.memmap costs a
    Python-level ``__getitem__`` per call); an empty file (np.memmap refuses those) gives an empty array."""
    return np.memmap(path, dtype=dtype, mode="r").view(np.ndarray) if Path(path).stat().st_size else np.zeros(0, dtype)
