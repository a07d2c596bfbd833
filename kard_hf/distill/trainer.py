"""``StudentTrainer``: a ``Seq2SeqTrainer`` for ft / rd / kard students, seq2seq or decoder-only.

What it changes, each in the narrowest hook:

- ``compute_loss`` (:class:`TargetLossMixin`): :func:`~kard_hf.distill.losses.token_nll` divided by
  ``num_items_in_batch``, the target-token count of the whole accumulated batch. transformers 5.23 passes that count to any
  model whose ``forward`` takes ``**kwargs`` and then trusts the model's loss to be scaled for
  gradient accumulation, but T5 ignores it (a per-micro-batch mean): gradients come out
  ``gradient_accumulation_steps`` times too large and tokens are weighted by micro-batch. Computing the
  loss here makes 8 x 1 and 2 x 4 the same step for every architecture. In training the output layer runs
  only where a target token is (not at a decoder-only student's prompt, nor at padding);
- the training dataset gets a ``length`` column (prompt + target tokens) so that the default
  ``group_by_length`` sampler works although tokenization happens late, in the collator;
- a callback tells the collator the epoch (passage sampling);
- ``_get_train_sampler``: the length-grouped order comes from a generator seeded with the seed and the
  epoch (:class:`SeededSamplerMixin`), not from the global random state, which a checkpoint restores at
  its mid-epoch value: a resumed run sees the batches of the uninterrupted one;
- a decoder-only student's chat format (its tokenizer's chat template) is resolved here and recorded in
  its spec, so that test time rebuilds the training input;
- :class:`~kard_hf.hub.HubCardMixin` writes the card (``hub_cards/student.md.j2``) and ``kard_hf.json``
  on every save and push.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
from transformers import Seq2SeqTrainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler

from ..hub import HubCardMixin, model_card
from ..errors import ConfigError, DataError
from .chat import resolve_chat_format
from .collator import METHOD_COLUMNS, StudentDataCollator
from .losses import IGNORE_INDEX, OutputLayerSelection, next_token_labels, token_nll
from .spec import StudentSpec

METHOD_NAMES = {"ft": "fine-tuning (question → answer)", "rd": "reasoning distillation (RD)",
                "kard": "knowledge-augmented reasoning distillation (KARD)"}


def collator_from_args(tokenizer, args, *, decoder_only: bool) -> StudentDataCollator:
    """The collator that :class:`StudentTrainingArguments` describe (also what inference should rebuild)."""
    return StudentDataCollator(tokenizer, method=args.method, decoder_only=decoder_only, template=args.template,
                               num_passages=args.num_passages, sample_passages=args.sample_passages,
                               max_source_length=args.max_source_length, max_target_length=args.max_target_length,
                               seed=args.seed, padding_free=args.padding_free,
                               chat=resolve_chat_format(tokenizer, args.prompt_format, decoder_only=decoder_only))


def check_student_dataset(dataset, method: str, num_passages: int, *, file=None, split: str = "train") -> None:
    """Raise :class:`DataError` if ``dataset`` cannot train a ``method`` student with ``num_passages`` passages."""
    if len(dataset) == 0:
        raise DataError(f"split {split!r} is empty: nothing to train on", file=file)
    missing = [c for c in METHOD_COLUMNS[method] if c not in dataset.column_names]
    if missing:
        hint = (" (a kard student needs passages retrieved by 'kard-hf augment'; use --method rd without them)"
                if "passages" in missing else "")
        raise DataError(f"split {split!r} lacks column(s) {', '.join(missing)} needed by method {method!r}{hint}",
                        file=file, field=missing[0])
    if method == "ft" and dataset.features["answer"].dtype not in ("int64", "int32", "int16", "int8"):
        raise DataError("column 'answer' must hold option indices", file=file, field="answer")
    if method == "kard":
        import pyarrow.compute as pc

        counts = pc.list_value_length(dataset.with_format("arrow")[:]["passages"]).to_numpy(zero_copy_only=False)
        short = (counts < num_passages).nonzero()[0]
        if len(short):
            raise DataError(f"num_passages={num_passages} but this row stores only {int(counts[short[0]])} passages "
                            "(re-run augment with more train_passages, or lower num_passages)",
                            file=file, row=f"row {int(short[0])}", field="passages")


def check_packing(model) -> None:
    """Refuse ``padding_free`` for a model whose attention lets packed rows see each other: it must compute the
    second of two packed rows as it computes that row alone (OPT, whose positions come from the attention mask,
    does not)."""
    import torch

    ids = torch.tensor([[5, 6, 7, 8, 9, 10]], device=model.device)
    training = model.training
    model.eval()
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=torch.tensor([[0, 1, 2, 0, 1, 2]], device=model.device),
                       use_cache=False).logits[0, 3:]
        alone = model(input_ids=ids[:, 3:], use_cache=False).logits[0]
    model.train(training)
    if not torch.allclose(packed.float(), alone.float(), atol=1e-4, rtol=1e-3):
        raise ConfigError(f"padding_free: this {model.config.model_type} model's attention does not keep packed rows "
                          "apart (it ignores per-row position_ids); train it padded", field="padding_free")


class _EpochToCollator(TrainerCallback):
    """Tell the collator which epoch starts, so that passage sampling changes between epochs."""

    def __init__(self, collator: StudentDataCollator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = math.floor(state.epoch + 1e-6)


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """transformers' length-grouped order, drawn each epoch from a generator seeded with ``(seed, epoch)``."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:  # the Trainer calls it before each epoch, the resumed one included
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(hash((self.seed, self.epoch)) & 0x7FFFFFFFFFFFFFFF)
        return super().__iter__()


