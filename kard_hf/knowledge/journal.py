"""Resumable batched search: results are appended to a journal as they come, and replayed after a kill.

A 21M-passage augmentation runs for hours; killing it at 90 % must cost 10 %. Each search job
(a split's rationales, questions or silver queries) has ``<name>.json`` (what was asked: the KB
fingerprint, which covers the corpus and the BM25 parameters, k and a hash of the queries; written
atomically) and ``<name>.bin``: fixed-size records (query index, k rows, k float64 scores), fsynced
per block. A torn last record is dropped; a journal of another question set or KB, or one whose
metadata cannot be read, is discarded, so a resumed run returns exactly what an uninterrupted one does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..fileio import write_json
from ..bm25.build import resolve_workers
from .kb import KnowledgeBase

logger = logging.getLogger(__name__)
BLOCK = 64  # queries each worker searches between two fsynced journal writes (what a kill can cost)


def journaled_search(kb: KnowledgeBase, queries: list[str], k: int, *, journal: Path | None, name: str,
                     num_threads: int = 1, desc: str = "Searching") -> tuple[np.ndarray, np.ndarray]:
    """``kb.search_rows(queries, k)``, resumed from (and recorded in) ``journal/<name>.*`` when given."""
    k = min(k, len(kb))
    rows, scores = np.zeros((len(queries), k), dtype=np.int64), np.zeros((len(queries), k))
    done = np.zeros(len(queries), dtype=bool)
    record = np.dtype([("query", "<i8"), ("rows", "<i8", (k,)), ("scores", "<f8", (k,))])
    data = None
    if journal is not None:
        journal.mkdir(parents=True, exist_ok=True)
        asked = {"fingerprint": kb.fingerprint, "k": k, "queries": len(queries),
                 "queries_sha256": hashlib.sha256("\x1e".join(queries).encode()).hexdigest()}
        meta, data = journal / f"{name}.json", journal / f"{name}.bin"
        if _read_meta(meta) == asked and data.is_file():
            saved = np.fromfile(data, dtype=np.uint8)
            saved = saved[:len(saved) - len(saved) % record.itemsize].view(record)
            rows[saved["query"]], scores[saved["query"]], done[saved["query"]] = saved["rows"], saved["scores"], True
            with open(data, "r+b") as f:  # drop a record torn by the kill
                f.truncate(len(saved) * record.itemsize)
            if len(saved):
                logger.warning("%s: resuming, %d of %d queries already searched", name, int(done.sum()), len(queries))
        else:
            data.unlink(missing_ok=True)
            write_json(meta, asked)
    todo = np.flatnonzero(~done)
    block = BLOCK * resolve_workers(num_threads)
    with tqdm(total=len(queries), initial=int(done.sum()), unit=" queries", desc=desc) as bar:
        for start in range(0, len(todo), block):
            index = todo[start:start + block]
            found_rows, found_scores = kb.search_rows([queries[i] for i in index], k, num_threads=num_threads)
            rows[index], scores[index] = found_rows, found_scores
            if data is not None:
                records = np.zeros(len(index), dtype=record)
                records["query"], records["rows"], records["scores"] = index, found_rows, found_scores
                with open(data, "ab") as out:
                    out.write(records.tobytes())
                    out.flush()
                    os.fsync(out.fileno())
            bar.update(len(index))
    return rows, scores


def _read_meta(meta: Path) -> dict | None:
    """What a journal recorded having asked, or None (absent; unreadable: warned about, then discarded)."""
    if not meta.is_file():
        return None
    try:
        return json.loads(meta.read_bytes())
    except (ValueError, OSError) as e:
        logger.warning("%s is unreadable (%s): its searches are run again", meta, e)
        return None
