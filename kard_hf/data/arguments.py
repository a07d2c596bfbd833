"""Where a command's questions come from: files in an original format, a dataset folder or a Hub id (plus
rationales, filtered), and an optional validation split carved from train by question."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace

from ..errors import ConfigError
from .loaders import FORMATS, ColumnMapping, load_mcq, load_mcq_splits
from .rationales import match_rationales, read_rationales
from .schema import MCQExample
from .store import read_manifest

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
FILTERS = ("answer", "verifier", "none")


@dataclass
class FilterArguments:
    """Which rationales to keep: the same options on ``kard-hf rationales`` and on ``kard-hf augment``."""

    filter: str = field(default="answer", metadata={"help": "answer (keep a rationale whose parsed answer is the gold one), verifier (ask --verifier_model) or none (keep all, even contradicting ones)."})
    verifier_model: str | None = field(default=None, metadata={"help": "Seq2seq or causal LM that reads the letter after 'So, the answer is' (the released KARD code: google/flan-t5-large)."})
    verifier_batch_size: int = field(default=8, metadata={"help": "Verifier batch size (question-option pairs)."})

    def __post_init__(self):
        if self.filter not in FILTERS:
            raise ConfigError(f"unknown filter {self.filter!r}; expected {', '.join(FILTERS)}", field="filter")
        if self.filter == "verifier" and not self.verifier_model:
            raise ConfigError("--filter verifier needs --verifier_model", field="verifier_model")

    def make_filter(self):
        """The judge (:mod:`kard_hf.data.filtering`); a verifier model is loaded here."""
        from .filtering import make_filter

        return make_filter(self.filter, self.verifier_model, batch_size=self.verifier_batch_size)


def parse_extra_splits(items: list[str]) -> dict[str, str]:
    """``["test_seen=path", ...]`` → ``{"test_seen": "path"}``; a malformed, reserved or repeated name is an error."""
    extra = {}
    for item in items:
        name, _, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not name.isidentifier() or not path:
            raise ConfigError(f"extra split {item!r} is not NAME=FILE (NAME a word like test_seen)", field="extra_splits")
        if name in SPLITS:
            raise ConfigError(f"extra split {name!r}: use --{name}_file for the {name} split", field="extra_splits")
        if name in extra:
            raise ConfigError(f"extra split {name!r} is given twice", field="extra_splits")
        extra[name] = path
    return extra


@dataclass
class QuestionArguments:
    """Questions from ``--dataset`` (every split of a dataset folder or Hub id) or from per-split files."""

    dataset: str | None = field(default=None, metadata={"help": "A dataset folder or Hub id, every split of it: the canonical columns (id, stem, options, answer, rationales; what kard-hf rationales writes) or any --dataset_format, e.g. GBaker/MedQA-USMLE-4-options with medqa."})
    dataset_config: str | None = field(default=None, metadata={"help": "Config of a Hub dataset (default: the format's, e.g. main for openbookqa)."})
    train_file: str | None = field(default=None, metadata={"help": "Train questions: a .jsonl/.json/.csv/.parquet file, a dataset folder or a Hub id (its train split)."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation questions."})
    test_file: str | None = field(default=None, metadata={"help": "Test questions."})
    extra_splits: list[str] = field(default_factory=list, metadata={"help": "More test splits as NAME=FILE (e.g. test_seen=benchmark/test_seen.jsonl), each read like --test_file and retrieved for like test."})
    dataset_format: str = field(default="auto", metadata={"help": f"Format of the questions: {', '.join(FORMATS)} (docs/data-format.md)."})
    id_column: str | None = field(default=None, metadata={"help": "Format columns: the id column (default: 'id' if the rows have it, else row numbers)."})
    question_column: str = field(default="question", metadata={"help": "Format columns: the question column."})
    options_column: str = field(default="options", metadata={"help": "Format columns: the column holding the list of options."})
    answer_column: str | None = field(default=None, metadata={"help": "Format columns: the answer column, an index, letter or option text (default: 'answer' if the rows have it, else unlabeled)."})
    validation_from_train: float = field(default=0.0, metadata={"help": "Move this fraction of the train questions, each with all its rationales, into a new validation split (0: none)."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the questions --validation_from_train draws."})

    def __post_init__(self):
        self.extra_files = parse_extra_splits(self.extra_splits)
        files = [getattr(self, f"{split}_file") for split in SPLITS] + list(self.extra_files.values())
        if self.dataset is None and not any(files):
            raise ConfigError("no questions: pass --dataset or at least one of --train_file, --validation_file, --test_file")
        if self.dataset is not None and any(files):
            raise ConfigError("pass either --dataset or per-split files, not both")
        if not 0 <= self.validation_from_train < 1:
            raise ConfigError(f"validation_from_train must be in [0, 1), got {self.validation_from_train}",
                              field="validation_from_train")

    def input_paths(self) -> list[str]:
        """Every path questions (and rationales) are read from: what an output folder must not replace."""
        files = [self.dataset, *(getattr(self, f"{split}_file") for split in SPLITS), *self.extra_files.values()]
        return [path for path in files if path]

    def _columns(self) -> ColumnMapping | None:
        mapping = ColumnMapping(id=self.id_column, question=self.question_column, options=self.options_column,
                                answer=self.answer_column)
        return mapping if mapping.is_generic else None

    def load(self) -> tuple[dict[str, list[MCQExample]], dict]:
        """``({split: examples}, manifest)``: the manifest is the saved dataset's (empty for plain files), plus
        what loading did (``validation_from_train``; ``rationale_filter`` for imported rationales)."""
        splits, manifest = self._questions()
        splits, manifest = self._with_rationales(splits, manifest)
        return self._carve_validation(splits, manifest)

    def _questions(self) -> tuple[dict[str, list[MCQExample]], dict]:
        source = dict(format=self.dataset_format, columns=self._columns(), config=self.dataset_config)
        if self.dataset is not None:
            return load_mcq_splits(self.dataset, **source), read_manifest(self.dataset)
        files = {split: path for split in SPLITS if (path := getattr(self, f"{split}_file"))}
        return {split: load_mcq(path, split=split, **source) for split, path in {**files, **self.extra_files}.items()}, {}

    def _with_rationales(self, splits, manifest):
        return splits, manifest

    def _carve_validation(self, splits, manifest):
        """Move a seeded draw of train *questions* (rationales travel with them) into a validation split."""
        if not self.validation_from_train:
            return splits, manifest
        if "train" not in splits or "validation" in splits:
            raise ConfigError("--validation_from_train needs train questions and no validation split",
                              field="validation_from_train")
        train = splits["train"]
        count = round(len(train) * self.validation_from_train)
        if not 1 <= count < len(train):
            raise ConfigError(f"--validation_from_train {self.validation_from_train} of {len(train)} train questions "
                              f"leaves {count} for validation", field="validation_from_train")
        held = set(random.Random(self.split_seed).sample([e.id for e in train], count))
        splits = {**splits, "train": [e for e in train if e.id not in held],
                  "validation": [e for e in train if e.id in held]}
        splits = {split: splits[split] for split in dict.fromkeys(["train", "validation", *splits])}
        record = {"fraction": self.validation_from_train, "seed": self.split_seed, "questions": count,
                  "grouped_by": "question"}
        return splits, {**manifest, "validation_from_train": record}


@dataclass
class QuestionDataArguments(QuestionArguments, FilterArguments):
    """Questions plus teacher rationales from files (released KARD JSON folders or JSONL), per split.

    Every rationale goes through ``--filter`` (:mod:`kard_hf.data.filtering`) except those of a
    ``--dataset`` whose manifest records that ``kard-hf rationales`` filtered them already.
    """

    train_rationales: str | None = field(default=None, metadata={"help": "Rationales for the train questions: a folder of released KARD JSON files (00000.json is row 0) or a JSONL file with ids."})
    validation_rationales: str | None = field(default=None, metadata={"help": "Rationales for the validation questions (for the oracle)."})
    test_rationales: str | None = field(default=None, metadata={"help": "Rationales for the test questions (for the oracle)."})

    def __post_init__(self):
        QuestionArguments.__post_init__(self)
        FilterArguments.__post_init__(self)

    def input_paths(self) -> list[str]:
        return QuestionArguments.input_paths(self) + [path for split in SPLITS
                                                      if (path := getattr(self, f"{split}_rationales"))]

    def _with_rationales(self, splits, manifest):
        from .filtering import filter_rationales

        for split in SPLITS:
            if getattr(self, f"{split}_rationales") and split not in splits:
                raise ConfigError(f"--{split}_rationales given without {split} questions")
        filtered_before = bool((manifest.get("teacher") or {}).get("filter"))
        sources, counts, judge = {}, {}, None
        for split, examples in splits.items():
            path = getattr(self, f"{split}_rationales", None)
            samples = {} if filtered_before else {e.id: list(e.rationales) for e in examples if e.rationales}
            sources[split] = [self.dataset or getattr(self, f"{split}_file")] if samples else []
            if path:
                for question_id, texts in match_rationales(examples, read_rationales(path), source=path).items():
                    samples.setdefault(question_id, []).extend(texts)
                sources[split].append(path)
            if not samples:
                continue
            judge = judge or self.make_filter()
            kept, counts[split] = filter_rationales(examples, samples, judge)
            if filtered_before:  # the dataset's own rationales stay, in front of the kept imported ones
                kept = [replace(k, rationales=e.rationales + k.rationales) if e.id in samples else k
                        for e, k in zip(examples, kept)]
            splits[split] = kept
            c = counts[split]
            logger.info("%s: the %s filter kept %d and dropped %d rationales; %d question(s) kept none", split,
                        self.filter, c.kept, c.dropped, c.questions_without_rationale)
        if not counts:
            return splits, manifest
        record = {"filter": judge.describe(), "sources": {split: sources[split] for split in counts},
                  "splits": {split: c.to_dict() for split, c in counts.items()},
                  "kept": sum(c.kept for c in counts.values()), "dropped": sum(c.dropped for c in counts.values())}
        return splits, {**manifest, "rationale_filter": record}

