"""kard-hf quickstart --preset fast: the whole pipeline's plumbing (not its numbers) on the bundled benchmark."""

import json
import sys
from pathlib import Path

from huggingface_hub import ModelCard

from kard_hf.benchmark.quickstart import COLUMNS, PASSAGES, ROWS
from kard_hf.cli import main
from test_card_facts import card_faults

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import quickstart_tables  # noqa: E402


def test_fast_quickstart_runs_every_step_and_writes_the_results(tmp_path, capsys):
    assert main(["quickstart", "--preset", "fast", "--output_dir", str(tmp_path), "--jobs", "2"]) == 0  # side by side
    out = capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["accuracy"]) == [name for name, _, _ in ROWS]
    assert all(list(cells) == list(COLUMNS) and all(0 <= cell["mean"] <= 1 for cell in cells.values())
               for cells in results["accuracy"].values())
    seed = tmp_path / "seed-0"
    for artifact in ("benchmark/test.jsonl", "rationales/kard_hf.json", "kb/kard_hf.json", "processed/kard_hf.json",
                     "kard/kard_hf.json", "rd/README.md", "reranker/config.json", "benchmark/test_seen.jsonl",
                     "knife-teacher/kard_hf.json", "knife/kard_hf.json",
                     "eval/test_seen/knife/metrics.json", "eval/test/knife-teacher-reads-the-rationale/metrics.json",
                     "decoder-rd/kard_hf.json", "decoder-kard/kard_hf.json",
                     "eval/test/decoder-only-rd/metrics.json", "eval/test_seen/decoder-only-kard-reranker/metrics.json"):
        assert (seed / artifact).is_file(), artifact
    # every card the quickstart writes parses as the Hub reads it, and names no local path as a Hub id
    cards = sorted(seed.rglob("README.md"))
    assert {"rationales", "kb", "processed", "ft", "rd", "kard", "reranker", "knife-teacher", "knife", "decoder-rd",
            "decoder-kard"} <= {
        card.parent.name for card in cards}
    for card in cards:
        data = ModelCard.load(card).data
        names = [data.base_model] if isinstance(data.base_model, str) else list(data.base_model or [])
        assert not [name for name in names + list(data.datasets or []) if Path(name).exists() or name.count("/") > 1]
        assert data.base_model is None and not data.datasets, card  # every quickstart input is local, with no Hub id
        assert card_faults(card.read_text()) == [], card
    # what the cards say is what the runs did (the reranker's recipe freezes the passage side)
    assert "passage side frozen" in (seed / "reranker" / "README.md").read_text()
    assert "fingerprint" not in (seed / "ft" / "README.md").read_text().split("## Citation")[0]
    assert "(`KnifeBartForMultipleChoice`, model type `knife_bart`)" in (seed / "knife" / "README.md").read_text()
    # the decoder-only rows: a Llama trained and evaluated in its chat template's turns, KARD reading the passage
    for student, method in (("decoder-rd", "rd"), ("decoder-kard", "kard")):
        spec = json.loads((seed / student / "kard_hf.json").read_text())
        assert spec["method"] == method and spec["chat_format"] == {
            "prefix": "<|im_start|>user\n", "separator": "<|im_end|>\n<|im_start|>assistant\n", "end": "<|im_end|>"}
        assert json.loads((seed / student / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
        card = (seed / student / "README.md").read_text()
        assert "A decoder-only student" in card and "the prompt is the user turn" in card
    read = [json.loads(line) for line in (seed / "eval" / "test" / "decoder-only-kard-reranker" / "predictions.jsonl").open()]
    assert read and all(len(row["passage_ids"]) == PASSAGES for row in read)
    assert {"decoder init", "decoder pretraining"} <= set(results["seconds_per_step"])
    # a second run reuses every step, and results.json keeps what each step cost when it ran
    assert main(["quickstart", "--preset", "fast", "--output_dir", str(tmp_path)]) == 0
    again = json.loads((tmp_path / "results.json").read_text())
    assert not any(again["seconds_per_step"].values()) and again["seconds_per_seed"] == results["seconds_per_seed"]
    assert again["seconds_per_seed"]["0"]["train decoder-kard"] > 0 and again["accuracy"] == results["accuracy"]
    ft_state = json.loads((seed / "ft" / "trainer_state.json").read_text())
    assert f"- steps: {ft_state['global_step']}\n" in (seed / "ft" / "README.md").read_text()
    manifest = json.loads((seed / "processed" / "kard_hf.json").read_text())
    assert manifest["teacher"]["kind"] == "programmatic" and manifest["teacher"]["dropped"] > 0
    from kard_hf.data.store import load_dataset_dict

    test = load_dataset_dict(seed / "processed")[0]["test"]
    silver = {row["id"]: row["silver_ids"][:PASSAGES] for row in test}
    oracle = [json.loads(line) for line in (seed / "eval" / "test" / "kard-oracle-passages" / "predictions.jsonl").open()]
    assert [row["passage_ids"] for row in oracle] == [silver[row["id"]] for row in oracle]
    # the teacher's rationales find passages that name the right country (its province's fact or its own passage)
    named = [all(row["options"][row["answer"]] in text for text in row["silver_passages"][:PASSAGES]) for row in test]
    assert sum(named) >= 0.9 * len(named)
    assert (tmp_path / "results.png").stat().st_size > 1000
    assert "| KARD (reranker)" in out and "seen entities (%)" in out and "Finished in" in out
    assert "fast preset: it checks the plumbing, not accuracy" in out
    assert set(results["versions"]) == {"kard_hf", "torch", "transformers", "tokenizers", "datasets", "peft"}
    # the thread count and CPU kernels move the weights as much as a version can (docs/quickstart.md)
    assert results["float_path"]["threads"] == 1 and results["float_path"]["cpu_capability"]  # every step, any machine
    # steps side by side (one per core): the seed's wall time is at most the sum of its steps' seconds
    assert 0 < results["wall_seconds_per_seed"]["0"] <= sum(results["seconds_per_seed"]["0"].values()) + 1e-6
    assert (seed / ".steps" / "train-kard.log").is_file()
    # the docs' tables are written from results.json by benchmarks/quickstart_tables.py
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- results:fast -->\nstale\n<!-- /results:fast -->\nafter\n")
    quickstart_tables.main(str(tmp_path / "results.json"), str(doc), "fast")
    written = doc.read_text()
    assert "stale" not in written and written.startswith("before\n") and written.endswith("after\n")
    assert "| KARD (BM25) | " in written and f"transformers {results['versions']['transformers']}" in written
    assert "1 thread a step" in written
    assert f"seed 0 {results['wall_seconds_per_seed']['0'] / 60:.1f} min" in written


def test_the_measured_times_are_stated_alike_in_help_readme_and_docs():
    """The full and fast presets' times (measured, docs/quickstart.md "Results") read the same in `--help`, the
    README and docs/quickstart.md."""
    import re

    from kard_hf.benchmark.quickstart import make_quickstart_parser

    root = Path(__file__).parent.parent
    usage = " ".join(make_quickstart_parser().format_help().split())
    full, fast = re.search(r"full \(.*?: ([\d.]+) min on 2 cores, measured\) or fast \(.*?; (\d+) s on 2 cores", usage).groups()
    readme = " ".join((root / "README.md").read_text().split())
    assert f"One run takes **{full} minutes** on 2 cores" in readme and f"checks the plumbing and not accuracy, {fast} s" in readme
    assert f"table on seen and held-out entities in {full} min on 2 cores" in readme
    docs = (root / "docs" / "quickstart.md").read_text()
    assert f"# {full} min on 2 cores (measured, \"Results\"); --preset fast: {fast} s" in docs
    assert f"near-chance numbers are expected. {fast} s on this machine" in " ".join(docs.split())
