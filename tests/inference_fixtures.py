"""What the inference tests build through the real commands: a knowledge base over the fixture corpus and a
processed dataset augmented from the released-layout MedQA fixtures."""

from kard_hf.cli import main


def ok(*argv) -> None:
    """Run a kard-hf command; it must succeed."""
    assert main([str(a) for a in argv]) == 0, argv


def build_kb_and_processed(root, fixtures_dir) -> None:
    """``root/kb`` and ``root/processed`` (3 train passages, 6 candidates, 2 silver passages)."""
    ok("build-kb", "--corpus", fixtures_dir / "corpus.jsonl", "--output_dir", root / "kb")
    ok("augment", "--knowledge_base", root / "kb", "--train_file", fixtures_dir / "medqa_usmle_hf_train.jsonl",
       "--train_rationales", fixtures_dir / "rationales", "--test_file", fixtures_dir / "medqa_usmle_hf_test.jsonl",
       "--test_rationales", fixtures_dir / "test_rationales.jsonl", "--candidates", 6, "--silver_passages", 2,
       "--train_passages", 3, "--output_dir", root / "processed")
