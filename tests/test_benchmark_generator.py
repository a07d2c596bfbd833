"""The bundled benchmark: deterministic, held-out and seen entities, answers only in the corpus."""

import filecmp
import re

from kard_hf.benchmark.generator import BenchmarkConfig, generate, write_benchmark
from kard_hf.data import load_mcq

SMALL = BenchmarkConfig(seed=3, num_train=200, num_validation=20, num_test=50, num_test_seen=40)


def test_same_seed_gives_identical_files(tmp_path):
    write_benchmark(SMALL, tmp_path / "a")
    write_benchmark(SMALL, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["benchmark.json", "corpus.jsonl", "facts.jsonl", "test.jsonl", "test_seen.jsonl", "train.jsonl",
                     "validation.jsonl"]
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert mismatch == [] and errors == []
    write_benchmark(BenchmarkConfig(seed=4, num_train=200, num_validation=20, num_test=50), tmp_path / "c")
    assert not filecmp.cmp(tmp_path / "a" / "test.jsonl", tmp_path / "c" / "test.jsonl", shallow=False)


def test_test_entities_never_occur_in_training_questions():
    benchmark = generate(SMALL)
    train_text = " ".join(q.stem for q in benchmark.splits["train"])
    for question in benchmark.splits["test"] + benchmark.splits["validation"]:
        province = benchmark.facts[question.id].province
        assert not re.search(rf"\b{re.escape(province)}\b", train_text), province


def test_no_test_question_is_a_training_question():
    benchmark = generate(SMALL)
    train = benchmark.splits["train"]
    asked = {(q.stem, frozenset(q.options)) for q in train}
    for question in benchmark.splits["test"] + benchmark.splits["test_seen"]:
        assert (question.stem, frozenset(question.options)) not in asked, question
    trained = {benchmark.facts[q.id].province: q for q in train}
    for question in benchmark.splits["test_seen"]:  # new wording and new options, about the same province
        before = trained[benchmark.facts[question.id].province]
        assert question.stem != before.stem and set(question.options) != set(before.options)
        assert question.options[question.answer] == before.options[before.answer]


def test_seen_entities_occur_in_training_and_held_out_ones_do_not():
    benchmark = generate(SMALL)
    trained = {benchmark.facts[q.id].province for q in benchmark.splits["train"]}
    seen = [benchmark.facts[q.id].province for q in benchmark.splits["test_seen"]]
    assert len(seen) == len(set(seen)) == 40 and set(seen) <= trained
    assert not trained & {benchmark.facts[q.id].province for q in benchmark.splits["test"]}
    assert all(benchmark.facts[q.id].province in q.stem for q in benchmark.splits["test_seen"])


def test_the_seen_split_leaves_the_other_files_as_they_were(tmp_path):
    with_seen, without = generate(SMALL), generate(BenchmarkConfig(seed=3, num_train=200, num_validation=20, num_test=50,
                                                                   num_test_seen=0))
    assert with_seen.corpus == without.corpus and without.splits["test_seen"] == []
    assert all(with_seen.splits[s] == without.splits[s] for s in ("train", "validation", "test"))


def test_the_answer_is_in_one_fact_passage_not_in_the_question(tmp_path):
    benchmark = write_benchmark(SMALL, tmp_path / "bench")
    passages = {row["id"]: row["text"] for row in benchmark.corpus}
    bench = tmp_path / "bench"
    for question in [*load_mcq(bench / "test.jsonl"), *load_mcq(bench / "test_seen.jsonl")]:  # read with the real loader
        fact = benchmark.facts[question.id]
        gold = question.options[question.answer]
        assert gold == fact.country and fact.province in passages[fact.passage_id] and gold in passages[fact.passage_id]
        assert gold not in question.stem
        assert len(set(question.options)) == len(question.options) == 4


def test_traps_name_the_province_with_a_wrong_option():
    benchmark = generate(SMALL)
    traps = [row for row in benchmark.corpus if row["id"].startswith("trap-")]
    assert 0.4 * 270 < len(traps) < 0.8 * 270  # trap_rate 0.6 of the 270 questions
    questions = {q.id.split("-")[1]: q for split in benchmark.splits.values() for q in split}
    for trap in traps:
        question = questions[trap["id"].split("-")[1]]
        fact = benchmark.facts[question.id]
        wrong = [o for o in question.options if o != fact.country and o in trap["text"]]
        assert fact.province in trap["text"] and wrong and fact.country not in trap["text"]


def test_teacher_names_the_country_checks_the_options_up_to_its_answer_and_cites_the_fact():
    from kard_hf.benchmark.teacher import PROMPT, BenchmarkTeacher
    from kard_hf.data.formatting import extract_answer
    from kard_hf.teacher.base import SamplingParams

    benchmark = generate(SMALL)
    teacher = BenchmarkTeacher(error_rate=0.3)
    right = wrong = 0
    for question in benchmark.splits["train"][:20]:
        fact = benchmark.facts[question.id]
        texts = teacher.complete(PROMPT.render(question), 5, SamplingParams(seed=0)).texts
        assert texts == teacher.complete(PROMPT.render(question), 5, SamplingParams(seed=0)).texts
        for text in texts:
            answer = extract_answer(text, 4)
            named = question.options[answer]
            checked = re.findall(r"\(([A-D])\) ([^:]+): (yes|no)\.", text)
            assert [letter for letter, _, _ in checked] == list("ABCD"[:answer + 1])
            assert [(name, verdict) for _, name, verdict in checked] == [
                (option, "yes" if i == answer else "no") for i, option in enumerate(question.options[:answer + 1])]
            assert text.startswith(f"{named}. (A) ")
            cited = text.split(f"So, the answer is ({'ABCD'[answer]}). ")[1]
            assert fact.province in cited and named in cited
            right += answer == question.answer
            wrong += answer != question.answer
    assert right > 0 and wrong > 0  # the deliberate mistakes are there for the answer filter to drop


def test_wrong_options_are_the_countries_whose_provinces_look_alike():
    from kard_hf.benchmark.lookalikes import Lookalikes
    from kard_hf.benchmark.world import Country, Province

    thailand, laos, chile = (Country(name, "", "", "") for name in ("Thailand", "Laos", "Chile"))
    provinces = (Province("Nakhon Phanom", thailand), Province("Nakhon Sawan", thailand),
                 Province("Nakhon Luang", laos), Province("Valparaiso", chile), Province("Atacama", chile))
    assert Lookalikes(provinces).wrong_options(provinces[0], ["Chile", "Laos", "Thailand"], 1) == ["Laos"]


def test_the_sound_of_a_province_name_does_not_answer_a_test_question():
    """The student that never reads (RD) would learn name-to-country hints from the training provinces;
    the same hints in a trigram model pick the right option for few test questions."""
    from kard_hf.benchmark.lookalikes import Lookalikes
    from kard_hf.benchmark.world import Province, load_world

    config = BenchmarkConfig(seed=0, num_train=3000, num_validation=100, num_test=300)
    benchmark = generate(config)
    country_of = {p.name: p.country for p in load_world()[0]}
    train = tuple(Province(benchmark.facts[q.id].province, country_of[benchmark.facts[q.id].province])
                  for q in benchmark.splits["train"])
    hints = Lookalikes(train)
    hits = 0
    for question in benchmark.splits["test"]:
        scores = hints.scores(benchmark.facts[question.id].province, question.options)
        hits += max(question.options, key=scores.get) == benchmark.facts[question.id].country
    assert hits / len(benchmark.splits["test"]) < 0.4
