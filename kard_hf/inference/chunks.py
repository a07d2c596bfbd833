"""``kard-hf evaluate`` answers its questions in chunks: the unit that is seeded, that a launcher's ranks share,
and that the resume journal records.

A chunk is ``CHUNK_BATCHES`` generate batches of consecutive questions. The pipeline answers each chunk as a
whole (retrieval, reranking with an empty passage cache, length-sorted batches) after seeding with
:func:`chunk_seed` ``(seed, chunk)``, so a chunk's predictions depend only on its questions, the seed and its
index: not on which rank answers it, nor on what else that rank answers. Under ``torchrun`` / ``accelerate launch`` rank r takes chunks r, r + n, r + 2n, ...
and rank 0 puts them back in order (:func:`in_order`): the one-process output, byte for byte.

Each answered chunk is appended to the rank's journal (one JSON line, fsynced) keyed by what was asked; a rerun
after a kill replays the chunks it holds and answers the rest. A torn last line is dropped; a journal of other
questions, another student or other options is discarded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import DataError
from .base import Decoding, Pipeline, Prediction, Retrieved

logger = logging.getLogger(__name__)
CHUNK_BATCHES = 4  # generate batches a chunk holds: a kill costs at most one chunk a rank


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed chunk ``chunk`` of a run with ``seed`` is answered with (chunk 0: ``seed`` itself). It stays below
    2**31, the range every sampler takes, a served student's endpoint included; the seeds of a few runs (0, 1, 2...)
    never meet over their first million chunks."""
    return (seed + chunk * 1_000_003) % 2 ** 31


def chunk_count(questions: int, chunk_size: int) -> int:
    return -(-questions // chunk_size)


def _read_journal(journal: Path, asked: dict) -> dict[tuple[int, int], list[Prediction]]:
    """The chunks ``journal`` recorded for ``asked`` (and the file cut after its last whole line); else empty."""
    if not journal.is_file():
        return {}
    data = journal.read_bytes()
    lines = data.split(b"\n")
    kept, done = 0, {}
    try:
        if json.loads(lines[0]) != json.loads(json.dumps({"asked": asked})):
            logger.warning("%s was written for other questions, another student or other options: "
                           "its chunks are answered again", journal)
            journal.unlink()
            return {}
        kept = len(lines[0]) + 1
        for line in lines[1:-1]:  # the last piece has no newline: empty, or torn by the kill
            record = json.loads(line)
            done[record["seed"], record["chunk"]] = [Prediction(**p) for p in record["predictions"]]
            kept += len(line) + 1
    except (ValueError, KeyError, TypeError):
        if not kept:
            logger.warning("%s is unreadable: its chunks are answered again", journal)
            journal.unlink()
            return {}
    if kept != len(data):
        with open(journal, "r+b") as f:
            f.truncate(kept)
    return done


def _append(journal: Path, line: dict) -> None:
    with open(journal, "a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def answer_share(pipeline: Pipeline, examples: list, pool: Retrieved | None, *, decoding: Decoding,
                 seeds: list[int], chunk_size: int, shard: tuple[int, int] = (0, 1), journal: Path | None = None,
                 asked: dict | None = None) -> dict[tuple[int, int], list[Prediction]]:
    """``{(seed, chunk): predictions}`` of the chunks of shard ``(i, n)`` (chunks i, i + n, ...), for every seed;
    resumed from (and recorded in) ``journal`` when given, keyed by ``asked``."""
    index, count = shard
    if journal is not None:  # the questions are part of what was asked
        ids = "\x1e".join(e.id for e in examples).encode()
        asked = {**(asked or {}), "questions_sha256": hashlib.sha256(ids).hexdigest()}
    done = _read_journal(journal, asked) if journal is not None else {}
    if journal is not None and not journal.is_file():
        journal.parent.mkdir(parents=True, exist_ok=True)
        _append(journal, {"asked": asked})
    mine = [(seed, c) for seed in seeds for c in range(index, chunk_count(len(examples), chunk_size), count)]
    answered = {key: done[key] for key in mine if key in done}
    if answered:
        logger.warning("%s: resuming, %d of %d chunks already answered", journal, len(answered), len(mine))
    with tqdm(total=len(mine), initial=len(answered), desc="answering", unit="chunk") as bar:
        for seed, c in mine:
            if (seed, c) in answered:
                continue
            if getattr(pipeline, "reranker", None) is not None:  # a chunk's reranking owes nothing to earlier ones
                pipeline.reranker.clear_cache()
            part = slice(c * chunk_size, (c + 1) * chunk_size)
            chunk_pool = None if pool is None else Retrieved(pool.texts[part], pool.ids[part])
            predictions = pipeline(examples[part], candidates=chunk_pool, silver=chunk_pool, decoding=decoding,
                                   seed=chunk_seed(seed, c))
            answered[seed, c] = predictions
            if journal is not None:
                _append(journal, {"seed": seed, "chunk": c, "predictions": [asdict(p) for p in predictions]})
            bar.update(1)
    return answered


def in_order(shares: list[dict], examples: list, seeds: list[int], chunk_size: int) -> list[list[Prediction]]:
    """Every seed's predictions in question order, from the shares of all ranks; each chunk must be in exactly
    one share, and each question answered exactly once per seed."""
    merged = {}
    for rank, share in enumerate(shares):
        for key, predictions in share.items():
            if key in merged:
                raise DataError(f"chunk {key[1]} of seed {key[0]} was answered by two ranks (also rank {rank})")
            merged[key] = predictions
    ids = [e.id for e in examples]
    runs = []
    for seed in seeds:
        missing = [c for c in range(chunk_count(len(examples), chunk_size)) if (seed, c) not in merged]
        if missing:
            raise DataError(f"chunk(s) {', '.join(map(str, missing))} of seed {seed} were answered by no rank")
        run = [p for c in range(chunk_count(len(examples), chunk_size)) for p in merged[seed, c]]
        if [p.id for p in run] != ids:
            raise DataError(f"the predictions of seed {seed} are not the evaluated questions, each once, in order")
        runs.append(run)
    return runs
