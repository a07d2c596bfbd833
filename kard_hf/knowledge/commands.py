"""``kard-hf build-kb``, ``kard-hf augment`` and ``kard-hf merge-shards``."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..parsing import make_parser
from ..data.arguments import QuestionDataArguments
from ..data.store import load_dataset_dict, push_dataset_dict, save_dataset_dict
from ..errors import ConfigError, KnowledgeBaseError
from ..fileio import atomic_path, check_output, claim_output
from ..hub import HubDatasetArguments
from .augment import augment_splits
from ..bm25.build import CHUNK_SIZE
from ..bm25.corpus import CORPUS_FORMATS, CorpusColumns, iter_corpus
from .kb import BM25Parameters, KnowledgeBase
from ..launcher import gather_to_first, join_launcher, launcher_rank, leave_launcher
from .shards import merge_datasets

logger = logging.getLogger(__name__)


@dataclass
class OutputArguments:
    """Where an artifact goes locally (the Hub repository: :class:`~kard_hf.hub.HubDatasetArguments`)."""

    output_dir: str = field(metadata={"help": "Folder to write (replaced atomically when complete)."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace an existing output folder."})

    def __post_init__(self):
        if Path(self.output_dir).exists() and not self.overwrite_output_dir:
            raise ConfigError("already exists; pass --overwrite_output_dir to replace it", file=self.output_dir)


@dataclass
class CorpusArguments:
    """The passage corpus to index."""

    corpus: str = field(metadata={"help": "Passages: a JSONL/CSV/TSV file (DPR's psgs_w100.tsv works), a DatasetDict folder or a Hub id."})
    corpus_format: str = field(default="auto", metadata={"help": f"One of {', '.join(CORPUS_FORMATS)}."})
    corpus_split: str = field(default="train", metadata={"help": "Split of a datasets corpus."})
    id_column: str = field(default="id", metadata={"help": "Passage id column."})
    text_column: str = field(default="text", metadata={"help": "Passage text column."})
    title_column: str = field(default="title", metadata={"help": "Passage title column (optional in the data)."})
    num_proc: int = field(default=-1, metadata={"help": "Tokenizer processes (-1: every core)."})
    chunk_size: int = field(default=CHUNK_SIZE, metadata={"help": "Passages read and tokenized at a time (bounds memory)."})


@dataclass
class AugmentArguments:
    """Retrieval settings of ``augment`` (METHOD.md steps 2 and 5)."""

    knowledge_base: str = field(metadata={"help": "A knowledge-base folder (kard-hf build-kb) or Hub id."})
    train_passages: int = field(default=5, metadata={"help": "Passages stored per train row, retrieved with the rationale (a trainer uses the first k)."})
    candidates: int = field(default=100, metadata={"help": "κ*: candidates stored per eval question, retrieved with the question."})
    silver_passages: int = field(default=5, metadata={"help": "Oracle passages stored per eval question, retrieved with its first rationale."})
    num_threads: int = field(default=-1, metadata={"help": "Search processes (-1: every core; under a launcher, the cores shared by the ranks on this machine)."})
    num_shards: int = field(default=1, metadata={"help": "Split the questions into this many shards (one per machine); join them with 'kard-hf merge-shards'."})
    shard_index: int = field(default=0, metadata={"help": "Which shard this run writes (0 to num_shards - 1)."})
    rationale_pool: int = field(default=32, metadata={"help": "Reranker pools: BM25 top-k by rationale stored per row for kard-hf train-reranker (0: no pools)."})
    question_pool: int = field(default=32, metadata={"help": "Reranker pools: BM25 top-k by question added to each pool."})

    def __post_init__(self):
        for name in ("train_passages", "candidates", "silver_passages", "num_shards"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.shard_index < self.num_shards:
            raise ConfigError(f"--shard_index must be in 0..{self.num_shards - 1}, got {self.shard_index}")
        if self.rationale_pool < 0 or self.question_pool < 0:
            raise ConfigError("--rationale_pool and --question_pool must not be negative", field="rationale_pool")


@dataclass
class MergeArguments:
    """The shard folders written by ``kard-hf augment --num_shards N --shard_index i``."""

    shards: list[str] = field(metadata={"help": "Every shard's output folder (any order)."})


def make_build_kb_parser():
    return make_parser((CorpusArguments, BM25Parameters, OutputArguments, HubDatasetArguments), prog="kard-hf build-kb")


def build_kb(corpus_args: CorpusArguments, parameters: BM25Parameters, output: OutputArguments,
             hub: HubDatasetArguments) -> KnowledgeBase:
    """Index a passage corpus with BM25 and save (and optionally push) the knowledge base."""
    claim_output(output.output_dir, overwrite=output.overwrite_output_dir, inputs=(corpus_args.corpus,))
    columns = CorpusColumns(corpus_args.id_column, corpus_args.text_column, corpus_args.title_column)
    passages = iter_corpus(corpus_args.corpus, corpus_args.corpus_format, columns=columns, split=corpus_args.corpus_split)
    with atomic_path(output.output_dir) as tmp:
        try:
            kb = KnowledgeBase.build_folder(tmp, ((i, title, text) for _, i, title, text in passages), parameters,
                                            num_proc=corpus_args.num_proc, chunk_size=corpus_args.chunk_size)
        except KnowledgeBaseError as e:
            if e.file is not None:
                raise
            raise KnowledgeBaseError(e.message, file=corpus_args.corpus, row=e.row, field=e.field) from None
    kb = KnowledgeBase.load(output.output_dir)
    print(f"Knowledge base of {len(kb)} passages written to {output.output_dir} (fingerprint {kb.fingerprint[:12]})")
    if hub.push_to_hub:
        print(f"Pushed: {kb.push_to_hub(hub.hub_dataset_id, private=hub.hub_private_repo)}")
    return kb


def make_augment_parser():
    return make_parser((QuestionDataArguments, AugmentArguments, OutputArguments, HubDatasetArguments),
                       prog="kard-hf augment")


def augment(data_args: QuestionDataArguments, augment_args: AugmentArguments, output: OutputArguments,
            hub: HubDatasetArguments) -> None:
    """Retrieve passages for every split and save the processed DatasetDict."""
    rank, world = launcher_rank()
    if world > 1 and augment_args.num_shards > 1:
        raise ConfigError("under torchrun or accelerate launch every rank is a shard of its own: drop --num_shards",
                          field="num_shards")
    inputs = (augment_args.knowledge_base, *data_args.input_paths())
    if rank == 0:
        claim_output(output.output_dir, overwrite=output.overwrite_output_dir, inputs=inputs)
    else:  # the same check as rank 0's, so that every rank stops on a bad output folder
        check_output(output.output_dir, overwrite=output.overwrite_output_dir, inputs=inputs)
    if world > 1:
        join_launcher()
    kb = KnowledgeBase.from_pretrained(augment_args.knowledge_base)
    splits, source_manifest = data_args.load()
    out = Path(output.output_dir)
    # searches done so far (one journal a rank): a rerun after a kill resumes here
    journal = out.with_name(f".{out.name}.journal" + (f"-rank{rank}-of-{world}" if world > 1 else ""))
    shard = (rank, world) if world > 1 else (augment_args.shard_index, augment_args.num_shards)
    num_threads = augment_args.num_threads
    if num_threads == -1 and world > 1:  # the ranks on this machine share its cores
        num_threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    dataset_dict, manifest = augment_splits(splits, kb, train_passages=augment_args.train_passages,
                                            candidates=augment_args.candidates,
                                            silver_passages=augment_args.silver_passages,
                                            num_threads=num_threads, teacher=source_manifest.get("teacher"),
                                            rationale_filter=source_manifest.get("rationale_filter"),
                                            validation_from_train=source_manifest.get("validation_from_train"),
                                            journal=journal, shard=shard, rationale_pool=augment_args.rationale_pool,
                                            question_pool=augment_args.question_pool)
    if world > 1:  # rank 0 merges every rank's shard, checking that each question is there exactly once
        shards = gather_to_first((dataset_dict, manifest))
        if rank:  # the journal stays until rank 0 has saved: a failed merge or save resumes from it
            leave_launcher()
            shutil.rmtree(journal, ignore_errors=True)
            return
        dataset_dict, manifest = merge_datasets([(f"rank {i}", *shard) for i, shard in enumerate(shards)],
                                                record=False)
    save_dataset_dict(dataset_dict, manifest, output.output_dir, card_template="processed_dataset",
                      hub_id=hub.hub_dataset_id if hub.push_to_hub else None)
    if world > 1:
        leave_launcher()
    shutil.rmtree(journal, ignore_errors=True)
    sizes = ", ".join(f"{split} {len(dataset)}" for split, dataset in dataset_dict.items())
    print(f"Processed dataset ({sizes} rows) written to {output.output_dir}")
    if hub.push_to_hub:
        url = push_dataset_dict(dataset_dict, manifest, hub.hub_dataset_id, card_template="processed_dataset",
                                private=hub.hub_private_repo)
        print(f"Pushed: {url}")


def make_merge_shards_parser():
    return make_parser((MergeArguments, OutputArguments), prog="kard-hf merge-shards")


def merge_shards(merge_args: MergeArguments, output: OutputArguments) -> None:
    """Join the shards of a sharded ``augment`` into one processed DatasetDict, checking every question."""
    claim_output(output.output_dir, overwrite=output.overwrite_output_dir, inputs=tuple(merge_args.shards))
    shards = [(name, *load_dataset_dict(name)) for name in merge_args.shards]
    dataset_dict, manifest = merge_datasets(shards)
    save_dataset_dict(dataset_dict, manifest, output.output_dir, card_template="processed_dataset")
    sizes = ", ".join(f"{split} {len(dataset)}" for split, dataset in dataset_dict.items())
    print(f"{len(shards)} shards merged ({sizes} rows) into {output.output_dir}")
