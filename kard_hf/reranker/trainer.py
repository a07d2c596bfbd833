"""Training the reranker: its arguments dataclass, LoRA wrapping and a Trainer whose loss is KL to BM25.

The Trainer saves and pushes through its own paths; :class:`~kard_hf.hub.HubCardMixin` adds the card
(hub_cards/reranker.md.j2) and ``kard_hf.json`` on every save and push.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import Trainer, TrainerCallback, TrainingArguments

from ..errors import ConfigError
from ..hardware import HardwareDefaults
from ..hub import HubCardMixin
from ..lora import LoraArguments, get_peft_config, peft_wrapping
from .collator import RerankerCollator
from .candidates import CandidateSampler
from .losses import DEFAULT_TAU1, DEFAULT_TAU2, LOSS_TYPES, BM25DistillationLoss
from .metrics import evaluate_reranker, format_comparison
from .rerank import RERANKER_SPEC, Reranker, reranker_card


@dataclass
class RerankerTrainingArguments(HardwareDefaults, TrainingArguments):
    """TrainingArguments plus the reranker's loss, candidate sampling, lengths and LoRA options.

    Hardware-dependent defaults (fused AdamW, TF32, workers, no unused-parameter search) come from
    :class:`kard_hf.hardware.HardwareDefaults`: the model has no pooler, every trainable parameter is used.
    """

    tau1: float = field(default=DEFAULT_TAU1, metadata={"help": "Temperature of the BM25-by-rationale target (> 0)."})
    tau2: float = field(default=DEFAULT_TAU2, metadata={"help": "Temperature of the reranker's scores (> 0)."})
    loss_type: str = field(default="kl", metadata={"help": "kl: KL(target || model) as in the paper; ce: "
                                                           "cross-entropy on BM25's best candidate."})
    rationale_pool: int | None = field(default=None, metadata={
        "help": "BM25 top-k by rationale in each candidate pool (default: the pools augment stored; at most those)."})
    question_pool: int | None = field(default=None, metadata={
        "help": "BM25 top-k by question in each candidate pool (default: as stored; at most that)."})
    rationale_samples: int = field(default=4, metadata={"help": "Rationale-pool candidates drawn per step."})
    question_samples: int = field(default=4, metadata={"help": "Question-pool candidates drawn per step."})
    query_max_length: int = field(default=256, metadata={"help": "Question tokens kept (longer ones truncated)."})
    passage_max_length: int = field(default=256, metadata={"help": "Passage tokens kept (longer ones truncated)."})
    train_passage_encoder: bool = field(default=True, metadata={"help": "Backpropagate through the passage "
                                        "encodings; false encodes passages under no_grad (only the question side learns)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep the text columns: the collator "
                                                                         "tokenizes them."})

    def __post_init__(self):
        self.resolve_hardware_defaults()
        super().__post_init__()
        if self.tau1 <= 0 or self.tau2 <= 0:
            raise ConfigError(f"tau1 and tau2 must be positive (got {self.tau1}, {self.tau2})", field="tau1")
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"loss_type must be one of {', '.join(LOSS_TYPES)}", field="loss_type")
        rationale_pool, question_pool = self.rationale_pool or 1, self.question_pool or 0  # None: as stored
        if min(rationale_pool, self.rationale_samples) < 1 or min(question_pool, self.question_samples) < 0:
            raise ConfigError("pools and samples must be >= 0, with at least one rationale candidate",
                              field="rationale_samples")
        if self.rationale_samples + self.question_samples < 2:
            raise ConfigError("draw at least 2 candidates per step", field="question_samples")
        if self.remove_unused_columns:
            raise ConfigError("the reranker's collator needs the text columns: keep remove_unused_columns false",
                              field="remove_unused_columns")


def apply_lora(model, lora_args: LoraArguments):
    """Wrap ``model`` with LoRA on ``lora_args.lora_target_modules``; the projection stays fully trainable."""
    from peft import get_peft_model

    with peft_wrapping():
        return get_peft_model(model, get_peft_config(lora_args, modules_to_save=["projection"]))


class _SamplerEpoch(TrainerCallback):
    """Tells the candidate sampler which epoch begins (a resumed run: the epoch of its checkpoint)."""

    def __init__(self, sampler: CandidateSampler):
        self.sampler = sampler

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.sampler.epoch = int(state.epoch or 0)


CARD_ARGUMENTS = ("tau1", "tau2", "loss_type", "rationale_pool", "question_pool", "rationale_samples", "question_samples",
                  "learning_rate", "train_passage_encoder")


class RerankerTrainer(HubCardMixin, Trainer):
    """A Trainer for :class:`KardRerankerModel` on rows of :func:`build_candidates`.

    Training rows are subsampled per step by :class:`CandidateSampler`; ``evaluate`` ranks the full
    candidate sets of the eval rows and reports Hits@k/MRR next to BM25 with the question.
    ``base_model`` (the backbone's folder or Hub id), ``dataset_name`` and ``lora_args`` (the LoRA options it
    trained with; default: whether the model is a peft adapter) go into the model card.
    """

    args: RerankerTrainingArguments

    def __init__(self, model=None, args: RerankerTrainingArguments | None = None, train_dataset=None,
                 eval_dataset=None, processing_class=None, data_collator=None, *, base_model: str | None = None,
                 dataset_name: str | None = None, lora_args: LoraArguments | None = None, **kwargs):
        if not isinstance(args, RerankerTrainingArguments):
            raise ConfigError("RerankerTrainer needs RerankerTrainingArguments (temperatures, pools, lengths)")
        if data_collator is None:
            data_collator = RerankerCollator(processing_class, args.query_max_length, args.passage_max_length)
        sampler = CandidateSampler(args.rationale_samples, args.question_samples, seed=args.seed)
        if train_dataset is not None:
            train_dataset = train_dataset.with_transform(sampler)
        super().__init__(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                         processing_class=processing_class, data_collator=data_collator, **kwargs)
        self.add_callback(_SamplerEpoch(sampler))
        self.loss_fn = BM25DistillationLoss(args.tau1, args.tau2, args.loss_type)
        self.base_model, self.dataset_name, self.lora_args = base_model, dataset_name, lora_args

    def hub_spec(self) -> dict:
        return RERANKER_SPEC

    def hub_card(self, model_name: str):
        args = self.args
        lora = self.lora_args or LoraArguments(use_lora=self.is_adapter())
        training = {**{name: getattr(args, name) for name in CARD_ARGUMENTS}, **self.run_facts(),
                    "batch_size": args.per_device_train_batch_size, "use_lora": lora.use_lora, "lora_r": lora.lora_r}
        evaluations = [entry for entry in self.state.log_history if any(k.startswith("eval_reranker_") for k in entry)]
        metrics = {k: v for k, v in evaluations[-1].items() if k.startswith("eval_")} if evaluations else None
        return reranker_card(self.accelerator.unwrap_model(self.model).config, model_name=model_name,
                             base_model=self.base_model, dataset=self.dataset_name, training=training, metrics=metrics,
                             repo_id=self.hub_id, is_adapter=self.is_adapter())

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs, freeze_passages=not self.args.train_passage_encoder)
        loss = self.loss_fn(outputs.scores, labels, inputs["candidate_index"] >= 0)
        return (loss, outputs) if return_outputs else loss

    def reranker(self) -> Reranker:
        """The model being trained, wrapped for scoring (a fresh passage cache each call)."""
        return Reranker(self.accelerator.unwrap_model(self.model), self.processing_class,
                        batch_size=self.args.per_device_eval_batch_size,
                        query_max_length=self.args.query_max_length, passage_max_length=self.args.passage_max_length)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Hits@1/3/5/10 and MRR of the rationale's best passage, reranker vs BM25 by question; logged and printed."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        metrics = {f"{metric_key_prefix}_{name}": value
                   for name, value in evaluate_reranker(self.reranker(), dataset).items()}
        self.log(dict(metrics))  # a copy: log() adds the epoch to what it is given
        if self.is_world_process_zero():
            print(format_comparison(metrics, prefix=f"{metric_key_prefix}_"))
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics
