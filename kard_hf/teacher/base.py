"""The teacher interface: whatever turns prompts into sampled rationales.

A teacher receives :class:`Job` s (one prompt, how many samples) and reports the texts of each job
through a callback as they arrive, so the pipeline can cache every answer the moment it exists. Subclass
:class:`Teacher` and implement :meth:`Teacher.complete` for a simple teacher (a function, a rule
based generator, a stub for a synthetic benchmark); override :meth:`Teacher.generate` to run jobs
concurrently (:class:`~kard_hf.teacher.openai_compat.OpenAICompatibleTeacher`) or in batches
(:class:`~kard_hf.teacher.local.TransformersTeacher`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Sequence


@dataclass(frozen=True)
class Job:
    """One prompt to sample ``n`` rationales for; ``key`` is the caller's handle (question id and sample indices)."""

    key: object
    prompt: str
    n: int


@dataclass
class Completion:
    """The ``texts`` a teacher sampled for one job, and the tokens it spent on them (0 when unknown)."""

    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class SamplingParams:
    """How rationales are sampled; recorded in the dataset manifest and part of the cache key."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int | None = None
    stop: list[str] = field(default_factory=lambda: ["\nQuestion:"])

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "seed": self.seed, "stop": list(self.stop)}


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first stop string, stripped (servers that ignore ``stop`` and local models need this)."""
    for marker in stop:
        if marker and marker in text:
            text = text[: text.index(marker)]
    return text.strip()


class Teacher(ABC):
    """Samples rationales for prompts. Subclasses set ``kind`` and ``model`` and implement :meth:`complete`."""

    kind: str = "custom"
    model: str = ""

    @abstractmethod
    def complete(self, prompt: str, n: int, sampling: SamplingParams) -> Completion:
        """Sample ``n`` texts for one prompt."""

    def generate(self, jobs: Sequence[Job], sampling: SamplingParams,
                 on_done: Callable[[Job, Completion], None]) -> None:
        """Run every job and call ``on_done(job, completion)`` with its texts as they arrive.

        A job's texts may be reported in several calls (in order), so that long jobs are cached
        piece by piece. The default runs the jobs one at a time through :meth:`complete`.
        """
        for job in jobs:
            on_done(job, self.complete(job.prompt, job.n, sampling))

    def describe(self) -> dict:
        """What the manifest records about this teacher (never a secret)."""
        return {"kind": self.kind, "model": self.model}
