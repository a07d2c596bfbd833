"""Quiet by default, readable in a log file: a progress bar's redraws become a line every so often (with its
ETA) and its last state, never a line of thousands of characters; no ANSI code; transformers' load reports at
debug level; no deprecation warning caused by kard_hf's own calls. Driven through the real CLI, its output
piped as into a log file."""

import io
import logging
import time

from tqdm import tqdm

from distill_fixtures import save_processed
from kard_hf.console import LoadReportToDebug, RedrawsAsLines
from test_faults import cli


def test_redraws_become_lines_with_their_eta():
    log = io.StringIO()
    stream = RedrawsAsLines(log, every=0.02)
    for i in tqdm(range(40), file=stream, mininterval=0, desc="Indexing"):
        time.sleep(0.002)
        if i == 20:
            tqdm.write("a message between two redraws", file=stream)
    stream.write("plain text\n")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and 3 <= len(lines) < 40
    assert "a message between two redraws" in lines and lines[-1] == "plain text"
    assert lines[-2].startswith("Indexing: 100%") and "40/40 [" in lines[-2]
    assert all("<" in line for line in lines if line.startswith("Indexing"))  # tqdm's elapsed<ETA


def test_a_load_report_is_a_debug_record_without_ansi():
    logger = logging.getLogger("kard_hf.test.load_report")
    logger.addFilter(LoadReportToDebug())
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.warning("\x1b[1mBertModel LOAD REPORT\x1b[0m from: x\nscore.bias | MISSING")
    logger.warning("another warning")
    assert [r.getMessage() for r in records] == ["another warning"]
    logger.setLevel(logging.DEBUG)
    logger.warning("\x1b[1mBertModel LOAD REPORT\x1b[0m from: x")
    assert records[-1].levelname == "DEBUG" and records[-1].getMessage() == "BertModel LOAD REPORT from: x"


def test_a_training_log_file_is_readable(tiny_causal_path, tmp_path):
    processed = save_processed(tmp_path / "processed")
    result = cli("train", "--model_name_or_path", tiny_causal_path, "--dataset", processed, "--output_dir",
                 tmp_path / "out", "--max_steps", "4", "--per_device_train_batch_size", "2", "--use_lora", "true",
                 "--activation_checkpointing", "true", "--save_strategy", "no", "--report_to", "none",
                 "--disable_tqdm", "false", "--use_cpu", "true", "--logging_steps", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    log = result.stdout + result.stderr
    assert "\r" not in log and "\x1b[" not in log
    assert max(map(len, log.splitlines())) <= 300
    assert "is_gradient_checkpointing" not in log and "FutureWarning" not in log, log
    assert any("100%" in line and "4/4 [" in line for line in log.splitlines()), log
