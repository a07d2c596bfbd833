"""Errors that point the right way, through the real command line: no command is usage and exit 2; a missing
local-looking path is "no such file or folder" with no Hub advice; a Hub failure is one line within seconds
(one retry, not five over ~25 s); offline, the variables to unset are named."""

import time

from test_faults import cli, one_error_line


def test_no_command_prints_the_usage_and_exits_2():
    result = cli()
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("kard-hf: error: no command given\n") and "commands:" in result.stderr
    assert cli("--help").returncode == 0


def test_a_missing_local_looking_path_is_no_such_file_or_folder(tmp_path):
    for name in ("./students/kard", "data/questions.jsonl"):
        result = cli("predict", "--student", name, cwd=tmp_path, env={"HF_HUB_OFFLINE": "0",
                                                                      "HF_ENDPOINT": "http://127.0.0.1:9"})
        one_error_line(result, name, "no such file or folder")
        assert "Hub cache" not in result.stderr and "HF_HUB_OFFLINE" not in result.stderr


def test_a_hub_failure_is_one_line_within_seconds(tmp_path):
    unreachable = {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
                   "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "cache")}
    start = time.monotonic()
    local = cli("predict", "--student", "./not-here", cwd=tmp_path, env=unreachable)
    local_seconds, start = time.monotonic() - start, time.monotonic()
    hub = cli("predict", "--student", "org/not-here", cwd=tmp_path, env=unreachable)
    hub_seconds = time.monotonic() - start
    one_error_line(hub, "org/not-here", "cannot find this student locally or on the Hub", "Connection refused")
    assert local.returncode == 2 and hub_seconds - local_seconds < 8  # five retries waited 1+2+4+8+8 s
    offline = cli("predict", "--student", "org/not-here", cwd=tmp_path,
                  env={**unreachable, "HF_HUB_OFFLINE": "1"})
    one_error_line(offline, "org/not-here", "not in the local Hub cache", "unset HF_HUB_OFFLINE")
