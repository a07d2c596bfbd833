"""``kard-hf rationales``: sample teacher rationales for MCQ questions, filter them, save a rationale dataset.

Example::

    OPENAI_API_KEY=... kard-hf rationales --config recipes/rationales/medqa_openai.yaml
    kard-hf rationales --train_file train.jsonl --teacher transformers --model Qwen/Qwen2.5-7B-Instruct \\
        --prompt medqa --n 10 --output_dir outputs/medqa-rationales
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from ..parsing import make_parser
from ..data import examples_to_dataset
from ..data.arguments import FilterArguments, QuestionArguments
from ..data.store import push_dataset_dict, save_dataset_dict
from ..errors import ConfigError
from ..fileio import claim_output
from ..hub import HubDatasetArguments
from .base import SamplingParams, Teacher
from .cache import SampleCache
from ..data.filtering import filter_rationales
from .openai_compat import DEFAULT_BASE_URL, OpenAICompatibleTeacher, is_hf_host
from .sampling import sample_rationales
from .prompts import load_prompt
from .scrub import scrub_logs

logger = logging.getLogger(__name__)

BUILTIN_TEACHERS = ("openai", "transformers")
TEACHER_ENTRY_POINTS = "kard_hf.teachers"  # name = module:TeacherSubclass (the bundled benchmark's is one)


@dataclass
class RationaleDataArguments:
    """Where the rationale dataset goes and which splits get rationales (the questions: QuestionArguments)."""

    output_dir: str = field(metadata={"help": "Where the rationale DatasetDict (and its README.md card) is saved (a new folder)."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace an existing output folder (the cache is kept and replayed)."})
    generate_splits: list[str] = field(default_factory=lambda: ["train"], metadata={
        "help": "Splits to sample rationales for (the oracle also needs 'test'); other splits are copied as they are."})
    cache_file: str | None = field(default=None, metadata={
        "help": "Append-only JSONL of every sample received, for resuming (default: <output_dir>.cache.jsonl)."})

    def __post_init__(self):
        self.cache_file = self.cache_file or f"{self.output_dir.rstrip('/')}.cache.jsonl"


@dataclass
class TeacherArguments:
    model: str | None = field(default=None, metadata={"help": "Endpoint model name, or a local model folder / Hub id for --teacher transformers (passed to a registered teacher as model=)."})
    teacher: str = field(default="openai", metadata={"help": "openai (any OpenAI-compatible chat-completions endpoint), transformers (local model), a teacher registered in the 'kard_hf.teachers' entry-point group, or module:Class (a Teacher subclass)."})
    base_url: str = field(default=DEFAULT_BASE_URL, metadata={"help": "Endpoint base URL; /chat/completions is appended (vLLM: http://host:8000/v1; HF: https://router.huggingface.co/v1)."})
    api_key_env: str | None = field(default=None, metadata={
        "help": "Environment variable holding the API key (default: HF_TOKEN for Hugging Face hosts, else OPENAI_API_KEY; no key is sent if unset)."})
    prompt: str = field(default="medqa", metadata={"help": "Built-in prompt (medqa, strategyqa, obqa) or a template file with {question} and {answer}."})
    n: int = field(default=10, metadata={"help": "Rationales sampled per question."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (0: greedy for local models)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling threshold."})
    max_new_tokens: int = field(default=256, metadata={"help": "Longest rationale, in tokens."})
    seed: int | None = field(default=None, metadata={"help": "Sampling seed (endpoints that support it, local models)."})
    stop: list[str] = field(default_factory=lambda: ["\nQuestion:"], metadata={"help": "Text where a rationale ends (sent as 'stop' and cut locally)."})
    max_concurrency: int = field(default=8, metadata={"help": "Most requests in flight at once."})
    requests_per_minute: float | None = field(default=None, metadata={"help": "Optional cap on request starts per minute."})
    max_retries: int = field(default=5, metadata={"help": "Retries of a request after 429, 5xx, timeouts, connection errors, malformed replies."})
    backoff: float = field(default=1.0, metadata={"help": "First retry delay in seconds, doubled each retry (Retry-After wins)."})
    max_backoff: float = field(default=60.0, metadata={"help": "Longest retry delay in seconds."})
    request_timeout: float = field(default=120.0, metadata={"help": "Seconds to wait for one response."})
    samples_per_request: int | None = field(default=None, metadata={"help": "Largest n asked in one request (default: all n; 1 for servers without 'n')."})
    batch_size: int = field(default=4, metadata={"help": "Prompts per generate() call of a local teacher."})
    use_chat_template: bool = field(default=True, metadata={"help": "Local teacher: wrap the prompt in the tokenizer's chat template when it has one."})
    max_input_tokens: int | None = field(default=None, metadata={"help": "Local teacher: truncate longer prompts."})

    def __post_init__(self):
        if self.teacher in BUILTIN_TEACHERS and not self.model:
            raise ConfigError(f"--model is required for --teacher {self.teacher}", field="model")
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}", field="n")
        if self.max_new_tokens < 1 or self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError("need max_new_tokens >= 1, temperature >= 0 and 0 < top_p <= 1")

    def sampling(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_p, self.max_new_tokens, self.seed, list(self.stop))


# The argument groups of `kard-hf rationales`, in the order parse_args returns them.
ARGUMENTS = (QuestionArguments, RationaleDataArguments, TeacherArguments, FilterArguments, HubDatasetArguments)


def api_key_from_env(name: str | None, base_url: str) -> tuple[str | None, str]:
    """``(key or None, how to name it in messages)``; a variable named explicitly must be set."""
    if name:
        if not os.environ.get(name):
            raise ConfigError(f"the environment variable {name} (api_key_env) is not set", field="api_key_env")
        return os.environ[name], f"${name}"
    name = "HF_TOKEN" if is_hf_host(base_url) else "OPENAI_API_KEY"
    return os.environ.get(name) or None, f"${name}"


def find_teacher(name: str) -> type[Teacher]:
    """The Teacher subclass registered as ``name`` (entry-point group ``kard_hf.teachers``) or at ``module:Class``."""
    from importlib import import_module
    from importlib.metadata import entry_points

    if ":" in name:
        module, _, attribute = name.partition(":")
        try:
            found = getattr(import_module(module), attribute)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"cannot import the teacher {name!r}: {e}", field="teacher") from None
    else:
        registered = {point.name: point for point in entry_points(group=TEACHER_ENTRY_POINTS)}
        if name not in registered:
            raise ConfigError(f"unknown teacher {name!r}; expected {', '.join(BUILTIN_TEACHERS + tuple(registered))} "
                              "or module:Class", field="teacher")
        found = registered[name].load()
    if not (isinstance(found, type) and issubclass(found, Teacher)):
        raise ConfigError(f"{name!r} is not a kard_hf.teacher.Teacher subclass", field="teacher")
    return found


def build_teacher(args: TeacherArguments):
    if args.teacher not in BUILTIN_TEACHERS:
        teacher_class = find_teacher(args.teacher)
        return teacher_class(model=args.model) if args.model else teacher_class()
    if args.teacher == "transformers":
        from .local import TransformersTeacher

        return TransformersTeacher(args.model, batch_size=args.batch_size, use_chat_template=args.use_chat_template,
                                   max_input_tokens=args.max_input_tokens)
    api_key, key_name = api_key_from_env(args.api_key_env, args.base_url)
    scrub_logs([api_key])  # the HTTP client logs each request URL, credentials of the base URL included
    return OpenAICompatibleTeacher(
        args.model, base_url=args.base_url, api_key=api_key, api_key_name=key_name, max_concurrency=args.max_concurrency,
        requests_per_minute=args.requests_per_minute, max_retries=args.max_retries, backoff=args.backoff,
        max_backoff=args.max_backoff, timeout=args.request_timeout, samples_per_request=args.samples_per_request)


def make_rationales_parser():
    return make_parser(ARGUMENTS, prog="kard-hf rationales",
                       description="Sample few-shot chain-of-thought rationales from a teacher that sees the gold "
                                   "answer, keep those that reach it, and save a rationale dataset.")


def rationales(questions: QuestionArguments, data_args: RationaleDataArguments, teacher_args: TeacherArguments,
               filter_args: FilterArguments, hub: HubDatasetArguments) -> None:
    """Sample, cache, filter and save teacher rationales (see ``kard-hf rationales --help``)."""
    import datasets

    claim_output(data_args.output_dir, overwrite=data_args.overwrite_output_dir,
                 inputs=(*questions.input_paths(), data_args.cache_file))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prompt = load_prompt(teacher_args.prompt)
    splits, loaded = questions.load()
    absent = [split for split in data_args.generate_splits if split not in splits]
    if absent:
        raise ConfigError(f"--generate_splits names {', '.join(absent)} but there are no {'/'.join(absent)} questions",
                          field="generate_splits")
    teacher = build_teacher(teacher_args)
    judge = filter_args.make_filter()
    sampling = teacher_args.sampling()
    counts = {}
    with SampleCache(data_args.cache_file) as cache:
        for split in data_args.generate_splits:
            labeled = [e for e in splits[split] if e.answer is not None]
            if len(labeled) < len(splits[split]):
                logger.warning("%s: %d unlabeled question(s) get no rationale (the prompt needs the gold answer)",
                               split, len(splits[split]) - len(labeled))
            samples = sample_rationales(labeled, teacher, prompt, teacher_args.n, sampling, cache, desc=f"rationales ({split})")
            splits[split], counts[split] = filter_rationales(splits[split], samples, judge)
            logger.info("%s: kept %d, dropped %d rationales; %d question(s) kept none", split, counts[split].kept,
                        counts[split].dropped, counts[split].questions_without_rationale)
    manifest_teacher = {
        **teacher.describe(), "prompt": {"name": prompt.name, "sha256": prompt.sha256}, "sampling": sampling.to_dict(),
        "n": teacher_args.n, "filter": judge.describe(), "splits": {s: c.to_dict() for s, c in counts.items()},
        "kept": sum(c.kept for c in counts.values()), "dropped": sum(c.dropped for c in counts.values()),
    }
    dataset_dict = datasets.DatasetDict({split: examples_to_dataset(examples) for split, examples in splits.items()})
    num_questions = {s: len(e) for s, e in splits.items()}
    carved = {key: loaded[key] for key in ("validation_from_train",) if key in loaded}
    manifest = {"teacher": manifest_teacher, **carved, "splits": num_questions}
    card = {"card_template": "rationale_dataset", "teacher": manifest_teacher, "num_questions": num_questions}
    save_dataset_dict(dataset_dict, manifest, data_args.output_dir, hub_id=hub.hub_dataset_id if hub.push_to_hub else None,
                      **card)
    print(f"kept {manifest_teacher['kept']} and dropped {manifest_teacher['dropped']} rationales; "
          f"saved to {data_args.output_dir}")
    if hub.push_to_hub:
        print(f"pushed: {push_dataset_dict(dataset_dict, manifest, hub.hub_dataset_id, private=hub.hub_private_repo, **card)}")
