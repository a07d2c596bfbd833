"""Where a command's questions come from: files in an original format or a saved/Hub dataset (plus rationales)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from .loaders import FORMATS, ColumnMapping, load_mcq
from .rationales import attach_rationales, read_rationales
from .schema import MCQExample
from .store import load_dataset_dict

SPLITS = ("train", "validation", "test")


@dataclass
class QuestionArguments:
    """Questions from ``--dataset`` (a DatasetDict folder or Hub id with the canonical columns, e.g. what
    ``kard-hf rationales`` writes) or from per-split files in an original format."""

    dataset: str | None = field(default=None, metadata={"help": "A DatasetDict folder or Hub id (canonical columns id, stem, options, answer, rationales)."})
    train_file: str | None = field(default=None, metadata={"help": "Train questions (JSONL, JSON, CSV, or a DatasetDict folder) in --dataset_format."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation questions."})
    test_file: str | None = field(default=None, metadata={"help": "Test questions."})
    dataset_format: str = field(default="auto", metadata={"help": f"Format of the question files: {', '.join(FORMATS)}."})
    id_column: str = field(default="id", metadata={"help": "Generic formats: the id column."})
    question_column: str = field(default="question", metadata={"help": "Generic formats: the question column."})
    options_column: str = field(default="options", metadata={"help": "Generic formats: the column holding the list of options."})
    answer_column: str = field(default="answer", metadata={"help": "Generic formats: the answer column (index, letter or option text)."})

    def __post_init__(self):
        files = [getattr(self, f"{split}_file") for split in SPLITS]
        if self.dataset is None and not any(files):
            raise ConfigError("no questions: pass --dataset or at least one of --train_file, --validation_file, --test_file")
        if self.dataset is not None and any(files):
            raise ConfigError("pass either --dataset or per-split files, not both")

    def _columns(self) -> ColumnMapping | None:
        mapping = ColumnMapping(id=self.id_column, question=self.question_column, options=self.options_column,
                                answer=self.answer_column)
        return None if mapping == ColumnMapping() else mapping

    def load(self) -> tuple[dict[str, list[MCQExample]], dict]:
        """``({split: examples}, manifest)``; the manifest is the saved dataset's (empty for plain files)."""
        if self.dataset is not None:
            dataset_dict, manifest = load_dataset_dict(self.dataset)
            return {split: load_mcq(self.dataset, "datasets", split=split, columns=self._columns())
                    for split in dataset_dict}, manifest
        return {split: load_mcq(path, self.dataset_format, split=split, columns=self._columns())
                for split in SPLITS if (path := getattr(self, f"{split}_file"))}, {}


@dataclass
class QuestionDataArguments(QuestionArguments):
    """Questions plus teacher rationales from files (released KARD JSON folders or JSONL), per split."""

    train_rationales: str | None = field(default=None, metadata={"help": "Rationales for the train questions: a folder of released KARD JSON files or a JSONL file."})
    validation_rationales: str | None = field(default=None, metadata={"help": "Rationales for the validation questions (for the oracle)."})
    test_rationales: str | None = field(default=None, metadata={"help": "Rationales for the test questions (for the oracle)."})

    def load(self) -> tuple[dict[str, list[MCQExample]], dict]:
        splits, manifest = super().load()
        for split in SPLITS:
            rationales = getattr(self, f"{split}_rationales")
            if rationales:
                if split not in splits:
                    raise ConfigError(f"--{split}_rationales given without {split} questions")
                attach_rationales(splits[split], read_rationales(rationales), source=rationales)
        return splits, manifest
