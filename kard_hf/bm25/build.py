"""The streamed build: passages are read in bounded chunks, stored, tokenized by a pool of worker
processes and spilled as sorted runs; the index is then assembled on disk (see ``index.py``).

Memory holds a few chunks and the per-term and per-passage arrays, never the corpus, so a 21M
passage Wikipedia builds on a workstation. The analyzer is made (and its stemmer and stopword
names checked) before the first passage is read.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections import deque
from itertools import islice
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from ..errors import KnowledgeBaseError
from .analysis import Analyzer
from .index import IndexBuilder
from .maxscore import SLAB
from .strings import StringTable, StringTableWriter

CHUNK_SIZE = 50_000


def resolve_workers(num_proc: int) -> int:
    """``-1`` means every core."""
    return (os.cpu_count() or 1) if num_proc == -1 else max(1, num_proc)


def write_index_folder(folder: Path, records: Iterable[tuple[str, str, str]], parameters, *,
                       chunk_size: int = CHUNK_SIZE, num_proc: int = -1, show_progress: bool = True,
                       total: int | None = None, slab_size: int = SLAB) -> dict:
    """Write ``passages/`` and ``index/`` under ``folder`` from ``(id, title, text)`` records.

    Returns the manifest fields of the corpus and index (fingerprint, counts). A duplicate id
    raises :class:`KnowledgeBaseError` naming the two passages (1-based, in corpus order).
    """
    analyzer = Analyzer(parameters.stemmer, parameters.stopwords)
    if chunk_size < 1:
        raise KnowledgeBaseError(f"the chunk size must be at least 1, got {chunk_size}")
    if not 1 <= slab_size <= SLAB:
        raise KnowledgeBaseError(f"the slab size must be 1 to {SLAB} (rows in a slab are 16-bit), got {slab_size}")
    folder = Path(folder)
    (folder / "passages").mkdir(parents=True)
    (folder / "index").mkdir()
    tables = {name: StringTableWriter(folder / "passages", name, hashed=name == "ids") for name in ("ids", "titles", "texts")}
    builder = IndexBuilder(folder / "index", k1=parameters.k1, b=parameters.b, method=parameters.method,
                           slab_size=slab_size)
    digest = hashlib.sha256()
    workers = resolve_workers(num_proc)
    executor = None
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context())
    pending: deque = deque()
    records = iter(records)
    bar = None
    try:
        while chunk := list(islice(records, chunk_size)):
            if bar is None:  # made once the corpus opened and parsed: an early error stays one line
                bar = tqdm(total=total, unit=" passages", desc="Indexing", disable=not show_progress)
            ids, titles, texts = (list(column) for column in zip(*chunk))
            digest.update("".join(f"{i}\x1f{title}\x1f{text}\x1e" for i, title, text in chunk).encode())
            for name, column in (("ids", ids), ("titles", titles), ("texts", texts)):
                tables[name].append(column)
            documents = [f"{title} {text}" if parameters.index_title and title else text
                         for title, text in zip(titles, texts)]
            pending.append((executor.submit(analyzer.analyze, documents) if executor
                            else analyzer.analyze(documents), len(chunk)))
            while len(pending) > (workers if executor else 0):
                _add(builder, pending.popleft(), bar)
        while pending:
            _add(builder, pending.popleft(), bar)
    finally:
        if executor:
            executor.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    if builder.num_docs == 0:
        raise KnowledgeBaseError("the corpus has no passages")
    duplicate = tables["ids"].close()
    for name in ("titles", "texts"):
        tables[name].close()
    if duplicate:
        first, second = duplicate
        passage_id = StringTable(folder / "passages", "ids")[first]
        raise KnowledgeBaseError(f"duplicate passage id {passage_id!r} (passages {first + 1} and {second + 1})",
                                 field="id")
    with tqdm(total=sum(builder.run_sizes), unit=" postings", desc="Assembling", disable=not show_progress) as bar:
        stats = builder.finish(bar)
    return {"fingerprint": digest.hexdigest(), "num_passages": builder.num_docs, **stats}


def _add(builder: IndexBuilder, item, bar) -> None:
    result, size = item
    builder.add(result.result() if hasattr(result, "result") else result)
    bar.update(size)
