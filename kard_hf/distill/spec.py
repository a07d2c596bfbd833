"""What a trained student needs at test time, saved beside its weights as ``kard_hf_student.json``.

The method, prompt layout (and a decoder-only student's chat format), number of passages and token
budgets decide the exact input the student was trained on; the knowledge base's fingerprint lets evaluation refuse a different KB.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..data.formatting import PromptTemplate
from ..errors import ModelError
from .chat import ChatFormat
from ..fileio import read_json, write_json

SPEC_NAME = "kard_hf_student.json"


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

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "template": dataclasses.asdict(self.template)}

    def save(self, folder: str | Path) -> None:
        write_json(Path(folder) / SPEC_NAME, self.to_dict())

    @classmethod
    def load(cls, folder: str | Path) -> "StudentSpec":
        path = Path(folder) / SPEC_NAME
        if not path.is_file():
            raise ModelError(f"{folder} has no {SPEC_NAME}: it was not trained with 'kard-hf train', so its prompt "
                             "layout is unknown")
        spec = read_json(path)  # also holds the hub_id and kard_hf_version the trainer records
        names = {f.name for f in dataclasses.fields(cls)}
        chat = spec.get("chat_format")
        return cls(**{**{k: v for k, v in spec.items() if k in names}, "template": PromptTemplate(**spec["template"]),
                      "chat_format": ChatFormat(**chat) if chat else None})
