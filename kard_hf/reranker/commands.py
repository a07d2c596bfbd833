"""``kard-hf train-reranker``: build candidate sets from a processed dataset and its KB, train, evaluate, save.

Checkpoints go to ``output_dir/checkpoint-*`` (``--resume_from_checkpoint`` resumes); the final model
(LoRA merged, tokenizer, model card, kard_hf.json) is saved to ``output_dir`` by the Trainer, which
also pushes it to ``hub_model_id`` when ``push_to_hub`` is set, as for every kard_hf trainer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from transformers.trainer_utils import IntervalStrategy

from ..parsing import make_parser
from ..data.processed import TRAIN_SPLIT, check_fingerprints
from ..data.store import load_dataset_dict
from ..errors import ConfigError
from ..lora import LoraArguments
from ..resume import claim_trainer_output, resolve_checkpoint
from .candidates import build_candidates
from .modeling import KardRerankerModel
from .trainer import RerankerTrainer, RerankerTrainingArguments, apply_lora

logger = logging.getLogger(__name__)


@dataclass
class RerankerModelArguments(LoraArguments):
    """The encoder to start from, its projection, and LoRA on it (the released recipe: on, query/value)."""

    use_lora: bool = field(default=True, metadata={"help": "Train LoRA adapters on the encoder (the released "
                                                           "recipe); the projection is always fully trained."})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] | None = field(default_factory=lambda: ["query", "value"], metadata={
        "help": "Encoder modules LoRA adapts (BERT attention query/value)."})
    backbone: str = field(default="michiyasunaga/LinkBERT-base", metadata={
        "help": "BERT-like encoder to start from: a folder or a Hub id (LinkBERT, BioLinkBERT, MiniLM...)."})
    projection_dim: int = field(default=128, metadata={"help": "Size of the per-token embeddings."})
    normalize: bool = field(default=True, metadata={"help": "L2-normalise token embeddings (ColBERT); see tau2."})

    def __post_init__(self):
        super().__post_init__()
        if self.projection_dim < 1:
            raise ConfigError("projection_dim must be positive", field="projection_dim")


@dataclass
class RerankerDataArguments:
    dataset: str = field(default=None, metadata={"help": "Processed DatasetDict (kard-hf augment, which stores the "
                                                         "candidate pools): folder or Hub id."})
    knowledge_base: str | None = field(default=None, metadata={"help": "Optional: the knowledge base the dataset "
                                                                       "was augmented with, checked against it."})
    eval_split: str = field(default="validation", metadata={"help": "Split whose questions with rationales are "
                                                                    "evaluated on; skipped if absent; 'none' to skip."})

    def __post_init__(self):
        if not self.dataset:
            raise ConfigError("--dataset is required", field="dataset")


def _candidate_splits(data_args: RerankerDataArguments, args: RerankerTrainingArguments):
    dataset_dict, manifest = load_dataset_dict(data_args.dataset)
    if TRAIN_SPLIT not in dataset_dict:
        raise ConfigError(f"the dataset has no {TRAIN_SPLIT!r} split", file=data_args.dataset, field="dataset")
    if data_args.knowledge_base:
        from ..knowledge import KnowledgeBase

        check_fingerprints(knowledge_base=KnowledgeBase.from_pretrained(data_args.knowledge_base), manifest=manifest,
                           dataset=data_args.dataset)
    stored = manifest.get("retrieval") or {}
    for name in ("rationale_pool", "question_pool"):  # None: the pools augment stored (recorded in the card)
        if getattr(args, name) is None:
            setattr(args, name, stored.get(name))
    pools = {"rationale_pool": args.rationale_pool, "question_pool": args.question_pool, "stored": stored}
    train = build_candidates(dataset_dict[TRAIN_SPLIT], split=TRAIN_SPLIT, **pools)
    eval_dataset = None
    if data_args.eval_split != "none" and data_args.eval_split in dataset_dict:
        rows = dataset_dict[data_args.eval_split].filter(lambda row: bool(row["rationales"]))
        if len(rows):
            eval_dataset = build_candidates(rows, split=data_args.eval_split, **pools)
        else:
            logger.warning("split %r has no rationales: no evaluation", data_args.eval_split)
    return train, eval_dataset


def make_train_reranker_parser():
    return make_parser([RerankerModelArguments, RerankerDataArguments, RerankerTrainingArguments],
                       prog="kard-hf train-reranker",
                       description="Train the KARD reranker: KL between its scores given the question and BM25 given "
                                   "the rationale.")


def train_reranker(model_args: RerankerModelArguments, data_args: RerankerDataArguments,
                   args: RerankerTrainingArguments) -> None:
    """Train a reranker (METHOD.md step 4), save it to ``output_dir`` and push it if ``push_to_hub``."""
    from transformers import AutoTokenizer, set_seed

    resume = resolve_checkpoint(args.resume_from_checkpoint, args.output_dir)
    claim_trainer_output(args, data_args.dataset, model_args.backbone)
    train, eval_dataset = _candidate_splits(data_args, args)
    if eval_dataset is None and args.eval_strategy != "no":
        logger.warning("no evaluation split with rationales: eval_strategy set to 'no'")
        args.eval_strategy = IntervalStrategy.NO
    tokenizer = AutoTokenizer.from_pretrained(model_args.backbone)
    set_seed(args.seed)  # the projection and the LoRA adapters are initialised here, before the Trainer seeds
    model = KardRerankerModel.from_backbone(model_args.backbone, projection_dim=model_args.projection_dim,
                                            normalize=model_args.normalize)
    if model_args.use_lora:
        model = apply_lora(model, model_args)
    trainer = RerankerTrainer(model=model, args=args, train_dataset=train, eval_dataset=eval_dataset,
                              processing_class=tokenizer, base_model=model_args.backbone, dataset_name=data_args.dataset,
                              lora_args=model_args)
    # the saved and pushed reranker is one plain model: its LoRA adapters are merged
    trainer.train_and_save(resume, merge_lora=model_args.use_lora)
    if trainer.is_world_process_zero():
        print(f"reranker saved to {args.output_dir}")  # its Hits@k table was printed by the evaluation
