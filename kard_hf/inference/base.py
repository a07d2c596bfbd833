"""What every pipeline shares: the :class:`Pipeline` protocol that ``kard-hf evaluate`` and ``predict`` use,
its inputs (:class:`Decoding`, :class:`Retrieved`) and its answer (:class:`Prediction`). KARD's and KNIFE's
pipelines import this module; it imports neither."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..data.schema import LETTERS, MCQExample
from ..distill.spec import StudentSpec
from ..errors import ConfigError


@dataclass(frozen=True)
class Decoding:
    """Greedy decoding, or self-consistency: ``num_samples`` sampled rationales and a majority vote."""

    strategy: str = "sample"
    num_samples: int = 5
    top_k: int = 50
    top_p: float = 0.95
    temperature: float = 1.0
    max_new_tokens: int = 256

    def __post_init__(self):
        if self.strategy not in ("greedy", "sample"):
            raise ConfigError(f"unknown decoding {self.strategy!r}; expected greedy or sample", field="decoding")
        if self.num_samples < 1 or self.max_new_tokens < 1:
            raise ConfigError("num_samples and max_new_tokens must be at least 1", field="num_samples")

    def generate_kwargs(self) -> dict:
        if self.strategy == "greedy":
            return {"do_sample": False, "num_beams": 1, "max_new_tokens": self.max_new_tokens}
        return {"do_sample": True, "top_k": self.top_k, "top_p": self.top_p, "temperature": self.temperature,
                "num_return_sequences": self.num_samples, "max_new_tokens": self.max_new_tokens}


@dataclass
class Prediction:
    """One answered question: what the student read, wrote and chose. The chosen option and the gold one are
    each given as a 0-based ``index`` and as a ``letter`` (A, B...), the letters ``votes`` is keyed by; None
    when no sample gave an answer (or the question has no gold answer)."""

    id: str
    passages: list[str]
    passage_ids: list[str]
    generations: list[str]
    votes: dict[str, int]
    index: int | None
    gold_index: int | None

    @property
    def letter(self) -> str | None:
        return None if self.index is None else LETTERS[self.index]

    @property
    def gold_letter(self) -> str | None:
        return None if self.gold_index is None else LETTERS[self.gold_index]

    def to_dict(self) -> dict:
        return {"id": self.id, "passage_ids": self.passage_ids, "passages": self.passages,
                "rationales": self.generations, "votes": self.votes, "letter": self.letter, "index": self.index,
                "gold_letter": self.gold_letter, "gold_index": self.gold_index,
                "correct": self.gold_index is not None and self.index == self.gold_index}


@dataclass
class Retrieved:
    """Passages (and their ids) chosen for each question."""

    texts: list[list[str]] = field(default_factory=list)
    ids: list[list[str]] = field(default_factory=list)


class Pipeline(Protocol):
    """What ``kard-hf evaluate`` and ``predict`` need of a student: its spec, what it reads, and answers.

    :class:`KARDPipeline` (ft / rd / kard students) and :class:`~kard_hf.inference.knife.KnifePipeline` implement it.
    """

    spec: StudentSpec
    retrieval: str
    num_passages: int
    knowledge_base: object | None
    reads_rationale: bool  # reads each question's teacher rationale (a KNIFE teacher)

    def __call__(self, examples: list[MCQExample], *, candidates: Retrieved | None = None,
                 silver: Retrieved | None = None, decoding: Decoding = ..., seed: int = 0,
                 show_progress: bool = False) -> list[Prediction]: ...
