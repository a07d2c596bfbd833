"""Arguments of ``kard-hf train`` for ft / rd / kard students: model, data and training dataclasses.

A recipe YAML is their union. Defaults follow the released KARD settings (METHOD.md §1): lr 1e-4,
3 epochs, AdamW, bf16 where the hardware has it (fp32 otherwise), length-grouped batches; and what a GPU
offers (fused AdamW, TF32, data-loader workers, no search for unused parameters: kard_hf.hardware).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from transformers import Seq2SeqTrainingArguments

from ..data import PromptTemplate
from ..errors import ConfigError
from ..hardware import HardwareDefaults, bf16_available
from ..lora import LoraArguments
from .chat import PROMPT_FORMATS
from .collator import METHODS

# Named prompt layouts; individual fields can still be overridden (``--suffix ...``).
TEMPLATES = {
    "kard": PromptTemplate(),
    "bare": PromptTemplate(instruction="", question_prefix="Question: "),
}
TEMPLATE_FIELDS = tuple(f.name for f in dataclasses.fields(PromptTemplate))


@dataclass
class StudentModelArguments(LoraArguments):
    """Which student to train, and how (full fine-tuning, or LoRA: :class:`~kard_hf.lora.LoraArguments`)."""

    model_name_or_path: str = field(metadata={"help": "Hub id or folder of a seq2seq (T5, Flan-T5) or decoder-only "
                                                      "(OPT, GPT-2, Llama...) model."})
    merge_lora: bool = field(default=True, metadata={"help": "Merge LoRA adapters into the saved model, which then "
                                                            "loads without peft (not under DeepSpeed)."})
    attn_implementation: str | None = field(default=None, metadata={
        "help": "eager, sdpa, flash_attention_2... (without the flash-attn package, sdpa and a warning)."})


@dataclass
class StudentDataArguments:
    """The processed dataset (``kard-hf augment`` output) to train on."""

    dataset: str = field(metadata={"help": "Processed dataset folder or Hub dataset id (kard_hf.data.store)."})
    train_split: str = field(default="train", metadata={"help": "Split to train on (train columns)."})
    eval_split: str | None = field(default=None, metadata={
        "help": "Split for the eval loss; it needs the train columns of the method (question, target[, passages])."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training rows."})

    def __post_init__(self):
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise ConfigError("max_train_samples must be at least 1", field="max_train_samples")


@dataclass
class StudentTrainingArguments(HardwareDefaults, Seq2SeqTrainingArguments):
    """``Seq2SeqTrainingArguments`` plus the distillation method, the knowledge budget and the prompt layout."""

    method: str = field(default="kard", metadata={"help": "ft (question -> answer letter), rd (question -> rationale) "
                                                         "or kard (question + passages -> rationale); knife-teacher and knife train KNIFE "
                                                         "models, with their own options (--method knife --help)."})
    num_passages: int = field(default=1, metadata={"help": "k: passages shown to the student (kard)."})
    sample_passages: bool = field(default=False, metadata={
        "help": "Draw the k passages at random among the stored ones, anew each epoch (seeded); else the top k."})
    max_source_length: int = field(default=512, metadata={"help": "Input token budget; passages are cut first."})
    max_target_length: int = field(default=256, metadata={"help": "Target token budget (rationale + answer)."})
    prompt_template: str = field(default="kard", metadata={"help": f"Named layout: {', '.join(TEMPLATES)}."})
    instruction: str | None = field(default=None, metadata={"help": "Override the template's instruction."})
    question_prefix: str | None = field(default=None, metadata={"help": "Override the template's question prefix."})
    knowledge_prefix: str | None = field(default=None, metadata={"help": "Override the template's knowledge prefix."})
    passage_separator: str | None = field(default=None, metadata={"help": "Override the passage separator."})
    suffix: str | None = field(default=None, metadata={"help": "Override the suffix before the rationale."})
    prompt_format: str = field(default="auto", metadata={
        "help": f"One of {', '.join(PROMPT_FORMATS)}: chat lays a decoder-only student's prompt out as the user turn of "
                "its tokenizer's chat template and the rationale as the assistant turn; plain is kard_hf's text layout; "
                "auto is chat when the tokenizer has a chat template."})
    padding_free: bool = field(default=False, metadata={
        "help": "Decoder-only students: concatenate each batch's rows into one, with per-row position_ids (no padding)."})
    answer_suffix: str | None = field(default=None, metadata={"help": "Override the suffix before the answer (ft)."})

    # Released KARD settings and kard_hf conventions.
    output_dir: str | None = field(default="outputs/student", metadata={"help": "Where checkpoints and the model go."})
    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW learning rate."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Epochs."})
    bf16: bool | None = field(default=None, metadata={
        "help": "bf16 mixed precision; default: on where the GPU supports it, off (fp32) on CPU."})
    train_sampling_strategy: str = field(default="group_by_length", metadata={
        "help": "group_by_length (default: batches of similar length, less padding) or random."})
    remove_unused_columns: bool = field(default=False, metadata={
        "help": "Must stay False: the collator reads the raw text columns."})

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; expected one of {', '.join(METHODS)} "
                              "(knife methods have their own arguments)", field="method")
        if self.num_passages < 1:
            raise ConfigError("num_passages must be at least 1", field="num_passages")
        if self.sample_passages and self.method != "kard":
            raise ConfigError("sample_passages only applies to method 'kard'", field="sample_passages")
        if self.max_source_length < 8 or self.max_target_length < 2:
            raise ConfigError("max_source_length must be >= 8 and max_target_length >= 2", field="max_source_length")
        if self.prompt_template not in TEMPLATES:
            raise ConfigError(f"unknown prompt_template {self.prompt_template!r}; expected one of {', '.join(TEMPLATES)}",
                              field="prompt_template")
        if self.remove_unused_columns:
            raise ConfigError("remove_unused_columns must be False: the collator reads the text columns",
                              field="remove_unused_columns")
        if self.bf16 is None:
            self.bf16 = bf16_available()
        self.resolve_hardware_defaults()
        if self.sample_passages and self.dataloader_num_workers and self.dataloader_persistent_workers:
            raise ConfigError("sample_passages needs fresh data-loader workers each epoch (they read the epoch): "
                              "set dataloader_persistent_workers false", field="dataloader_persistent_workers")
        super().__post_init__()

    @property
    def template(self) -> PromptTemplate:
        """The named template with the overrides given."""
        overrides = {name: getattr(self, name) for name in TEMPLATE_FIELDS if getattr(self, name) is not None}
        return dataclasses.replace(TEMPLATES[self.prompt_template], **overrides)

