"""The resumable sample cache: an append-only JSONL file, one record per sample.

A record is keyed by the question id, the sample index and a hash of everything that decides
the sample (the rendered prompt, the teacher, the sampling parameters), so a re-run after a
crash asks only for what is missing and a changed prompt or model never reuses stale samples.
Each record is written with a single ``write`` and flushed: a process killed mid-write leaves at
most a truncated last line, which the next run cuts off. The cache is locked while open (a second
run on it is refused, naming the first), and the file is created only when the first sample
arrives, so a run that fails early leaves no empty cache behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import DataError
from ..fileio import output_lock


def request_hash(prompt: str, fingerprint: dict) -> str:
    """sha256 of the rendered prompt and the teacher/sampling fingerprint (the cache key's third part)."""
    payload = json.dumps({"prompt": prompt, "fingerprint": fingerprint}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class SampleCache:
    """``{(question id, sample index, request hash): text}`` backed by an append-only JSONL file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._texts: dict[tuple[str, int, str], str] = {}
        self._lock = output_lock(self.path)
        self._lock.__enter__()
        self._file = None
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        if not self.path.is_file():
            return
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        if len(complete) != len(raw):  # a write cut short by a kill: drop the partial line
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
        for number, raw_line in enumerate(complete.splitlines(), start=1):
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"not valid UTF-8 (byte {e.start}); not a cache kard-hf wrote: delete or move it to "
                                "start over", file=self.path, row=f"line {number}") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = (record["id"], int(record["sample"]), record["request_sha256"])
                text = record["text"]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise DataError("not a teacher cache record; delete or move the cache file to start over",
                                file=self.path, row=f"line {number}") from None
            self._texts.setdefault(key, text)

    def __len__(self) -> int:
        return len(self._texts)

    def get(self, question_id: str, sample: int, request_sha256: str) -> str | None:
        return self._texts.get((question_id, sample, request_sha256))

    def add(self, question_id: str, request_sha256: str, samples: dict[int, str]) -> None:
        """Record ``{sample index: text}`` for one question durably, in one write (keys already present are ignored)."""
        new = {index: text for index, text in samples.items() if (question_id, index, request_sha256) not in self._texts}
        if not new:
            return
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write("".join(json.dumps({"id": question_id, "sample": index, "request_sha256": request_sha256,
                                             "text": text}, ensure_ascii=False) + "\n" for index, text in new.items()))
        self._file.flush()
        os.fsync(self._file.fileno())
        for index, text in new.items():
            self._texts[(question_id, index, request_sha256)] = text

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
