"""A deterministic synthetic world where BM25 with the question finds the wrong passage.

Each entity has one fact passage (what the teacher's rationale paraphrases) and two lexical
distractors that repeat the question's words. BM25 with the rationale finds the fact; BM25 with
the question prefers a distractor. A reranker must learn, from questions alone, to prefer the
passages the rationale would find: the held-out entities test whether it generalised.
"""

from __future__ import annotations

import random

import pytest
import torch

SYLLABLES = ["kor", "vath", "mel", "lis", "dra", "nor", "quen", "tal", "bry", "som", "zel", "ith", "pra", "dun",
             "wex", "ol", "fen", "gar", "ush", "tir"]
KINDS = [
    {"question": "Which river flows through the city of {e}?", "answers": ["Orvane", "Silka", "Medran", "Tolluk"],
     "fact": "{e} stands on the banks of the {a}, whose ferries carry salt downstream.",
     "rationale": "{e} was built on the banks of the {a} and its ferries carry salt downstream. So the answer is {a}.",
     "distractors": ["Travellers often ask which river flows through the city of {e} and which city it flows to.",
                     "The city of {e}: a river city? Which river flows there is a city question."]},
    {"question": "What is the main export of the island of {e}?", "answers": ["indigo", "copper", "timber", "wool"],
     "fact": "Merchant ships load {a} in the harbour of {e}, the trade that made its growers rich.",
     "rationale": "Merchant ships load {a} in the harbour of {e}; that trade made its growers rich. So the answer is {a}.",
     "distractors": ["The island of {e} has an export; the main export of an island is its main trade.",
                     "What an island exports is asked of {e} and of every island: its main export."]},
    {"question": "Which language is spoken in the town of {e}?", "answers": ["Varn", "Tessic", "Kettish", "Moll"],
     "fact": "Most families of {e} speak {a} at home, a tongue related to the coastal dialects.",
     "rationale": "Families in {e} speak {a} at home, a tongue related to coastal dialects. So the answer is {a}.",
     "distractors": ["Which language is spoken in a town like {e}? The town language is spoken by the town.",
                     "Language spoken in the town of {e}: town records list which language is spoken."]},
    {"question": "What metal is mined at the {e} deep mine?", "answers": ["tin", "zinc", "silver", "lead"],
     "fact": "Miners at {e} dig {a} ore from veins of rock, and smelters refine it nearby.",
     "rationale": "Miners at {e} dig {a} ore from veins of rock that smelters refine. So the answer is {a}.",
     "distractors": ["The {e} deep mine is a mine; what metal is mined at a deep mine varies by mine.",
                     "Metal mined at {e}: the deep mine and the metal mined there, mine by mine."]},
]


def entity_names(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < count:
        name = "".join(rng.sample(SYLLABLES, 2)).capitalize()
        if name not in names:
            names.append(name)
    return names


def synthetic_world(num_entities: int = 40, num_test: int = 8, seed: int = 0) -> dict:
    """``{"corpus": {"id","title","text"} columns, "train": rows, "test": rows}``.

    Train rows carry ``rationale`` (processed train split), test rows ``rationales`` (eval split).
    """
    rng = random.Random(seed)
    corpus = {"id": [], "title": [], "text": []}
    rows = []
    for number, entity in enumerate(entity_names(num_entities, seed)):
        kind = KINDS[number % len(KINDS)]
        answer = rng.choice(kind["answers"])
        texts = [("fact", kind["fact"])] + [(f"distractor{i}", t) for i, t in enumerate(kind["distractors"])]
        for name, template in texts:
            corpus["id"].append(f"{name}-{entity.lower()}")
            corpus["title"].append("")
            corpus["text"].append(template.format(e=entity, a=answer))
        rows.append({"id": f"q-{entity.lower()}", "question": kind["question"].format(e=entity),
                     "rationale": kind["rationale"].format(e=entity, a=answer), "fact_id": f"fact-{entity.lower()}"})
    train, test = rows[:-num_test], rows[-num_test:]
    test = [{**{k: v for k, v in row.items() if k != "rationale"}, "rationales": [row["rationale"]]} for row in test]
    return {"corpus": corpus, "train": train, "test": test}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine two threads
    per process run several times slower than one; restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
