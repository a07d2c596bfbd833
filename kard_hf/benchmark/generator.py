"""Generate the bundled benchmark: a passage corpus and multiple-choice questions that need it.

Each question asks which country a province belongs to. The answer is in one passage of the
corpus (worded unlike the question), never in the question. For a share of the provinces the
corpus also holds "lexical trap" passages that name the province together with a wrong option
and the question's own words, so BM25 with the question alone often ranks a trap first, while
BM25 with the teacher's rationale (which names the right country) finds the fact: the situation
KARD's reranker exists for. Test provinces never occur in training questions, and the wrong options
are the countries whose provinces' names look most like the asked one (lookalikes.py), so neither
memorization nor the sound of a name answers a test question.

A second test split, ``test_seen``, asks new questions about provinces that training questions
ask about: another wording and another set of wrong options (drawn from the province's nearest
lookalikes), never a training question repeated. There memorization can answer; on ``test`` only
retrieval can. It has its own random stream, so the other files are the same with or without it.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..data.schema import LETTERS, MCQExample
from ..fileio import atomic_path, write_json, write_jsonl
from .lookalikes import Lookalikes
from .world import Province, load_world

QUESTION_TEMPLATES = (
    "In which country is the province of {province}?",
    "The province of {province} is part of which country?",
    "Which country does the province of {province} belong to?",
)
FACT_TEMPLATES = (
    "{province} is an administrative region of {country}, located in {region}.",
    "{province} is one of the first-level administrative divisions of {country}, a nation of {region}.",
    "The region of {province} is governed as part of {country}; most of its inhabitants are {demonym}.",
)
TRAP_TEMPLATES = (
    "The {province} Cup is a football tournament open to clubs from every province of the country of {country}.",
    "{province} Street, in {capital}, is one of many streets of the country of {country} named after a province.",
    "The {province} Prize is given each year to young writers from any province of {country}, the country that founded it.",
    "A ship called the {province} was built in {country} and carried goods between the provinces of the country.",
)
COUNTRY_TEMPLATE = "{country} is a country in {region}. Its capital is {capital}."
SPLITS = ("train", "validation", "test")
SEEN_SPLIT = "test_seen"


@dataclass(frozen=True)
class BenchmarkConfig:
    """Sizes and difficulty of the generated benchmark."""

    seed: int = field(default=0, metadata={"help": "Seed: the same seed gives identical files."})
    num_train: int = field(default=1500, metadata={"help": "Training questions."})
    num_validation: int = field(default=100, metadata={"help": "Validation questions."})
    num_test: int = field(default=300, metadata={"help": "Test questions (provinces never seen in training)."})
    num_test_seen: int = field(default=100, metadata={
        "help": "Seen-entities test questions: new questions about provinces of training questions (at most num_train)."})
    num_options: int = field(default=4, metadata={"help": "Options per question (2 to 8)."})
    trap_rate: float = field(default=0.6, metadata={"help": "Share of provinces with lexical-trap passages."})


@dataclass(frozen=True)
class Fact:
    """What the programmatic teacher knows about a question: its province, country and fact passage."""

    question_id: str
    province: str
    country: str
    region: str
    passage_id: str


@dataclass
class Benchmark:
    corpus: list[dict]
    splits: dict[str, list[MCQExample]]
    facts: dict[str, Fact]


def generate(config: BenchmarkConfig = BenchmarkConfig()) -> Benchmark:
    """Build the corpus and the question splits for ``config`` (deterministic for its seed)."""
    provinces, all_countries = load_world()
    countries = {c.name: c for c in all_countries}
    total = config.num_train + config.num_validation + config.num_test
    if total > len(provinces):
        raise ValueError(f"asked for {total} questions but the world has {len(provinces)} provinces")
    if config.num_test_seen > config.num_train:
        raise ValueError(f"asked for {config.num_test_seen} seen-entities questions but there are only "
                         f"{config.num_train} training provinces to ask about")
    rng = random.Random(config.seed)
    lookalikes, country_names = Lookalikes(provinces), [c.name for c in all_countries]
    chosen: list[Province] = rng.sample(provinces, total)
    corpus, facts = [], {}
    splits: dict[str, list[MCQExample]] = {split: [] for split in SPLITS}
    bounds = {"train": config.num_train, "validation": config.num_train + config.num_validation, "test": total}
    for index, province in enumerate(provinces):  # every province has its fact in the KB, asked about or not
        country = province.country
        corpus.append({"id": f"fact-{index:05d}", "title": province.name,
                       "text": rng.choice(FACT_TEMPLATES).format(province=province.name, country=country.name,
                                                                 region=country.subregion,
                                                                 demonym=country.demonym or "citizens of " + country.name)})
    passage_of = {p.name: corpus[i]["id"] for i, p in enumerate(provinces)}
    for number, province in enumerate(chosen):
        split = next(s for s in SPLITS if number < bounds[s])
        country = province.country
        options = lookalikes.wrong_options(province, country_names, config.num_options - 1) + [country.name]
        rng.shuffle(options)
        answer = options.index(country.name)
        question_id = f"{split}-{number:05d}"
        stem = rng.choice(QUESTION_TEMPLATES).format(province=province.name)
        splits[split].append(MCQExample(question_id, stem, options, answer))
        facts[question_id] = Fact(question_id, province.name, country.name, country.subregion, passage_of[province.name])
        if rng.random() < config.trap_rate:
            trap_country = countries[rng.choice([o for o in options if o != country.name])]
            corpus.append({"id": f"trap-{number:05d}", "title": "",
                           "text": rng.choice(TRAP_TEMPLATES).format(province=province.name, country=trap_country.name,
                                                                     capital=trap_country.capital or trap_country.name)})
    splits[SEEN_SPLIT] = _seen_questions(config, list(zip(splits["train"], chosen)), facts, lookalikes, country_names,
                                         first_number=total)
    for country in all_countries:
        corpus.append({"id": f"country-{country.name.replace(' ', '_')}", "title": country.name,
                       "text": COUNTRY_TEMPLATE.format(country=country.name, region=country.subregion,
                                                       capital=country.capital or "not recorded")})
    return Benchmark(corpus, splits, facts)


def _seen_questions(config: BenchmarkConfig, train: list[tuple[MCQExample, Province]], facts: dict[str, Fact],
                    lookalikes: Lookalikes, country_names: list[str], *, first_number: int) -> list[MCQExample]:
    """New questions about ``config.num_test_seen`` training provinces (their facts are added to ``facts``).

    Each takes a question template other than its training question's, and ``num_options - 1`` of the
    province's ``2 (num_options - 1)`` nearest lookalike countries as wrong options, never exactly the
    training question's. Numbers continue after the other splits', so question ids stay unique.
    """
    rng = random.Random(f"{config.seed}-{SEEN_SPLIT}")
    questions = []
    for offset, (asked, province) in enumerate(rng.sample(train, config.num_test_seen)):
        fact = facts[asked.id]
        wrong = config.num_options - 1
        candidates = lookalikes.wrong_options(province, country_names, 2 * wrong)
        trained = set(asked.options) - {fact.country}
        options = rng.sample(candidates, wrong)
        while set(options) == trained:
            options = rng.sample(candidates, wrong)
        options.append(fact.country)
        rng.shuffle(options)
        template = rng.choice([t for t in QUESTION_TEMPLATES if t.format(province=fact.province) != asked.stem])
        question_id = f"{SEEN_SPLIT}-{first_number + offset:05d}"
        questions.append(MCQExample(question_id, template.format(province=fact.province), options,
                                    options.index(fact.country)))
        facts[question_id] = replace(fact, question_id=question_id)
    return questions


def _kard_row(example: MCQExample) -> dict:
    """The original MedQA/OBQA JSONL layout, so the pipeline reads the benchmark with its real loaders."""
    row = {"id": example.id, "sent1": example.stem}
    row.update({f"ending{i}": option for i, option in enumerate(example.options)})
    row["label"] = example.answer
    return row


def write_benchmark(config: BenchmarkConfig, output_dir: str | Path) -> Benchmark:
    """Write corpus.jsonl, {train,validation,test,test_seen}.jsonl, facts.jsonl and benchmark.json (atomically)."""
    from importlib.metadata import version

    benchmark = generate(config)
    with atomic_path(output_dir) as tmp:
        tmp.mkdir()
        write_jsonl(tmp / "corpus.jsonl", benchmark.corpus)
        for split, examples in benchmark.splits.items():
            write_jsonl(tmp / f"{split}.jsonl", map(_kard_row, examples))
        write_jsonl(tmp / "facts.jsonl", (asdict(fact) for fact in benchmark.facts.values()))
        write_json(tmp / "benchmark.json", {"config": asdict(config), "source": f"countryinfo {version('countryinfo')}",
                                            "passages": len(benchmark.corpus),
                                            "questions": {s: len(e) for s, e in benchmark.splits.items()},
                                            "letters": LETTERS[:config.num_options]})
    return benchmark
