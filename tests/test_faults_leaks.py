"""The second fault probe's teacher cases (issue 24): no token leaked, no secret printed, no request stalled.

Each test drives ``kard-hf rationales`` in a subprocess against a loopback server. A host that is
not 127.0.0.1 (``evilhuggingface.co``) is reached through ``HTTP_PROXY`` pointing at the server,
so the test sees exactly what that host would have received.
"""

from __future__ import annotations

import time

from teacher_server import ChatServer
from test_faults import TRAIN, cli, one_error_line

NO_KEYS = {"HF_HUB_OFFLINE": "0", "OPENAI_API_KEY": "", "NO_PROXY": "", "no_proxy": ""}


def _rationales(fixtures_dir, output, base_url, *extra, env):
    return cli("rationales", "--train_file", fixtures_dir / TRAIN, "--model", "m", "--n", "1", "--max_retries", "0",
               "--base_url", base_url, "--output_dir", output, *extra, env=env)


def test_an_endpoint_gets_exactly_the_key_given_and_hf_tokens_only_hf_hosts(tmp_path, fixtures_dir):
    hf_token = "hf_probe_token_never_leaves"
    with ChatServer() as server:
        env = {**NO_KEYS, "HF_TOKEN": hf_token}
        plain = _rationales(fixtures_dir, tmp_path / "plain", server.base_url, env=env)
        assert plain.returncode == 0, plain.stderr[-3000:]
        sent = {body["_authorization"] for body in server.requests}
        assert sent == {None}, sent  # no OPENAI_API_KEY: no Authorization header at all
        server.requests.clear()
        proxied = {**env, "HTTP_PROXY": server.origin, "http_proxy": server.origin}
        evil = _rationales(fixtures_dir, tmp_path / "evil", "http://evilhuggingface.co/v1", env=proxied)
        assert evil.returncode == 0, evil.stderr[-3000:]
        assert {body["_path"] for body in server.requests} == {"http://evilhuggingface.co/v1/chat/completions"}
        assert {body["_authorization"] for body in server.requests} == {None}  # not a Hugging Face host
        server.requests.clear()
        hub = _rationales(fixtures_dir, tmp_path / "hub", "http://router.huggingface.co/v1", env=proxied)
        assert hub.returncode == 0, hub.stderr[-3000:]
        assert {body["_authorization"] for body in server.requests} == {f"Bearer {hf_token}"}
        server.requests.clear()
        mine = _rationales(fixtures_dir, tmp_path / "mine", server.base_url, "--api_key_env", "MY_KEY",
                           env={**env, "MY_KEY": "sk-mine"})
        assert mine.returncode == 0, mine.stderr[-3000:]
        assert {body["_authorization"] for body in server.requests} == {"Bearer sk-mine"}
    for result in (plain, evil, hub, mine):
        assert hf_token not in result.stdout + result.stderr


def test_a_secret_in_the_base_url_path_is_never_printed(tmp_path, fixtures_dir):
    with ChatServer(script=["500"]) as server:
        url = server.origin + "/k-s3cr3t-path/v1"
        result = _rationales(fixtures_dir, tmp_path / "out", url, "--max_retries", "1", "--backoff", "0", env=NO_KEYS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HTTP Request: POST http://127.0.0.1" in result.stderr
    assert "k-s3cr3t-path" not in result.stdout + result.stderr


def test_request_timeout_is_the_whole_requests_deadline(tmp_path, fixtures_dir):
    with ChatServer(script=["trickle"], slow_seconds=0.2) as server:  # each read is quick, the reply takes a minute
        start = time.monotonic()
        result = _rationales(fixtures_dir, tmp_path / "out", server.base_url, "--request_timeout", "2",
                             "--max_concurrency", "1", env=NO_KEYS)
        elapsed = time.monotonic() - start
    one_error_line(result, "giving up after 1 attempts", "no response within 2s")
    assert elapsed < 30, elapsed
