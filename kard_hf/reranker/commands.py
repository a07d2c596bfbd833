"""``kard-hf train-reranker``: build candidate sets from a processed dataset and its KB, train, evaluate, save.

Checkpoints go to ``output_dir/checkpoint-*`` (``--resume_from_checkpoint`` resumes); the final model
(LoRA merged, tokenizer, model card, kard_hf_model.json) is saved to ``output_dir`` by the Trainer, which
also pushes it to ``hub_model_id`` when ``push_to_hub`` is set, as for every kard_hf trainer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from transformers.trainer_utils import IntervalStrategy

from ..arguments import parse_args
from ..consistency import check_knowledge_base
from ..data.processed import TRAIN_SPLIT
from ..data.store import load_dataset_dict
from ..errors import ConfigError
from ..resume import resolve_checkpoint
from .candidates import build_candidates
from .metrics import format_comparison
from .modeling import KardRerankerModel
from .trainer import RerankerTrainer, RerankerTrainingArguments, apply_lora

logger = logging.getLogger(__name__)


@dataclass
class RerankerModelArguments:
    backbone: str = field(default="michiyasunaga/LinkBERT-base", metadata={
        "help": "BERT-like encoder to start from: a folder or a Hub id (LinkBERT, BioLinkBERT, MiniLM...)."})
    projection_dim: int = field(default=128, metadata={"help": "Size of the per-token embeddings."})
    normalize: bool = field(default=True, metadata={"help": "L2-normalise token embeddings (ColBERT); see tau2."})

    def __post_init__(self):
        if self.projection_dim < 1:
            raise ConfigError("projection_dim must be positive", field="projection_dim")


@dataclass
class RerankerDataArguments:
    dataset: str = field(default=None, metadata={"help": "Processed DatasetDict (kard-hf augment): folder or Hub id."})
    knowledge_base: str = field(default=None, metadata={"help": "The knowledge base the dataset was augmented "
                                                                "with: folder or Hub id."})
    eval_split: str = field(default="validation", metadata={"help": "Split whose questions with rationales are "
                                                                    "evaluated on; skipped if absent; 'none' to skip."})

    def __post_init__(self):
        for name in ("dataset", "knowledge_base"):
            if not getattr(self, name):
                raise ConfigError(f"--{name} is required", field=name)


def _load_knowledge_base(data_args: RerankerDataArguments, manifest: dict):
    from ..knowledge import KnowledgeBase

    kb = KnowledgeBase.from_pretrained(data_args.knowledge_base)
    check_knowledge_base(kb, manifest, data_args.dataset)
    return kb


def _candidate_splits(data_args: RerankerDataArguments, args: RerankerTrainingArguments):
    dataset_dict, manifest = load_dataset_dict(data_args.dataset)
    if TRAIN_SPLIT not in dataset_dict:
        raise ConfigError(f"the dataset has no {TRAIN_SPLIT!r} split", file=data_args.dataset, field="dataset")
    kb = _load_knowledge_base(data_args, manifest)
    pools = {"rationale_pool": args.rationale_pool, "question_pool": args.question_pool}
    train = build_candidates(dataset_dict[TRAIN_SPLIT], kb, split=TRAIN_SPLIT, **pools)
    eval_dataset = None
    if data_args.eval_split != "none" and data_args.eval_split in dataset_dict:
        rows = dataset_dict[data_args.eval_split].filter(lambda row: bool(row["rationales"]))
        if len(rows):
            eval_dataset = build_candidates(rows, kb, split=data_args.eval_split, **pools)
        else:
            logger.warning("split %r has no rationales: no evaluation", data_args.eval_split)
    return train, eval_dataset


def train_reranker(argv: list[str]) -> None:
    """Train a reranker (METHOD.md step 4), save it to ``output_dir`` and push it if ``push_to_hub``."""
    from transformers import AutoTokenizer, set_seed

    model_args, data_args, args = parse_args(
        [RerankerModelArguments, RerankerDataArguments, RerankerTrainingArguments], argv, prog="kard-hf train-reranker",
        description="Train the KARD reranker: KL between its scores given the question and BM25 given the rationale.")
    resume = resolve_checkpoint(args.resume_from_checkpoint, args.output_dir)
    train, eval_dataset = _candidate_splits(data_args, args)
    if eval_dataset is None and args.eval_strategy != "no":
        logger.warning("no evaluation split with rationales: eval_strategy set to 'no'")
        args.eval_strategy = IntervalStrategy.NO
    tokenizer = AutoTokenizer.from_pretrained(model_args.backbone)
    set_seed(args.seed)  # the projection and the LoRA adapters are initialised here, before the Trainer seeds
    model = KardRerankerModel.from_backbone(model_args.backbone, projection_dim=model_args.projection_dim,
                                            normalize=model_args.normalize)
    if args.use_lora:
        model = apply_lora(model, args)
    trainer = RerankerTrainer(model=model, args=args, train_dataset=train, eval_dataset=eval_dataset,
                              processing_class=tokenizer, base_model=model_args.backbone, dataset_name=data_args.dataset)
    trainer.train(resume_from_checkpoint=resume)
    metrics = trainer.evaluate() if eval_dataset is not None else None
    if args.use_lora:
        trainer.model = trainer.model.merge_and_unload()  # the saved and pushed reranker is one plain model
    trainer.save_model()  # card and spec too; pushes when push_to_hub is set
    if trainer.is_world_process_zero():
        print(f"reranker saved to {args.output_dir}" + (f"\n{format_comparison(metrics, prefix='eval_')}" if metrics else ""))
