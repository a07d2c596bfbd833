"""benchmarks/bench_gpu.py keeps working on a CPU: its tiny run prints the one table, MFU follows the formula."""

import contextlib
import io
import json
import statistics
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

import bench_gpu  # noqa: E402
from harness import interleaved  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path, printed = tmp_path_factory.mktemp("bench") / "gpu.json", io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            result = bench_gpu.main(["--tiny", "--peak_tflops", "1", "--json", str(path)])
        yield result, json.loads(path.read_text()), printed.getvalue()
    finally:
        torch.set_num_threads(threads)
        torch._dynamo.reset()


@pytest.mark.parametrize("feed_forward_proj, decoder_layers", [("gated-gelu", 2), ("relu", 3)])
def test_training_flops_are_what_torch_counts_for_a_forward_and_backward(feed_forward_proj, decoder_layers):
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(**{**bench_gpu.SHAPES["tiny"], "feed_forward_proj": feed_forward_proj,
                         "num_decoder_layers": decoder_layers}, decoder_start_token_id=0)
    config._attn_implementation = "eager"  # plain matmuls, which FlopCounterMode counts (its SDPA coverage is partial)
    model = T5ForConditionalGeneration(config)
    source, target = 37, 11
    with FlopCounterMode(display=False) as counter:
        model(input_ids=torch.randint(2, 100, (1, source)), labels=torch.randint(2, 100, (1, target))).loss.backward()
    assert bench_gpu.t5_training_flops(config, source, target) == counter.get_total_flops()


def test_tiny_run_prints_one_table_with_both_sides_of_every_comparison(tiny_run):
    result, written, printed = tiny_run
    assert written == json.loads(json.dumps(result))
    table = [line for line in printed.splitlines() if line.startswith("|")]
    assert table[0] == "| " + " | ".join(bench_gpu.COLUMNS) + " |"
    assert table[0] == ("| benchmark | shape | setup | per second | tokens/s | MFU | speed-up "
                        "| gain over the row above |")
    setups = [(row["benchmark"], row["setup"]) for row in result["rows"]]
    assert [b for b, _ in setups] == ["training"] * 6 + ["reranking"] * 2 + ["evaluation, 5 samples"] * 2
    assert len(table) == 2 + len(result["rows"])
    for row in result["rows"]:
        assert len(row["runs_s"]) == 3 and row["per_second"] > 0
    firsts = [row for n, row in enumerate(result["rows"]) if n == 0 or row["benchmark"] != result["rows"][n - 1]["benchmark"]]
    assert [row["setup"].split()[0] for row in firsts] == ["released-style", "released", "per-question"]
    assert {row["speedup"] for row in firsts} == {1.0}  # every speed-up is against the released way


def test_training_adds_kard_hfs_options_one_at_a_time_and_each_run_had_its_sides_options(tiny_run):
    """Both paddings run with transformers' defaults, then kard_hf's CUDA defaults and torch.compile are added one
    at a time (TF32 only on a GPU that has it, so not on this CPU), then released-style padding gets them all."""
    result, _, printed = tiny_run
    training = [row for row in result["rows"] if row["benchmark"] == "training"]
    assert [row["setup"] for row in training] == [
        "released-style padding", "kard_hf collator + group_by_length", "+ 2 data-loader workers", "+ fused AdamW",
        "+ torch.compile", "released-style padding + 2 data-loader workers, fused AdamW, torch.compile"]
    added = dict(bench_gpu.ADDED_OPTIONS)
    assert training[0]["options"] == training[1]["options"] == bench_gpu.TRANSFORMERS_DEFAULTS
    for above, row in zip(training[1:5], training[2:5]):  # each run read back the options its row names
        assert row["options"] == {**above["options"], **added[row["setup"].removeprefix("+ ")]}
        runs = lambda r: statistics.median(r["runs_s"])  # noqa: E731
        assert row["gain"] == pytest.approx(runs(above) / runs(row))
    assert training[-1]["options"] == training[4]["options"] and training[-1]["gain"] is None
    assert all(row["gain"] is None for row in training[:2]) and "gain over the row above" in printed


def test_tf32_is_set_for_every_run_not_left_from_the_run_before():
    """transformers' enable_tf32 is lru_cache'd: TrainingArguments(tf32=False) after a True and a False sets
    nothing, so interleaved sides would inherit TF32 from the side before; bench_gpu sets it itself."""
    from transformers.utils import enable_tf32

    backends = torch.backends, torch.backends.cuda.matmul, torch.backends.cudnn
    saved = [backend.fp32_precision for backend in backends]
    try:
        enable_tf32.cache_clear()
        for enabled in (True, False, True):
            enable_tf32(enabled)
        assert torch.backends.fp32_precision == "ieee"  # the last call, True, was answered from the cache
        for enabled in (True, False, True, False):
            bench_gpu.set_tf32(enabled)
            expected = "tf32" if enabled else "ieee"
            assert (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.fp32_precision) == (expected,) * 2
    finally:
        enable_tf32.cache_clear()
        for backend, precision in zip(backends, saved):
            backend.fp32_precision = precision
    assert [setup for setup, _, _ in bench_gpu.training_options(tf32=True)][4] == "+ TF32"


def test_mfu_is_model_flops_per_second_over_the_peak(tiny_run):
    result, _, printed = tiny_run
    assert "CPU, float32, peak 1 TFLOPS" in printed
    assert result["peak_tflops"] == 1.0 and result["device"] == "CPU"
    for row in (r for r in result["rows"] if r["benchmark"] == "training"):
        assert len(set(row["flops"])) == 1 and row["flops"][0] > 0  # the same rows and steps in every round
        expected = statistics.median(f / s for f, s in zip(row["flops"], row["runs_s"])) / 1e12
        assert row["mfu"] == pytest.approx(expected)
        assert row["tokens_per_second"] > row["per_second"] * 100  # rows of ~280 real tokens


def test_peaks_by_device_name():
    assert bench_gpu.peak_tflops("NVIDIA H100 80GB HBM3") == 989
    assert bench_gpu.peak_tflops("NVIDIA H100 PCIe") == 756
    assert bench_gpu.peak_tflops("NVIDIA H200") == 989
    assert bench_gpu.peak_tflops("NVIDIA A100-SXM4-80GB") == bench_gpu.peak_tflops("NVIDIA A100-PCIE-40GB") == 312
    assert bench_gpu.peak_tflops("NVIDIA L4") == 121
    assert bench_gpu.peak_tflops("NVIDIA L40S") == 362
    assert bench_gpu.peak_tflops("Tesla T4") is None  # no bf16 tensor cores: MFU only with --peak_tflops


def test_repeats_are_interleaved_and_at_least_three():
    order = []
    timings = interleaved({"a": lambda: order.append("a") or 1.0, "b": lambda: order.append("b") or 2.0}, repeats=3)
    assert order == ["a", "b"] * 3
    assert timings.ratio("b", "a") == 2.0 and timings.ratio_spread("b", "a") == (2.0, 2.0)
    assert timings.load_before and timings.load_after
    with pytest.raises(SystemExit):
        bench_gpu.parse_args(["--tiny", "--repeats", "2"])

