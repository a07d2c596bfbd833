"""Join the outputs of ``kard-hf augment --num_shards n --shard_index i`` (i = 0..n-1) into one, or of the
ranks of ``augment`` under ``torchrun`` / ``accelerate launch`` (each rank is a shard, gathered to rank 0).

Shard i holds questions i, i + n, i + 2n, ... of each split, so interleaving the shards question
by question restores the order of an unsharded run. The merge refuses a missing or repeated
shard, shards made with different knowledge bases or settings, and any question that is missing
or present twice (checked against the id list every shard recorded for the whole input).
"""

from __future__ import annotations

from itertools import groupby

from ..errors import DataError
from .augment import ids_digest


def _questions(dataset) -> list[list[dict]]:
    """Rows grouped by question (a train question has one row per rationale, consecutive)."""
    return [list(rows) for _, rows in groupby(dataset, key=lambda row: row["id"])]


def merge_datasets(shards: list[tuple[str, object, dict]], *, record: bool = True):
    """``(DatasetDict, manifest)`` from ``(name, DatasetDict, manifest)`` of every shard. ``record``: note the
    shard count in the manifest (``merged_shards``); a launcher's ranks leave it out, so that their output is
    the one a single process writes."""
    import datasets

    if not shards:
        raise DataError("no shard to merge")
    infos = {}
    for name, _, manifest in shards:
        info = manifest.get("shard")
        if not info:
            raise DataError("not a shard of 'kard-hf augment --num_shards'", file=name, field="shard")
        if info["index"] in infos:
            raise DataError(f"shard {info['index']} is given twice (also {infos[info['index']][0]})", file=name)
        infos[info["index"]] = (name, info)
    count = shards[0][2]["shard"]["count"]
    missing = sorted(set(range(count)) - set(infos))
    if missing or len(infos) != count:
        raise DataError(f"shard(s) {', '.join(map(str, missing))} of {count} are missing")
    first = shards[0][2]
    for name, _, manifest in shards:
        for key in ("knowledge_base", "retrieval", "teacher"):
            if manifest.get(key) != first.get(key):
                raise DataError(f"made with another {key} than {shards[0][0]}", file=name, field=key)
        if manifest["shard"]["count"] != count or manifest["shard"]["expected"] != first["shard"]["expected"]:
            raise DataError(f"a shard of another question set or shard count than {shards[0][0]}", file=name,
                            field="shard")
    ordered = sorted(shards, key=lambda shard: shard[2]["shard"]["index"])
    merged = datasets.DatasetDict()
    for split, expected in first["shard"]["expected"].items():
        per_shard = [_questions(dataset[split]) for _, dataset, _ in ordered]
        questions = [q for t in range(max(map(len, per_shard))) for shard in per_shard if t < len(shard)
                     for q in [shard[t]]]
        ids = [q[0]["id"] for q in questions]
        seen = {}
        for (name, _, _), shard in zip(ordered, per_shard):
            for question in shard:
                if question[0]["id"] in seen:
                    raise DataError(f"question {question[0]['id']!r} of {split} is also in {seen[question[0]['id']]}",
                                    file=name, field="id")
                seen[question[0]["id"]] = name
        if len(ids) != expected["questions"] or ids_digest(ids) != expected["ids_sha256"]:
            raise DataError(f"the {split} split has {len(ids)} questions after merging, but the input had "
                            f"{expected['questions']} (or in another order): a shard is incomplete or not from this run")
        features = ordered[0][1][split].features
        merged[split] = datasets.Dataset.from_list([row for q in questions for row in q], features=features)
    manifest = {key: value for key, value in first.items() if key != "shard"}
    manifest["splits"] = {split: len(dataset) for split, dataset in merged.items()}
    if record:
        manifest["merged_shards"] = count
    return merged, manifest
