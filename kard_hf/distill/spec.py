"""What a trained student needs at test time, saved beside its weights in ``kard_hf.json`` (:mod:`kard_hf.hub.artifact`).

The method, prompt layout (and a decoder-only student's chat format), number of passages and token
budgets decide the exact input the student was trained on; the knowledge base's fingerprint lets evaluation refuse a different KB.
KNIFE teachers and students record the same spec (their token budgets), under their own kinds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..data.formatting import PromptTemplate
from ..errors import ModelError
from ..hub import SPEC_NAME, STUDENT_KINDS, read_spec, write_spec
from .chat import ChatFormat

KNIFE_KINDS = {"knife-teacher": "knife-teacher", "knife": "knife-student"}  # method -> kind; any other: "student"


@dataclass
class StudentSpec:
    method: str
    template: PromptTemplate
    num_passages: int
    max_source_length: int
    max_target_length: int
    knowledge_base_fingerprint: str | None = None
    max_rationale_length: int = 0  # a KNIFE teacher's rationale budget (it reads one); 0 for every student
    chat_format: ChatFormat | None = None  # None: the plain layout (seq2seq students, base models)

    @property
    def kind(self) -> str:
        """The artifact kind of a model trained with this spec: a KNIFE teacher or student, else a student."""
        return KNIFE_KINDS.get(self.method, "student")

    def to_dict(self) -> dict:
        """The spec as saved: ``kind`` first, then the fields."""
        return {"kind": self.kind, **dataclasses.asdict(self), "template": dataclasses.asdict(self.template)}

    def save(self, folder: str | Path) -> None:
        write_spec(folder, self.to_dict())

    @classmethod
    def load(cls, folder: str | Path) -> "StudentSpec":
        spec = read_spec(folder)  # also holds the hub_id and kard_hf_version the trainer records
        if spec is None:
            raise ModelError(f"{folder} has no {SPEC_NAME}: it was not trained with 'kard-hf train', so its prompt "
                             "layout is unknown")
        if spec["kind"] not in STUDENT_KINDS:
            raise ModelError(f"{folder} holds a {spec['kind']}, not a student (its {SPEC_NAME} says so): give a "
                             "model trained with 'kard-hf train'")
        names = {f.name for f in dataclasses.fields(cls)}
        chat = spec.get("chat_format")
        return cls(**{**{k: v for k, v in spec.items() if k in names}, "template": PromptTemplate(**spec["template"]),
                      "chat_format": ChatFormat(**chat) if chat else None})
