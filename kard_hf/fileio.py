"""File input/output shared by every command: one output policy, locks, atomic writes, row-located JSON reading.

The promises (docs/reliability.md): an existing output is replaced only with ``--overwrite_output_dir``
(a trainer's only continued, with ``--resume_from_checkpoint``) and never when it is one of the command's
inputs or the working directory; two runs never write the same output or cache at once
(:func:`output_lock`); an output appears complete or not at all (:func:`atomic_path`), a failed command
leaves no empty output folder, and the hidden temporaries of a run killed with ``kill -9`` are removed by
the next run. An OS error while writing an output names the output.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import ConfigError, DataError

# .<name>.tmp-<pid>-<hex> / .<name>.old-<pid>-<hex>: siblings of an output while atomic_path writes it.
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}$")


OVERWRITE = "pass --overwrite_output_dir to replace it"


def check_output(path: str | os.PathLike, *, overwrite: bool, inputs=(), what: str = "output_dir",
                 advice: str = OVERWRITE) -> None:
    """The one output policy of every command, applied before any work is done.

    An existing output is refused unless ``overwrite`` (it is then replaced only once the new one
    is complete); a file where a folder goes, the working directory or a folder holding it, and an
    output that is or holds one of ``inputs`` are refused always: replacing it would delete what the
    command reads. ``advice`` ends the refusal of an existing output.
    """
    path = Path(path)
    refuse_inputs(path, inputs, what)
    if path.exists() and not path.is_dir():
        raise ConfigError("is a file, not a folder; choose another output_dir", file=path, field=what)
    if path.exists() and not overwrite:
        raise ConfigError(f"already exists; {advice}", file=path, field=what)


def refuse_inputs(path: Path, inputs=(), what: str = "output_dir") -> None:
    """Refuse an output that is, or holds, the working directory or one of ``inputs`` (``.``, ``..``, a dataset)."""
    target, here = path.resolve(), Path.cwd().resolve()
    if target == here or target in here.parents:
        raise ConfigError("is the working directory or holds it; write the output to a new folder", file=path,
                          field=what)
    for source in filter(None, inputs):
        source_path = Path(source).resolve()
        if Path(source).exists() and (target == source_path or target in source_path.parents):
            raise ConfigError(f"is also an input ({source}); write the output elsewhere", file=path, field=what)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the hidden temporaries of ``path`` left by dead processes on this host (a ``kill -9`` during a save).

    A previous output set aside (``.old-``) by a run killed before the new one took its place is
    put back rather than deleted.
    """
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for sibling in sorted(path.parent.iterdir()):
        match = _TEMP.match(sibling.name)
        if not match or match["name"] != path.name or _pid_alive(int(match["pid"])):
            continue
        if match["kind"] == "old" and not path.exists():
            os.replace(sibling, path)
            continue
        shutil.rmtree(sibling, ignore_errors=True) if sibling.is_dir() else sibling.unlink(missing_ok=True)
        removed.append(sibling)
    return removed


