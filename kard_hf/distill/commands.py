"""``kard-hf train``: train an ft / rd / kard student from a recipe (knife methods: :mod:`kard_hf.knife.commands`).

Single process: ``kard-hf train --config recipes/flan-t5-base/kard.yaml``. Several GPUs or DeepSpeed:
``accelerate launch --config_file recipes/accelerate_configs/zero3.yaml -m kard_hf.cli train --config ...``.
"""

from __future__ import annotations

import logging

from ..arguments import make_parser
from ..data.store import load_dataset_dict
from ..errors import DataError
from ..resume import claim_trainer_output, resolve_checkpoint
from .arguments import StudentDataArguments, StudentModelArguments, StudentTrainingArguments
from .modeling import load_student
from .trainer import StudentTrainer

logger = logging.getLogger(__name__)


def load_splits(data_args: StudentDataArguments):
    """``(train, eval or None, manifest)`` from the processed dataset."""
    dataset_dict, manifest = load_dataset_dict(data_args.dataset)
    for split in filter(None, (data_args.train_split, data_args.eval_split)):
        if split not in dataset_dict:
            raise DataError(f"no split {split!r} (has {', '.join(dataset_dict)})", file=data_args.dataset)
    train = dataset_dict[data_args.train_split]
    if data_args.max_train_samples is not None:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    evaluation = dataset_dict[data_args.eval_split] if data_args.eval_split else None
    return train, evaluation, manifest


def make_train_parser(method: str | None = None):
    """The parser of ``kard-hf train --method <method>``: KNIFE's for knife methods, else the student's."""
    if isinstance(method, str) and method.startswith("knife"):
        from ..knife.commands import make_knife_parser

        return make_knife_parser(method)
    return make_parser((StudentModelArguments, StudentDataArguments, StudentTrainingArguments), prog="kard-hf train")


def train(model_args, data_args, args, *knife_args):
    """Train an ft / rd / kard student, or (given KNIFE's four argument groups) a KNIFE teacher or student."""
    from ..knife.arguments import KnifeMethodArguments

    if isinstance(model_args, KnifeMethodArguments):
        from ..knife.commands import train as knife_train

        return knife_train(model_args, data_args, args, *knife_args)
    return train_student(model_args, data_args, args)


def train_student(model_args: StudentModelArguments, data_args: StudentDataArguments,
                  args: StudentTrainingArguments) -> StudentTrainer:
    """Train a student, save it (with its model card) to ``output_dir`` and push it if ``push_to_hub``."""
    resume = resolve_checkpoint(args.resume_from_checkpoint, args.output_dir)
    claim_trainer_output(args, data_args.dataset, model_args.model_name_or_path)
    train_dataset, eval_dataset, manifest = load_splits(data_args)
    model, tokenizer = load_student(model_args, args)
    trainer = StudentTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                             processing_class=tokenizer, dataset_name=data_args.dataset, dataset_manifest=manifest)
    result = trainer.train(resume_from_checkpoint=resume)
    if model_args.use_lora and model_args.merge_lora:
        if trainer.is_deepspeed_enabled:
            logger.warning("merge_lora is skipped under DeepSpeed: the adapters are saved; merge them with "
                           "peft's merge_and_unload after loading")
        else:
            trainer.model = trainer.model.merge_and_unload()
    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()
    trainer.save_model()  # writes the model card; also pushes when push_to_hub is set
    return trainer
