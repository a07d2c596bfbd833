"""A Hugging Face Hub on 127.0.0.1 for the round-trip tests: the part of the Hub HTTP API that huggingface_hub uses.

It answers what ``create_repo``, ``create_branch``, ``upload_folder`` / ``create_commit`` (YAML validation,
the preupload and NDJSON commit endpoints, and LFS: the batch API and the upload PUT), ``repo_info``,
``list_repo_tree`` / ``get_paths_info``, ``hf_hub_download`` and ``snapshot_download`` send, as
huggingface_hub 2.x sends them (read from its ``hf_api.py``, ``_commit_api.py``, ``lfs.py``,
``file_download.py`` and ``utils/_http.py``): resolve answers carry ``X-Repo-Commit``, ``ETag`` (the git
blob id) and, for LFS files, ``X-Linked-Etag`` (the SHA-256) and ``X-Linked-Size``; errors carry the
``X-Error-Code`` / ``X-Error-Message`` headers the client maps to its exception types.

Clients must run with ``HF_ENDPOINT`` set to :attr:`HubServer.endpoint`, ``HF_HUB_OFFLINE`` unset and
``HF_HUB_DISABLE_XET=1`` (the Xet storage protocol is not spoken: uploads then take the LFS path, as
without ``hf_xet``). Tokens are the keys of ``tokens`` (token -> user name); private repositories
answer their owner only, as on the Hub (401/404 with ``RepoNotFound`` otherwise). Every request is
recorded as ``(method, path, authorization)``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlparse

import yaml
from loopback import LoopbackServer

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".arrow", ".parquet", ".npy", ".npz", ".msgpack", ".h5")
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES).encode()
_REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Entry:
    """One file of a commit: its bytes, or the SHA-256 of an LFS object."""

    data: bytes | None = None
    lfs_oid: str | None = None
    size: int = 0

    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.lfs_oid}\nsize {self.size}\n".encode()

    @property
    def blob_id(self) -> str:
        return git_blob_id(self.pointer() if self.lfs_oid else self.data)


@dataclass
class Repo:
    owner: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit id
    commits: dict[str, dict[str, Entry]] = field(default_factory=dict)  # commit id -> files


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubServer(LoopbackServer):
    """Start with :meth:`start`; ``endpoint`` is the value for ``HF_ENDPOINT``."""

    def __init__(self, tokens: dict[str, str]):
        self.tokens = dict(tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization")
                with server.lock:
                    server.requests.append((self.command, self.path, auth))
                try:
                    status, payload, headers = server.route(self.command, self.path, auth, body, self.headers)
                except HubError as e:
                    status, headers = e.status, {"X-Error-Message": e.message, **e.headers}
                    if e.code:
                        headers["X-Error-Code"] = e.code
                    payload = json.dumps({"error": e.message}).encode()
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload).encode()
                    headers.setdefault("Content-Type", "application/json")
                self.send_response(status)
                for key, value in {"Content-Length": str(len(payload)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_HEAD = _handle

        self._serve(Handler)

    @property
    def endpoint(self) -> str:
        return self.origin

    # -- helpers --------------------------------------------------------------------------------------------
    def _user(self, auth: str | None, *, required: bool) -> str | None:
        if auth is None:
            if required:
                raise HubError(401, "You must be authenticated to do this")
            return None
        token = auth.removeprefix("Bearer ").strip()
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.tokens[token]

    def _repo(self, repo_type: str, repo_id: str, auth: str | None, *, write: bool = False) -> Repo:
        user = self._user(auth, required=write)
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and user != repo.owner):
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        if write and user != repo.owner:
            raise HubError(403, "You don't have the rights to write to this repository")
        return repo

    @staticmethod
    def _commit(repo: Repo, revision: str) -> tuple[str, dict[str, Entry]]:
        revision = unquote(revision)
        commit = repo.branches.get(revision, revision if revision in repo.commits else None)
        if commit is None:
            raise HubError(404, "Invalid rev id: " + revision, "RevisionNotFound")
        return commit, repo.commits[commit]

    def file_bytes(self, entry: Entry) -> bytes:
        return self.lfs[entry.lfs_oid] if entry.lfs_oid else entry.data

    def files(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of a revision, for tests to inspect what was pushed."""
        _, files = self._commit(self.repos[(repo_type, repo_id)], revision)
        return {path: self.file_bytes(entry) for path, entry in files.items()}

    def _url(self, repo_type: str, repo_id: str) -> str:
        return f"{self.endpoint}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"

    # -- routing --------------------------------------------------------------------------------------------
    def route(self, method: str, raw_path: str, auth: str | None, body: bytes, headers):
        url = urlparse(raw_path)
        path, query = url.path, parse_qs(url.query)
        with self.lock:
            if method == "POST" and path == "/api/repos/create":
                return self.create_repo(json.loads(body), auth)
            if method == "POST" and path == "/api/validate-yaml":
                return self.validate_yaml(json.loads(body))
            if method == "PUT" and (match := re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path)):
                if hashlib.sha256(body).hexdigest() != match.group(1):
                    raise HubError(400, "the uploaded content does not match its oid")
                self.lfs[match.group(1)] = body
                return 200, b"", {}
            if method == "POST" and (match := re.fullmatch(r"/(datasets/)?(.+?)\.git/info/lfs/objects/batch", path)):
                repo_type = "dataset" if match.group(1) else "model"
                self._repo(repo_type, match.group(2), auth, write=True)
                return self.lfs_batch(json.loads(body))
            if match := re.fullmatch(r"/api/(models|datasets)/(.+?)/(preupload|commit|branch|revision|tree|paths-info)"
                                     r"(?:/([^/]+)(/.*)?)?", path):
                repo_type, repo_id, action, revision, rest = match.groups()
                repo_type = repo_type[:-1]
                write = action in ("preupload", "commit", "branch")
                repo = self._repo(repo_type, repo_id, auth, write=write)
                revision = revision or "main"
                if action == "preupload":
                    return self.preupload(repo, revision, json.loads(body))
                if action == "commit":
                    return self.commit(repo, repo_type, repo_id, revision, body)
                if action == "branch":
                    return self.create_branch(repo, unquote(revision), json.loads(body or b"{}"))
                if action == "revision":
                    return self.repo_info(repo, repo_id, revision)
                if action == "tree":
                    return self.tree(repo, revision, unquote(rest or "").strip("/"), query)
                return self.paths_info(repo, revision, parse_qs(body.decode()))
            if match := re.fullmatch(r"/api/(models|datasets)/([^/]+(?:/[^/]+)?)", path):
                repo = self._repo(match.group(1)[:-1], match.group(2), auth)
                return self.repo_info(repo, match.group(2), "main")
            if method in ("GET", "HEAD") and (match := re.fullmatch(r"/(datasets/)?([^/]+/[^/]+|[^/]+)/resolve/([^/]+)/(.+)",
                                                                     path)):
                repo_type = "dataset" if match.group(1) else "model"
                return self.resolve(self._repo(repo_type, match.group(2), auth), match.group(3), unquote(match.group(4)))
        raise HubError(404, f"no route for {method} {path}")

    # -- endpoints ------------------------------------------------------------------------------------------
    def create_repo(self, payload: dict, auth: str | None):
        user = self._user(auth, required=True)
        namespace = payload.get("organization") or user
        repo_type, repo_id = payload.get("type") or "model", f"{namespace}/{payload['name']}"
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a repository under {namespace}")
        if (repo_type, repo_id) in self.repos:
            raise HubError(409, "You already created this repo", headers={})
        commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        repo = Repo(owner=user, private=payload.get("visibility") == "private" or bool(payload.get("private")))
        repo.commits[commit] = {".gitattributes": Entry(data=GITATTRIBUTES, size=len(GITATTRIBUTES))}
        repo.branches["main"] = commit
        self.repos[(repo_type, repo_id)] = repo
        return 200, {"url": self._url(repo_type, repo_id), "name": repo_id}, {}

    def create_branch(self, repo: Repo, branch: str, payload: dict):
        if branch in repo.branches:
            raise HubError(409, "Reference already exists")
        repo.branches[branch], _ = self._commit(repo, payload.get("startingPoint") or "main")
        return 200, {}, {}

    @staticmethod
    def validate_yaml(payload: dict):
        match = re.match(r"^---\s*\n(.*?)\n---\s*\n", payload["content"], re.DOTALL)
        if not match:
            return 200, {"warnings": [{"message": "empty or missing yaml metadata in repo card"}]}, {}
        metadata = yaml.safe_load(match.group(1)) or {}
        errors = []
        if not isinstance(metadata, dict):
            errors.append("metadata must be a YAML mapping")
        else:
            base_models = metadata.get("base_model") or []
            for name, values in (("base_model", base_models), ("datasets", metadata.get("datasets") or [])):
                for value in [values] if isinstance(values, str) else values:
                    if not isinstance(value, str) or not _REPO_ID.match(value) or ".." in value:
                        errors.append(f'"{name}" must be a Hub repository id, got {value!r}')
        if errors:
            return 400, {"errors": [{"message": message} for message in errors]}, {}
        return 200, {"warnings": []}, {}

    def preupload(self, repo: Repo, revision: str, payload: dict):
        _, files = self._commit(repo, revision)
        answer = []
        for file in payload["files"]:
            sample = base64.b64decode(file["sample"])
            lfs = file["path"].endswith(LFS_SUFFIXES) or b"\0" in sample
            existing = files.get(file["path"])
            answer.append({"path": file["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                           "oid": existing.blob_id if existing else None})
        return 200, {"files": answer, "commitOid": self._commit(repo, revision)[0]}, {}

    def lfs_batch(self, payload: dict):
        objects = []
        for obj in payload["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.lfs:
                answer["actions"] = {"upload": {"href": f"{self.endpoint}/lfs-upload/{obj['oid']}", "header": {}}}
            objects.append(answer)
        return 200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"}

    def commit(self, repo: Repo, repo_type: str, repo_id: str, revision: str, body: bytes):
        revision = unquote(revision)
        if revision not in repo.branches:
            raise HubError(404, "Invalid rev id: " + revision, "RevisionNotFound")
        files = dict(repo.commits[repo.branches[revision]])
        for line in body.decode().splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "file":
                data = base64.b64decode(value["content"])
                files[value["path"]] = Entry(data=data, size=len(data))
            elif key == "lfsFile":
                if value["oid"] not in self.lfs:
                    raise HubError(400, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = Entry(lfs_oid=value["oid"], size=len(self.lfs[value["oid"]]))
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                files = {p: e for p, e in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
        commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        repo.commits[commit] = files
        repo.branches[revision] = commit
        return 200, {"commitUrl": f"{self._url(repo_type, repo_id)}/commit/{commit}", "commitOid": commit,
                     "pullRequestUrl": None}, {}

    def repo_info(self, repo: Repo, repo_id: str, revision: str):
        commit, files = self._commit(repo, revision)
        return 200, {"id": repo_id, "_id": repo_id, "sha": commit, "private": repo.private, "author": repo.owner,
                     "siblings": [{"rfilename": p} for p in sorted(files)]}, {}

    @staticmethod
    def _tree_entry(path: str, entry: Entry) -> dict:
        item = {"type": "file", "path": path, "size": entry.size, "oid": entry.blob_id}
        if entry.lfs_oid:
            item["lfs"] = {"oid": entry.lfs_oid, "size": entry.size, "pointerSize": len(entry.pointer())}
        return item

    def tree(self, repo: Repo, revision: str, folder: str, query: dict):
        _, files = self._commit(repo, revision)
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        prefix = f"{folder}/" if folder else ""
        items, folders = [], set()
        for path in sorted(files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                if recursive or depth == 1:
                    folders.add(prefix + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                items.append(self._tree_entry(path, files[path]))
        items += [{"type": "directory", "path": f, "oid": git_blob_id(f.encode())} for f in sorted(folders)]
        return 200, items, {}

    def paths_info(self, repo: Repo, revision: str, form: dict):
        _, files = self._commit(repo, revision)
        return 200, [self._tree_entry(p, files[p]) for p in form.get("paths", []) if p in files], {}

    def resolve(self, repo: Repo, revision: str, path: str):
        commit, files = self._commit(repo, revision)
        entry = files.get(path)
        if entry is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit})
        data = self.file_bytes(entry)
        headers = {"X-Repo-Commit": commit, "ETag": f'"{entry.blob_id}"', "Content-Type": "application/octet-stream"}
        if entry.lfs_oid:
            headers.update({"X-Linked-Etag": f'"{entry.lfs_oid}"', "X-Linked-Size": str(entry.size)})
        return 200, data, headers