_held: dict[Path, int] = {}  # the locks this process holds, and how many times


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (an output folder or a cache file) for the block.

    The lock is ``.<name>.lock`` next to it, held with ``flock`` (released by the kernel even on
    ``kill -9``) and holding the owner's pid and host, which a refusal names. It is re-entrant
    within a process (a command run twice from one Python session does not lock itself out).
    """
    path = Path(path)
    lock = path.with_name(f".{path.name}.lock")
    key = lock.absolute()
    if key in _held:
        _held[key] += 1
        try:
            yield path
        finally:
            _held[key] -= 1
        return
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir():
        raise ConfigError(f"is a file, so {path} cannot be written under it", file=existing)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(lock, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                handle.close()
                raise
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(f"is in use by {owner} (lock {lock}); wait for it to finish, or use another "
                              "output", file=path) from None
        try:  # the file we locked may have been unlinked by its previous owner meanwhile: lock the new one
            if os.fstat(handle.fileno()).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on host {socket.gethostname()}\n")
    handle.flush()
    _held[key] = 1
    try:
        remove_stale_temporaries(path)
        yield path
    finally:
        del _held[key]
        lock.unlink(missing_ok=True)
        handle.close()


_exit_stack = contextlib.ExitStack()  # what outlives any command scope is closed when the process exits
atexit.register(_exit_stack.close)
_command_scope: contextvars.ContextVar[contextlib.ExitStack] = contextvars.ContextVar("command_scope",
                                                                                     default=_exit_stack)


@contextlib.contextmanager
def command_scope() -> Iterator[None]:
    """Run one command: the locks taken by :func:`claim_output` inside it are released when it ends."""
    with contextlib.ExitStack() as stack:
        token = _command_scope.set(stack)
        try:
            yield
        finally:
            _command_scope.reset(token)


def hold_lock(path: str | os.PathLike) -> None:
    """Lock ``path`` (:func:`output_lock`) until the current command ends (the process, outside of one)."""
    _command_scope.get().enter_context(output_lock(path))


def claim_output(path: str | os.PathLike, *, overwrite: bool, inputs=(), what: str = "output_dir",
                 advice: str = OVERWRITE) -> None:
    """Lock the output ``path`` for the command, then apply :func:`check_output`: one call per command.

    An output folder that did not exist and is still empty when the command ends (it failed) is removed.
    """
    refuse_inputs(Path(path), inputs, what)  # first: '.' has no sibling to hold a lock
    hold_lock(path)
    check_output(path, overwrite=overwrite, inputs=inputs, what=what, advice=advice)
    if not Path(path).exists():
        _command_scope.get().callback(_remove_if_empty, Path(path))


def claim_training_output(path: str | os.PathLike, *, resuming: bool, inputs=()) -> None:
    """:func:`claim_output` for a trainer, whose checkpoints live in its output folder: an existing one that
    is not empty is only continued (``resuming``: ``--resume_from_checkpoint`` is given), never replaced."""
    path = Path(path)
    fresh = not path.is_dir() or not any(path.iterdir())
    claim_output(path, overwrite=fresh or resuming, inputs=inputs,
                 advice="pass --resume_from_checkpoint last to continue its training, or choose another output_dir")


def _remove_if_empty(path: Path) -> None:
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it onto ``path`` only if the block succeeds.

    Works for files and directories. A failed block leaves neither a partial output nor a
    temporary behind, and an existing output is replaced only once the new one is complete.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        try:
            yield tmp
        except OSError as e:  # a full disk or a size limit on a write: name the output written
            if e.filename is None and e.errno is not None:
                raise OSError(e.errno, e.strerror or os.strerror(e.errno), str(final)) from e
            raise
        if final.is_dir() and tmp.is_dir():
            old = final.with_name(f".{final.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_jsonl(path: str | os.PathLike, rows) -> None:
    """Write an iterable of JSON-serialisable rows, one per line, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a whole JSON file (a UTF-8 BOM is skipped); bad encoding or syntax raises :class:`DataError` naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise DataError("file not found", file=path) from None
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 (byte {e.start})", file=path) from None
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})", file=path) from None


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[str, dict]]:
    """Yield ``("line N", object)`` for each non-blank line of a JSONL file.

    A UTF-8 BOM is skipped. A line that is not UTF-8, not valid JSON (a truncated line included) or not
    a JSON object raises :class:`DataError` with the file and line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=path)
    with open(path, "rb") as f:
        yield from jsonl_rows(f, file=path)


def jsonl_rows(lines: Iterable[bytes], *, file) -> Iterator[tuple[str, dict]]:
    """:func:`iter_jsonl` over lines of bytes already open (standard input); ``file`` names them in errors."""
    for number, raw in enumerate(lines, start=1):
        row = f"line {number}"
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"not valid UTF-8 (byte {e.start})", file=file, row=row) from None
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON ({e.msg}); is the line truncated?", file=file, row=row) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=file, row=row)
        yield row, obj
