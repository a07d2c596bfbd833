"""``kard-hf train``: train an ft / rd / kard student from a recipe (knife methods: :mod:`kard_hf.knife.commands`,
which the command registry, :data:`kard_hf.cli.COMMANDS`, picks for ``--method knife*``).

Single process: ``kard-hf train --config recipes/flan-t5-base/kard.yaml``. Several GPUs or DeepSpeed:
``accelerate launch --config_file recipes/accelerate_configs/zero3.yaml -m kard_hf.cli train --config ...``.
"""

from __future__ import annotations

from ..parsing import make_parser
from ..data.store import load_dataset_dict
from ..errors import DataError
from ..resume import claim_trainer_output, resolve_checkpoint
from .arguments import StudentDataArguments, StudentModelArguments, StudentTrainingArguments
from .modeling import load_student
from .trainer import StudentTrainer


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


def make_train_parser():
    """The parser of ``kard-hf train`` for ft / rd / kard students (the registry gives ``--method knife*`` KNIFE's)."""
    return make_parser((StudentModelArguments, StudentDataArguments, StudentTrainingArguments), prog="kard-hf train")


def train_student(model_args: StudentModelArguments, data_args: StudentDataArguments,
                  args: StudentTrainingArguments) -> StudentTrainer:
    """Train a student, save it (with its model card) to ``output_dir`` and push it if ``push_to_hub``."""
    resume = resolve_checkpoint(args.resume_from_checkpoint, args.output_dir)
    claim_trainer_output(args, data_args.dataset, model_args.model_name_or_path)
    train_dataset, eval_dataset, manifest = load_splits(data_args)
    model, tokenizer = load_student(model_args, args)
    trainer = StudentTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                             processing_class=tokenizer, dataset_name=data_args.dataset, dataset_manifest=manifest)
    trainer.train_and_save(resume, merge_lora=model_args.use_lora and model_args.merge_lora)
    return trainer