class SeededSamplerMixin:
    """Trainer mixin: a ``group_by_length`` sampler that does not read the global random state, so that a
    run resumed mid-epoch draws the order the uninterrupted run drew (``random`` sampling already does)."""

    def _get_train_sampler(self, train_dataset=None):
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler:
            return EpochSeededLengthGroupedSampler(sampler.batch_size, sampler.lengths, self.args.seed)
        return sampler


class TargetLossMixin:
    """Trainer mixin: the loss of a seq2seq or decoder-only model trained on its ``labels``, computed here
    (:func:`~kard_hf.distill.losses.token_nll` over ``num_items_in_batch``, see the module docstring), with the
    output layer run only at the labelled positions in training (:class:`~kard_hf.distill.losses.OutputLayerSelection`).
    Evaluation (``return_outputs``) gets the model's whole logits."""

    # compute_loss divides by num_items_in_batch itself: the Trainer must not divide again.
    loss_is_scaled_for_ga = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Let the Trainer count target tokens over the accumulated batch for every model (see module docstring).
        self.model_accepts_loss_kwargs = True
        self.output_layer = OutputLayerSelection(self.model)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # No KV cache in training: with one, transformers would not build a packed batch's per-row attention mask.
        inputs = {**inputs, "use_cache": False}
        labels = inputs.pop("labels")
        unwrapped = self.accelerator.unwrap_model(model)
        if unwrapped.config.is_encoder_decoder:
            inputs["decoder_input_ids"] = unwrapped.prepare_decoder_input_ids_from_labels(labels=labels)
            targets = labels
        else:
            targets = next_token_labels(labels)
        keep = targets.ne(IGNORE_INDEX)
        with nullcontext() if return_outputs else self.output_layer.at(keep):
            outputs = model(**inputs)
        loss = token_nll(outputs.logits, targets[keep] if outputs.logits.dim() == 2 else targets, num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # num_items_in_batch is summed over ranks and DDP averages gradients: undo the average.
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss


class StudentTrainer(TargetLossMixin, SeededSamplerMixin, HubCardMixin, Seq2SeqTrainer):
    """Train an ft / rd / kard student on a processed dataset.

    Same arguments as ``Seq2SeqTrainer`` (``args`` a :class:`StudentTrainingArguments`); the
    ``data_collator`` defaults to the :class:`StudentDataCollator` the arguments describe.
    ``dataset_name`` and ``dataset_manifest`` (the processed dataset's ``kard_hf.json``) go into the
    model card.
    """

    def __init__(self, model=None, args=None, data_collator=None, train_dataset=None, eval_dataset=None,
                 processing_class=None, *, dataset_name: str | None = None, dataset_manifest: dict | None = None,
                 **kwargs):
        self.is_encoder_decoder = bool(model.config.is_encoder_decoder)
        if data_collator is None:
            data_collator = collator_from_args(processing_class, args, decoder_only=not self.is_encoder_decoder)
        if train_dataset is not None:
            check_student_dataset(train_dataset, args.method, args.num_passages, file=dataset_name)
            train_dataset = self._with_lengths(train_dataset, data_collator, args)
        if eval_dataset is not None:
            check_student_dataset(eval_dataset, args.method, args.num_passages, file=dataset_name, split="eval")
            eval_dataset = self._with_lengths(eval_dataset, data_collator, args)
        self.dataset_name, self.dataset_manifest = dataset_name, dataset_manifest or {}
        super().__init__(model=model, args=args, data_collator=data_collator, train_dataset=train_dataset,
                         eval_dataset=eval_dataset, processing_class=processing_class, **kwargs)
        if isinstance(data_collator, StudentDataCollator) and data_collator.sample_passages:
            self.add_callback(_EpochToCollator(data_collator))
        if args.padding_free and not (self.is_deepspeed_enabled or self.is_fsdp_enabled):
            check_packing(self.model)
        if getattr(data_collator, "chat", None) is not None and getattr(model, "generation_config", None) is not None:
            # saved with the weights: a server (vLLM, SGLang) then stops at the end of the assistant's turn too
            model.generation_config.eos_token_id = data_collator.stop_token_ids

    @staticmethod
    def _with_lengths(dataset, collator, args):
        if args.train_sampling_strategy != "group_by_length" or args.length_column_name in dataset.column_names:
            return dataset
        # In memory: a cache file would be written into the user's processed-dataset folder.
        return dataset.map(lambda batch: {args.length_column_name: collator.lengths(batch)}, batched=True,
                           keep_in_memory=True, desc="Measuring lengths for group_by_length")

    # ---- card and spec (written by HubCardMixin on every save and push) ---------------------------------

    def student_spec(self) -> StudentSpec:
        """What inference needs to rebuild this student's inputs (saved in kard_hf.json)."""
        args = self.args
        return StudentSpec(args.method, args.template, args.num_passages, args.max_source_length, args.max_target_length,
                           (self.dataset_manifest.get("knowledge_base") or {}).get("fingerprint"),
                           chat_format=getattr(self.data_collator, "chat", None))

    def hub_spec(self) -> dict:
        return self.student_spec().to_dict()

    def hub_card(self, model_name: str):
        args, model = self.args, self.accelerator.unwrap_model(self.model)
        lora = getattr(model, "peft_config", None)
        base = model.get_base_model() if lora else model
        adapter = self.is_adapter()
        auto = ("AutoPeftModelFor" if adapter else "AutoModelFor") + ("Seq2SeqLM" if self.is_encoder_decoder else "CausalLM")
        manifest = self.dataset_manifest
        metrics = {k: v for entry in self.state.log_history for k, v in entry.items()
                   if k in ("train_loss", "eval_loss", "epoch")}
        return model_card(
            "student", model_name=model_name, base_model=base.config._name_or_path or None,
            datasets=[self.dataset_name], library_name="peft" if adapter else "transformers",
            tags=[args.method, "knowledge-distillation", "multiple-choice-qa"] + (["lora"] if lora else []),
            repo_id=self.hub_id or "<this repo id or a local folder>", is_adapter=adapter, auto_class=auto,
            architecture="seq2seq" if self.is_encoder_decoder else "decoder-only",
            method=args.method, method_name=METHOD_NAMES[args.method],
            knowledge_base=manifest.get("knowledge_base"), teacher=manifest.get("teacher"), prompt=args.template,
            chat_format=getattr(self.data_collator, "chat", None),
            num_passages=args.num_passages, sample_passages=args.sample_passages,
            max_source_length=args.max_source_length, max_target_length=args.max_target_length,
            lora={"r": next(iter(lora.values())).r, "alpha": next(iter(lora.values())).lora_alpha} if lora else None,
            hyperparameters={**self.run_facts(), "learning_rate": args.learning_rate,
                             "per_device_train_batch_size": args.per_device_train_batch_size,
                             "gradient_accumulation_steps": args.gradient_accumulation_steps,
                             "bf16": args.bf16, "seed": args.seed},
            metrics=metrics,
        )
