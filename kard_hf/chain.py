"""``kard-hf pipeline --config my_pipeline.yaml``: the whole chain on your own data, from one YAML, resumable.

rationales → build-kb → augment → train (each student) → train-reranker → evaluate (each table row) →
results table and chart. Each section of the YAML holds the options of its step, exactly as that
command takes them (``kard-hf <command> --help``); the pipeline fills in the paths that link the steps
(``dataset``, ``knowledge_base``, ``output_dir``, ``student``, ``reranker``) unless a section sets them.

A step that starts writes ``<output_dir>/.steps/<step>.started``; one that finishes writes a marker,
``<output_dir>/.steps/<step>.json`` (atomically, with the options it ran with and the fingerprints of the
local files and folders its options name: size, mtime and SHA-256 of each file). A rerun skips every step
whose marker holds the same options and inputs, so a killed run resumes at the step it was in (a student's
training from its last complete checkpoint), replacing what an unfinished step left. A step whose input
changed runs again, and so does every step after it (the log says why); a step whose options changed is
refused until its marker is deleted. An output the pipeline did not write (no marker of its step) is
never replaced: its step is refused as the command would refuse it. recipes/pipelines/ has a documented
example; docs/pipeline.md the format.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

from .parsing import make_parser
from .errors import ConfigError
from .fileio import command_scope, read_json, write_json

MARKERS = ".steps"
KNIFE_TEACHER = "knife-teacher"


@dataclass
class PipelineArguments:
    """The sections of a pipeline YAML (``--config``): each one the options of its step."""

    output_dir: str = field(metadata={"help": "Where every step's output goes (rationales/, kb/, processed/, "
                                              "<method>/, reranker/, eval/<row>/, results.*)."})
    rationales: dict | None = field(default=None, metadata={
        "help": "Options of kard-hf rationales (questions, teacher, prompt...). Omit it when augment reads "
                "rationales you have (train_file + train_rationales)."})
    build_kb: dict | None = field(default=None, metadata={
        "help": "Options of kard-hf build-kb (corpus...). Omit it when augment names a knowledge_base."})
    augment: dict = field(default_factory=dict, metadata={"help": "Options of kard-hf augment."})
    train: dict = field(default_factory=dict, metadata={
        "help": "Options of kard-hf train shared by the ft / rd / kard students (model_name_or_path...)."})
    students: dict = field(default_factory=lambda: {"ft": {}, "rd": {}, "kard": {}}, metadata={
        "help": "Students to train, method -> its own options of kard-hf train (ft, rd, kard; knife-teacher and "
                "knife take only these, not the shared train section)."})
    train_reranker: dict | None = field(default=None, metadata={
        "help": "Options of kard-hf train-reranker; omit it to train no reranker."})
    evaluate: dict = field(default_factory=dict, metadata={"help": "Options of kard-hf evaluate shared by every row."})
    splits: list[str] = field(default_factory=lambda: ["test"], metadata={
        "help": "Processed splits every table row is evaluated on, one column of the results each (e.g. test and an "
                "extra split of augment's questions, such as test_seen)."})
    table: dict | None = field(default=None, metadata={
        "help": "Rows of the results table, name -> options of kard-hf evaluate ('student' is a students key). "
                "Default: one row per student (kard with bm25, and with the reranker when one is trained)."})
    jobs: int = field(default=1, metadata={
        "help": "Steps run at the same time (those that do not read each other's output: the students, the reranker, "
                "the evaluations), each in a process of its own with the cores shared out and its output in "
                "<output_dir>/.steps/<step>.log; 1 runs them one after the other in this process."})
    dry_run: bool = field(default=False, metadata={
        "help": "Check every step's options (as its command would), inputs (paths, Hub ids) and precision against "
                "this machine; print the plan and where each step writes; run and write nothing (exit 2 on a problem)."})

    def __post_init__(self):
        for name in ("rationales", "build_kb", "augment", "train", "students", "train_reranker", "evaluate", "table"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"section '{name}' must be a mapping of options, got {type(value).__name__}",
                                  field=name)
        for method, options in self.students.items():
            if not isinstance(options, dict | None):
                raise ConfigError(f"students.{method} must be a mapping of options", field="students")
        if self.jobs < 1:
            raise ConfigError(f"jobs must be at least 1, got {self.jobs}", field="jobs")
        if not self.splits or len(set(self.splits)) < len(self.splits):
            raise ConfigError(f"splits must name each evaluated split once, got {self.splits}", field="splits")
        rows = [("evaluate", self.evaluate)] + [(f"table.{name}", row) for name, row in (self.table or {}).items()]
        for where, options in rows:
            if isinstance(options, dict) and "split" in options:
                raise ConfigError(f"{where} sets 'split': the splits section names the evaluated splits", field="splits")


@dataclass
class Step:
    """One step: ``run(mode)`` does it (``mode``: None on a first run, ``"continue"`` when an unfinished run of
    it left its output, ``"replace"`` when its completed output is redone); ``options`` (JSON-able) are
    recorded in its completion marker; ``check()``, when given, parses the options as the step's command
    would, running nothing; ``stale()``, when given, says why a completed step's output can no longer be used
    (it is run again)."""

    name: str
    options: dict
    run: Callable[[str | None], Any]
    check: Callable[[], Any] | None = None
    stale: Callable[[], str | None] | None = None
    writes: tuple[str, ...] = ()  # what it writes besides its options' output_dir (a step reading them waits)
    needs: tuple[str, ...] = ()  # steps it reads from that no path of its options names


def command_step(name: str, command: str, options: dict, *, checkpoints: Path | None = None) -> Step:
    """A step that runs ``kard-hf <command>`` on ``options`` (a recipe dict), in this process.

    The output the pipeline wrote is replaced (``--overwrite_output_dir``) when ``mode`` says so. With
    ``checkpoints`` (a trainer's output_dir), ``"continue"`` resumes from the last checkpoint a killed run
    left there and ``"replace"`` deletes the finished output first; the marker still records ``options``.
    """
    from .cli import COMMANDS

    options = {key: str(value) if isinstance(value, Path) else value for key, value in options.items()}
    command_spec = COMMANDS[command]

    def run(mode: str | None = None):
        recipe = options
        if checkpoints is None and mode is not None:
            recipe = {**options, "overwrite_output_dir": True}
        elif mode == "replace":
            shutil.rmtree(checkpoints, ignore_errors=True)
        elif mode == "continue" and "resume_from_checkpoint" not in options:  # from scratch if it saved none
            recipe = {**options, "resume_from_checkpoint": "last"}
        with command_scope():  # the step's output locks are released when it ends
            return command_spec([], recipe=recipe, source=f"step {name}")

    return Step(name, options, run, check=lambda: command_spec.parse([], recipe=options, source=f"step {name}"))


def stale_knowledge_base(folder: str | Path) -> str | None:
    """Why a built KB cannot serve the later steps any more (gone, or an index format this kard_hf does not read)."""
    from .knowledge.kb import stale_format  # numba's import stays out of the CLI's start

    return stale_format(folder)


def slug(name: str) -> str:
    """A row name as a folder name: ``KARD (BM25)`` → ``kard-bm25``."""
    return name.lower().replace(" ", "-").replace("(", "").replace(")", "")


def pipeline_steps(args: PipelineArguments) -> list[Step]:
    """The steps of ``args`` in order, each with the paths that link it to the previous ones filled in."""
    root = Path(args.output_dir)
    steps: list[Step] = []
    augment = dict(args.augment)
    if args.rationales is not None:
        rationales = {"output_dir": root / "rationales", **args.rationales}
        steps.append(command_step("rationales", "rationales", rationales))
        augment.setdefault("dataset", rationales["output_dir"])
    if args.build_kb is not None:
        build_kb = {"output_dir": root / "kb", **args.build_kb}
        kb_step = command_step("build-kb", "build-kb", build_kb)
        kb_step.stale = partial(stale_knowledge_base, build_kb["output_dir"])
        steps.append(kb_step)
        augment.setdefault("knowledge_base", build_kb["output_dir"])
    augment = {"output_dir": root / "processed", **augment}
    if "knowledge_base" not in augment:
        raise ConfigError("no knowledge base: give a build_kb section or augment.knowledge_base", field="build_kb")
    steps.append(command_step("augment", "augment", augment))
    processed = str(augment["output_dir"])

    students = {method: str((own or {}).get("output_dir", root / method)) for method, own in args.students.items()}
    for method, own in args.students.items():
        shared = {} if method.startswith("knife") else args.train
        options = {"dataset": processed, "output_dir": students[method], "method": method, **shared, **(own or {})}
        if method == "knife" and KNIFE_TEACHER in students:
            options.setdefault("teacher_model_name_or_path", students[KNIFE_TEACHER])
        steps.append(command_step(f"train {method}", "train", options, checkpoints=Path(students[method])))

    reranker = None
    if args.train_reranker is not None:
        options = {"dataset": processed, "output_dir": root / "reranker", **args.train_reranker}
        reranker = str(options["output_dir"])
        steps.append(command_step("train-reranker", "train-reranker", options,
                                  checkpoints=Path(options["output_dir"])))

    rows = {}
    for name, row in table_rows(args, reranker).items():
        row = dict(row)
        student = row.pop("student", None)
        if student is None:
            raise ConfigError(f"table row {name!r} names no student", field="table")
        rows[name] = {"name": name, **args.evaluate, "student": students.get(student, student), **row}
        if rows[name].get("retrieval") == "reranker" and reranker:
            rows[name].setdefault("reranker", reranker)
    for split in args.splits:
        for name, row in rows.items():
            options = {"dataset": processed, "split": split, "output_dir": root / "eval" / split / slug(name), **row}
            steps.append(command_step(f"evaluate {name} on {split}", "evaluate", options))
    return steps


def table_rows(args: PipelineArguments, reranker: str | None) -> dict[str, dict]:
    """The table's rows: as given, or one per student (KARD once with BM25, once with the reranker)."""
    if args.table is not None:
        return args.table
    rows = {}
    for method in args.students:
        if method == KNIFE_TEACHER:
            continue
        if method == "kard":
            rows["KARD (BM25)"] = {"student": method, "retrieval": "bm25"}
            if reranker:
                rows["KARD (reranker)"] = {"student": method, "retrieval": "reranker"}
        else:
            rows[method.upper()] = {"student": method}
    return rows


def _marker(root: Path, step: Step) -> Path:
    return root / MARKERS / f"{slug(step.name).replace('/', '-')}.json"


def named_paths(options: dict) -> list[tuple[str, Path]]:
    """``(name, resolved path)`` of every string option and list item (``NAME=PATH`` items: both halves) that
    could be a local path."""
    found = []
    for value in options.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                found += [(name, Path(name).resolve()) for name in (item, item.partition("=")[2]) if name]
    return found


def input_paths(options: dict, outputs: list[Path]) -> list[str]:
    """The local files and folders named by ``options`` that exist, less the pipeline's own ``outputs`` (those
    are checked by running the steps that write them again)."""
    return sorted({name for name, path in named_paths(options)
                   if path.exists() and not any(path == o or o in path.parents for o in outputs)})


def step_needs(steps: list[Step]) -> dict[str, set[str]]:
    """The earlier steps each step waits for: those that write a path its options name or it writes (or a folder
    holding one), and those it names in ``needs``."""
    written: list[tuple[str, Path]] = []
    needs = {}
    for step in steps:
        mine = {path for _, path in named_paths(step.options)} | {Path(w).resolve() for w in step.writes}
        needs[step.name] = set(step.needs) | {name for name, out in written
                                              if any(p == out or out in p.parents for p in mine)}
        written += [(step.name, Path(out).resolve()) for out in _outputs(step)]
    return needs


def fingerprint_inputs(paths: list[str], recorded: dict | None = None) -> dict[str, dict[str, list]]:
    """``{path: {file: [size, mtime_ns, sha256]}}`` of every file of ``paths`` (a folder: each file under it).
    A file whose size and mtime ``recorded`` already holds keeps its recorded hash (it is not read again)."""
    recorded = recorded or {}
    state = {}
    for name in paths:
        root = Path(name)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        state[name] = {}
        for file in files:
            key, stat = str(file.relative_to(root)) if root.is_dir() else ".", file.stat()
            known = recorded.get(name, {}).get(key)
            if known and known[:2] == [stat.st_size, stat.st_mtime_ns]:
                state[name][key] = known
            else:
                with open(file, "rb") as f:
                    state[name][key] = [stat.st_size, stat.st_mtime_ns, hashlib.file_digest(f, "sha256").hexdigest()]
    return state


def changed_inputs(now: dict, recorded: dict) -> str | None:
    """Why the inputs ``now`` differ from the ``recorded`` ones (contents, not mtimes), or None."""
    for name in sorted(set(now) | set(recorded)):
        hashes = {file: entry[2] for file, entry in now.get(name, {}).items()}
        if hashes != {file: entry[2] for file, entry in recorded.get(name, {}).items()}:
            return f"its input {name} changed"
    return None


def _why_run_again(step: Step, done: dict, inputs: dict, redone: str | None) -> str | None:
    """Why a completed step runs again: an earlier one ran again, one of its inputs changed (the markers of an
    older kard_hf record none), or its output went stale; None: it is skipped."""
    if redone:
        return f"'{redone}' ran again"
    if "inputs" in done and (reason := changed_inputs(inputs, done["inputs"])):
        return reason
    return step.stale() if step.stale else None


def _result_options(options: dict | None) -> dict:
    """The options that decide a step's result, as JSON has them (whether it may replace an output does not)."""
    return {key: value for key, value in json.loads(json.dumps(options or {})).items() if key != "overwrite_output_dir"}


def run_steps(steps: list[Step], root: str | Path, *, log: Callable[[str], None] = print, jobs: int = 1,
              threads: int | None = None) -> dict[str, float]:
    """Run ``steps``, skipping those already complete; returns the seconds each step ran (0: skipped).

    A completed step runs again when its inputs changed or its output went stale, and then so does every
    step after it (they read what it writes). ``jobs`` > 1 runs that many steps at a time, each in a
    process of its own with ``threads`` torch threads (default: the cores shared out), a step once those it
    reads from have finished (:func:`step_needs`; :mod:`kard_hf.scheduler`); 1 runs them in order, in this
    process, on ``threads`` (default: torch's own)."""
    from .scheduler import Job, cores, run_jobs, set_threads

    root, timings, redone, todo = Path(root), {}, None, []
    outputs = [Path(out).resolve() for step in steps for out in _outputs(step)]
    for step in steps:
        marker = _marker(root, step)
        mode = "continue" if marker.with_suffix(".started").is_file() else None
        done = read_json(marker) if marker.is_file() else None
        if done is not None and _result_options(done.get("options")) != _result_options(step.options):
            raise ConfigError(f"step '{step.name}' was completed with other options; delete {marker} (and its "
                              "output) to run it again with these", file=marker)
        inputs = fingerprint_inputs(input_paths(step.options, outputs), done and done.get("inputs"))
        if done is not None:
            reason = _why_run_again(step, done, inputs, redone)
            if reason is None:
                log(f"== {step.name}: already complete, skipped")
                timings[step.name] = 0.0
                continue
            log(f"== {step.name}: complete, but {reason}: running it again")
            mode, redone = "replace", redone or step.name
        todo.append((step, mode, inputs))

    began: dict[str, tuple[float, dict]] = {}

    def started(step: Step, planned: dict) -> None:
        # what it reads as it starts (a file is hashed again only if it changed since the plan)
        began[step.name] = time.time(), fingerprint_inputs(input_paths(step.options, outputs), planned)
        write_json(_marker(root, step).with_suffix(".started"), {"step": step.name})

    def finished(step: Step, seconds: float) -> None:
        timings[step.name] = seconds
        marker, (started_at, inputs) = _marker(root, step), began[step.name]
        write_json(marker, {"step": step.name, "options": step.options, "seconds": seconds,
                            "started_at": started_at, "inputs": inputs})
        marker.with_suffix(".started").unlink()

    if jobs == 1:
        if threads is not None:
            set_threads(threads)
        for step, mode, planned in todo:
            log(f"\n== {step.name}")
            started(step, planned)
            start = time.perf_counter()
            step.run(mode)
            finished(step, time.perf_counter() - start)
    else:
        from .console import readable_console

        needs, plan = step_needs(steps), {step.name: (step, planned) for step, _, planned in todo}
        work = [Job(step.name, partial(step.run, mode), needs[step.name], _marker(root, step).with_suffix(".log"))
                for step, mode, _ in todo]
        run_jobs(work, at_once=jobs, threads=threads or max(1, cores() // jobs), log=log, prepare=readable_console,
                 started=lambda job: started(*plan[job.name]),
                 finished=lambda job, seconds: finished(plan[job.name][0], seconds))
    return {step.name: timings[step.name] for step in steps}  # in the chain's order


def _outputs(step: Step) -> list[str]:
    """What ``step`` writes: its options' output_dir and its ``writes``."""
    return [*step.writes, *([step.options["output_dir"]] if "output_dir" in step.options else [])]


def recorded_seconds(steps: list[Step], root: str | Path) -> dict[str, float]:
    """The seconds each completed step of ``steps`` took when it ran (its marker's record, so a step skipped
    on resume still counts what it cost)."""
    markers = {step.name: _marker(Path(root), step) for step in steps}
    return {name: read_json(marker)["seconds"] for name, marker in markers.items() if marker.is_file()}


def recorded_wall_seconds(steps: list[Step], root: str | Path) -> float:
    """The seconds in which at least one of the completed ``steps`` was running, as their markers record them:
    the wall-clock time of a run of steps side by side (``jobs`` > 1) with the pauses of a resumed run left out.
    A marker of an older kard_hf, with no start time, ends when it was written (its file's mtime)."""
    spans = []
    for marker in filter(Path.is_file, (_marker(Path(root), step) for step in steps)):
        record = read_json(marker)
        start = record.get("started_at", marker.stat().st_mtime - record["seconds"])
        spans.append((start, start + record["seconds"]))
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):  # the length of the union of the intervals
        total += max(0.0, stop - max(start, end))
        end = max(end, stop)
    return total


def collect_accuracy(steps: list[Step]) -> dict[str, dict[str, dict]]:
    """``{row name: {split: accuracy summary (mean, std, runs)}}`` from the metrics.json of every evaluate step."""
    table: dict[str, dict[str, dict]] = {}
    for step in steps:
        if step.name.startswith("evaluate "):
            metrics = read_json(Path(step.options["output_dir"]) / "metrics.json")
            table.setdefault(step.options["name"], {})[step.options["split"]] = metrics["accuracy"]
    return table


def plot(rows: list[tuple[str, dict]], columns: dict[str, str], path: Path, *, title: str,
         ylabel: str = "accuracy (%)", chance: float | None = None) -> bool:
    """Grouped bars, one group per row and one bar per column (mean ± std) of ``(name, {column: summary})``
    rows; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(max(8, 1.4 * len(rows)), 4))
    width = 0.8 / len(columns)
    for i, (key, label) in enumerate(columns.items()):
        cells = [(x, values[key]) for x, (_, values) in enumerate(rows) if key in values]
        axes.bar([x - 0.4 + width * (i + 0.5) for x, _ in cells], [100 * s["mean"] for _, s in cells], width,
                 yerr=[100 * s["std"] for _, s in cells], capsize=3, color=f"C{i}", label=label)
    if chance is not None:
        axes.axhline(100 * chance, color="black", linestyle=":", linewidth=1, label="chance")
    axes.legend()
    axes.set_xticks(range(len(rows)), [name for name, _ in rows])
    axes.set_ylabel(ylabel)
    axes.set_ylim(0, 100)
    axes.set_title(title)
    plt.setp(axes.get_xticklabels(), rotation=15, ha="right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def write_results(root: Path, rows: list[tuple[str, dict]], columns: dict[str, str], *, title: str,
                  chart_title: str = "kard-hf pipeline", chance: float | None = None, **extra) -> str:
    """results.json (``accuracy``: row → split → summary), results.md (the table, one column per split) and
    results.png (the chart, with matplotlib) in ``root``; returns the table."""
    from .inference.metrics import format_table

    table = format_table(rows, columns=columns)
    write_json(root / "results.json", {"accuracy": dict(rows), "columns": columns, **extra})
    (root / "results.md").write_text(f"{title}\n\n{table}\n", encoding="utf-8")
    plot(rows, columns, root / "results.png", title=chart_title, chance=chance)
    return table


def run_pipeline(args: PipelineArguments) -> dict[str, dict]:
    """``kard-hf pipeline``: run (or resume) the pipeline of ``args``; returns ``{row name: {split: accuracy summary}}``."""
    root = Path(args.output_dir)
    steps = pipeline_steps(args)
    if args.dry_run:
        from .preflight import dry_run

        dry_run(steps, partial(_marker, root))
        return {}
    start = time.perf_counter()
    timings = run_steps(steps, root, jobs=args.jobs)
    rows = list(collect_accuracy(steps).items())
    table = write_results(root, rows, {split: f"{split} (%)" for split in args.splits}, title="accuracy (%)",
                          seconds_per_step=timings)
    print("\n" + table)
    print(f"\nFinished in {(time.perf_counter() - start) / 60:.1f} min. Results: {root / 'results.json'}, "
          f"{root / 'results.md'}" + (f", {root / 'results.png'}" if (root / "results.png").is_file() else ""))
    return dict(rows)


def make_pipeline_parser():
    return make_parser((PipelineArguments,), prog="kard-hf pipeline",
                       description="Run rationales → build-kb → augment → train → train-reranker → evaluate on your "
                                   "data from one YAML (--config); completed steps are skipped on a rerun.")
