"""``kard-hf evaluate`` (a student on a processed test split) and ``kard-hf predict`` (new questions)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..parsing import make_parser
from ..data.loaders import FORMATS, load_mcq, parse_rows
from ..data.processed import (RETRIEVAL_COLUMNS, RETRIEVAL_MODES, check_fingerprints, evaluated_columns, leave_out,
                              require_columns)
from ..data.schema import MCQExample
from ..data.store import load_dataset_dict
from ..errors import ConfigError, DataError
from ..fileio import atomic_path, check_output, claim_output, jsonl_rows, write_json
from ..launcher import gather_to_first, join_launcher, launcher_rank, leave_launcher
from .metrics import accuracy, format_table, summarize
from .base import Decoding, Pipeline, Retrieved
from .chunks import CHUNK_BATCHES, answer_share, in_order
from .pipeline import load_pipeline
from .served import ServedPipeline, ServedStudentArguments


@dataclass
class InferenceArguments(ServedStudentArguments):
    """The student and what it reads (and, with ``base_url``, the server that runs it)."""

    student: str = field(metadata={"help": "A student folder or Hub id trained with kard-hf train (full model, LoRA adapter, or KNIFE)."})
    retrieval: str | None = field(default=None, metadata={"help": f"One of {', '.join(RETRIEVAL_MODES)} (default: bm25 for kard students, none otherwise)."})
    reranker: str | None = field(default=None, metadata={"help": "A reranker folder or Hub id (retrieval 'reranker')."})
    knowledge_base: str | None = field(default=None, metadata={"help": "A knowledge-base folder or Hub id: checked against the dataset's fingerprint; searched when questions come without candidates."})
    num_passages: int | None = field(default=None, metadata={"help": "k: passages shown to the student (default: as trained)."})
    candidates: int = field(default=100, metadata={"help": "κ*: BM25 candidates reranked when searching the knowledge base."})
    decoding: str = field(default="sample", metadata={"help": "sample (self-consistency vote) or greedy."})
    num_samples: int = field(default=5, metadata={"help": "Rationales sampled per question."})
    top_k: int = field(default=50, metadata={"help": "Top-k sampling."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling."})
    max_new_tokens: int = field(default=256, metadata={"help": "Longest rationale, in tokens."})
    batch_size: int = field(default=16, metadata={"help": "Questions per generate call."})

    def decoding_config(self) -> Decoding:
        return Decoding(self.decoding, self.num_samples, self.top_k, self.top_p, max_new_tokens=self.max_new_tokens)

    def pipeline(self) -> Pipeline:
        """A KARDPipeline, or a KnifePipeline for KNIFE students; a ServedPipeline with ``base_url``."""
        if self.base_url:
            return ServedPipeline.from_served(self.student, self, reranker=self.reranker,
                                              knowledge_base=self.knowledge_base, retrieval=self.retrieval,
                                              num_passages=self.num_passages, candidates=self.candidates,
                                              batch_size=self.batch_size)
        return load_pipeline(self.student, reranker=self.reranker, knowledge_base=self.knowledge_base,
                             retrieval=self.retrieval, num_passages=self.num_passages, candidates=self.candidates,
                             batch_size=self.batch_size)


@dataclass
class EvaluateArguments:
    dataset: str = field(metadata={"help": "A processed dataset (kard-hf augment) folder or Hub id."})
    output_dir: str = field(metadata={"help": "Where predictions.jsonl and metrics.json go (a new folder)."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace an existing output folder."})
    split: str = field(default="test", metadata={"help": "The split to evaluate."})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "Sampling seeds; metrics report mean ± std over them."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Evaluate the first N questions only."})
    rouge: bool = field(default=False, metadata={"help": "Also report ROUGE-L of the rationales against the teacher's (needs rouge-score)."})
    name: str | None = field(default=None, metadata={"help": "Row name in the printed table (default: the student folder name and the retrieval mode)."})
    record_in_card: bool = field(default=False, metadata={"help": "Add the accuracy to the local student folder's model card (model-index), to push with it."})

    def __post_init__(self):
        if not self.seeds:
            raise ConfigError("give at least one seed", field="seeds")


def _examples(dataset) -> list[MCQExample]:
    return [MCQExample(row["id"], row["stem"], list(row["options"]), row["answer"], list(row.get("rationales") or []))
            for row in dataset]


def _rouge_l(predictions, examples) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [max(scorer.score(reference, generated)["rougeL"].fmeasure for reference in example.rationales)
              for prediction, example in zip(predictions, examples) if example.rationales
              for generated in prediction.generations]
    if not scores:
        raise DataError("ROUGE needs teacher rationales in the evaluated split", field="rationales")
    return sum(scores) / len(scores)


def make_evaluate_parser():
    return make_parser((InferenceArguments, EvaluateArguments), prog="kard-hf evaluate")


def _file_stamps(path: str) -> list:
    """``(file, size, mtime)`` of the files under a local folder (nothing for a Hub id; not datasets' ``cache-*``
    files nor hidden ones, which reading writes): a student trained on, or a dataset augmented again, in the same
    folder keys another journal, so its old chunks are not replayed."""
    folder = Path(path)
    if not folder.is_dir():
        return []
    return sorted([str(file.relative_to(folder)), file.stat().st_size, file.stat().st_mtime_ns]
                  for file in folder.rglob("*") if file.is_file() and not file.name.startswith(("cache-", ".")))


def evaluate(pipeline_args: InferenceArguments, args: EvaluateArguments) -> dict | None:
    """Answer a processed split with a student, write predictions.jsonl and metrics.json, print the table;
    returns the metrics. Under ``torchrun`` / ``accelerate launch`` each rank answers its share of the chunks
    (:mod:`~kard_hf.inference.chunks`) and rank 0 writes the one-process output (the other ranks return None)."""
    rank, world = launcher_rank()
    inputs = (args.dataset, pipeline_args.student, pipeline_args.reranker, pipeline_args.knowledge_base)
    if rank == 0:
        claim_output(args.output_dir, overwrite=args.overwrite_output_dir, inputs=inputs)
    else:  # the same check as rank 0's, so that every rank stops on a bad output folder
        check_output(args.output_dir, overwrite=args.overwrite_output_dir, inputs=inputs)
    if args.record_in_card and not (Path(pipeline_args.student) / "README.md").is_file():
        raise ConfigError("record_in_card needs a local student folder with its model card", file=pipeline_args.student,
                          field="record_in_card")
    if world > 1:
        join_launcher()
    dataset_dict, manifest = load_dataset_dict(args.dataset)
    if args.split not in dataset_dict:
        raise DataError(f"no split {args.split!r}; it has {', '.join(dataset_dict)}", file=args.dataset)
    dataset = dataset_dict[args.split]
    if args.max_eval_samples is not None:
        dataset = dataset.select(range(min(args.max_eval_samples, len(dataset))))
    if len(dataset) == 0:
        raise DataError(f"the {args.split} split is empty", file=args.dataset)
    pipeline = pipeline_args.pipeline()
    check_fingerprints(knowledge_base=pipeline.knowledge_base, manifest=manifest, dataset=args.dataset, spec=pipeline.spec)
    require_columns(dataset, evaluated_columns(pipeline.retrieval, pipeline.reads_rationale), file=args.dataset,
                    split=args.split, purpose=f"for retrieval '{pipeline.retrieval}'" + (
                        " and the rationale" if pipeline.reads_rationale else ""))
    dataset, left_out = leave_out(dataset, retrieval=pipeline.retrieval, reads_rationale=pipeline.reads_rationale,
                                  split=args.split, file=args.dataset)
    columns = RETRIEVAL_COLUMNS[pipeline.retrieval]
    pool = Retrieved(dataset[columns[0]], dataset[columns[1]]) if columns else None
    examples = _examples(dataset)
    decoding = pipeline_args.decoding_config()
    chunk_size = CHUNK_BATCHES * pipeline_args.batch_size
    out = Path(args.output_dir)
    # chunks answered so far (one journal a rank): a rerun after a kill resumes here
    journal = out.with_name(f".{out.name}.journal" + (f"-rank{rank}-of-{world}" if world > 1 else ""))
    asked = {"dataset": args.dataset, "split": args.split, "pipeline": asdict(pipeline_args),
             "spec": pipeline.spec.to_dict(), "chunk_size": chunk_size,
             "files": {"student": _file_stamps(pipeline_args.student), "dataset": _file_stamps(args.dataset)}}
    shares = [answer_share(pipeline, examples, pool, decoding=decoding, seeds=args.seeds, chunk_size=chunk_size,
                           shard=(rank, world), journal=journal, asked=asked)]
    if world > 1:  # rank 0 gathers every rank's chunks
        shares = gather_to_first(shares[0])
        if rank:  # the journal stays until rank 0 has saved: a failed save resumes from it
            leave_launcher()
            journal.unlink(missing_ok=True)
            return None
    runs, rows, rouge = [], [], []
    for seed, predictions in zip(args.seeds, in_order(shares, examples, args.seeds, chunk_size)):
        runs.append(accuracy([p.index for p in predictions], [e.answer for e in examples]))
        rows += [{"seed": seed, **p.to_dict()} for p in predictions]
        if args.rouge:
            rouge.append(_rouge_l(predictions, examples))
    metrics = {"accuracy": summarize(runs), "questions": len(examples), "split": args.split,
               "student": pipeline_args.student, "method": pipeline.spec.method, "retrieval": pipeline.retrieval,
               "num_passages": pipeline.num_passages if pipeline.retrieval != "none" else 0,
               "decoding": asdict(decoding), "seeds": list(args.seeds)}
    metrics.update(left_out)
    if args.rouge:
        metrics["rougeL"] = summarize(rouge)
    with atomic_path(args.output_dir) as tmp:
        tmp.mkdir()
        with open(tmp / "predictions.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        write_json(tmp / "metrics.json", metrics)
    if world > 1:
        leave_launcher()
    journal.unlink(missing_ok=True)
    name = args.name or f"{Path(pipeline_args.student).name} ({pipeline.retrieval})"
    print(format_table([(name, metrics["accuracy"])]))
    print(f"predictions and metrics written to {args.output_dir}")
    if args.record_in_card:
        from ..hub import record_evaluation

        record_evaluation(pipeline_args.student, metrics, dataset=args.dataset, split=args.split,
                          retrieval=pipeline.retrieval)
        print(f"accuracy added to the model card of {pipeline_args.student}")
    return metrics


@dataclass
class PredictArguments:
    questions: str = field(default="-", metadata={"help": "Questions in any format load_mcq reads, or - for JSONL on standard input ({\"question\": ..., \"options\": [...]})."})
    questions_format: str = field(default="auto", metadata={"help": f"One of {', '.join(FORMATS)}."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})


def make_predict_parser():
    return make_parser((InferenceArguments, PredictArguments), prog="kard-hf predict")


def predict(pipeline_args: InferenceArguments, args: PredictArguments) -> None:
    """Answer new questions (retrieving from a knowledge base for kard students); one JSON line per question."""
    if args.questions == "-":  # the loaders' own row parser, on JSONL lines
        examples = parse_rows(jsonl_rows(sys.stdin.buffer, file="<stdin>"), "jsonl", file="<stdin>")
    else:
        examples = load_mcq(args.questions, args.questions_format)
    pipeline = pipeline_args.pipeline()
    check_fingerprints(knowledge_base=pipeline.knowledge_base, spec=pipeline.spec, student=pipeline_args.student)
    for prediction in pipeline(examples, decoding=pipeline_args.decoding_config(), seed=args.seed):
        row = prediction.to_dict()
        del row["gold_letter"], row["gold_index"], row["correct"]
        print(json.dumps(row, ensure_ascii=False))
