"""Lay a folder out in a Hugging Face cache exactly as a download leaves it (blobs, snapshot links, refs).

Lets tests load artifacts "by Hub id" with ``HF_HUB_OFFLINE=1``, as a user with a warm cache does.
"""

import hashlib
import os
from pathlib import Path


def populate_hub_cache(folder: Path, repo_id: str, cache_dir: Path, repo_type: str = "model") -> Path:
    """Copy ``folder`` into ``cache_dir`` as the ``main`` revision of ``repo_id``; return the snapshot path."""
    repo = Path(cache_dir) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    for source in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        data = source.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        target = snapshot / source.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(os.path.relpath(blob, target.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot
