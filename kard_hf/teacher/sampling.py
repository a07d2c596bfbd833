"""Teacher → cache → filter: the rationale-generation pipeline every teacher plugs into.

:func:`sample_rationales` asks the teacher only for the (question, sample) pairs the cache lacks
and caches each job as soon as it finishes; :func:`~kard_hf.data.filtering.filter_rationales`
(which imported rationales go through too) keeps the rationales that lead to the gold answer. Both
work on :class:`~kard_hf.data.MCQExample` lists, so a programmatic teacher (any
:class:`~kard_hf.teacher.base.Teacher`) gets resumability and filtering for free.
"""

from __future__ import annotations

import logging

from tqdm.auto import tqdm

from ..data import MCQExample
from ..errors import TeacherError
from .base import Completion, Job, SamplingParams, Teacher
from .cache import SampleCache, request_hash
from .prompts import RationalePrompt

logger = logging.getLogger(__name__)


def fingerprint(teacher: Teacher, sampling: SamplingParams) -> dict:
    """Everything besides the prompt that decides a sample: part of each cache key."""
    return {"teacher": teacher.describe(), "sampling": sampling.to_dict()}


def sample_rationales(examples: list[MCQExample], teacher: Teacher, prompt: RationalePrompt, n: int,
                      sampling: SamplingParams, cache: SampleCache, *, desc: str = "rationales") -> dict[str, list[str]]:
    """``{question id: n sampled rationales}`` for labeled questions, asking the teacher only for uncached samples."""
    if n < 1:
        raise TeacherError(f"n must be >= 1, got {n}")
    fp = fingerprint(teacher, sampling)
    hashes, jobs = {}, []
    for example in examples:
        rendered = prompt.render(example)
        hashes[example.id] = digest = request_hash(rendered, fp)
        missing = tuple(i for i in range(n) if cache.get(example.id, i, digest) is None)
        if missing:
            jobs.append(Job((example.id, digest, missing), rendered, len(missing)))
    total = n * len(examples)
    todo = sum(job.n for job in jobs)
    logger.info("%d of %d samples cached; asking %s for %d", total - todo, total, teacher.describe()["model"], todo)
    tokens = {"prompt_tokens": 0, "completion_tokens": 0}
    received: dict[str, int] = {}
    with tqdm(total=total, initial=total - todo, unit="sample", desc=desc) as progress:
        def on_done(job: Job, completion: Completion) -> None:
            question_id, digest, samples = job.key
            start = received.get(question_id, 0)
            if start + len(completion.texts) > len(samples):
                raise TeacherError(f"the teacher returned more than the {len(samples)} texts asked for question {question_id!r}")
            cache.add(question_id, digest, dict(zip(samples[start:], completion.texts)))
            received[question_id] = start + len(completion.texts)
            tokens["prompt_tokens"] += completion.prompt_tokens
            tokens["completion_tokens"] += completion.completion_tokens
            progress.update(len(completion.texts))
            progress.set_postfix(tokens_in=tokens["prompt_tokens"], tokens_out=tokens["completion_tokens"], refresh=False)

        teacher.generate(jobs, sampling, on_done)
    short = [job.key[0] for job in jobs if received.get(job.key[0], 0) < job.n]
    if short:
        raise TeacherError(f"the teacher returned too few texts for {len(short)} question(s), e.g. {short[0]!r}")
    return {e.id: [cache.get(e.id, i, hashes[e.id]) for i in range(n)] for e in examples}
