"""The rationale pipeline without an endpoint: local models, the verifier, filters, prompts, the cache, custom teachers."""

import re
from pathlib import Path

import pytest

from kard_hf.parsing import parse_args
from kard_hf.cli import main
from kard_hf.data import LETTERS, MCQExample, load_mcq, read_rationales
from kard_hf.data.store import load_dataset_dict
from kard_hf.errors import DataError, TeacherError
from kard_hf.teacher import (FEW_SHOT_PROMPTS, AnswerFilter, Completion, SampleCache, SamplingParams, Teacher,
                             VerifierFilter, filter_rationales, load_prompt, sample_rationales)
from kard_hf.teacher.commands import ARGUMENTS

QUESTIONS = 6


@pytest.fixture(scope="module")
def train(fixtures_dir):
    return load_mcq(fixtures_dir / "medqa_usmle_hf_train.jsonl")


class PlantedTeacher(Teacher):
    """A programmatic teacher: returns the fixture's planted rationales (one right, one wrong per question)."""

    kind, model = "planted", "tests/fixtures/rationales"

    def __init__(self, examples, rationales):
        self.by_stem = {e.stem: (e.id, rationales[e.id]) for e in examples}
        self.calls = []

    def complete(self, prompt, n, sampling):
        question_id, texts = next(found for stem, found in self.by_stem.items() if f"Question: {stem}" in prompt)
        self.calls.append((question_id, n))
        return Completion(texts[-n:])


def planted_teacher(train, fixtures_dir):
    return PlantedTeacher(train, read_rationales(fixtures_dir / "rationales"))


def test_filter_counts_on_planted_rationales(train, fixtures_dir):
    samples = read_rationales(fixtures_dir / "rationales")
    examples, counts = filter_rationales(train, samples, AnswerFilter())
    assert (counts.kept, counts.dropped, counts.questions_without_rationale) == (QUESTIONS, QUESTIONS, 0)
    for example in examples:
        assert example.rationales == [t for t in samples[example.id] if t.endswith(f"({example.answer_letter}).")]


def test_a_custom_teacher_gets_cache_filter_and_resume(tmp_path, train, fixtures_dir):
    teacher, prompt, sampling = planted_teacher(train, fixtures_dir), load_prompt("medqa"), SamplingParams()
    with SampleCache(tmp_path / "cache.jsonl") as cache:
        samples = sample_rationales(train[:4], teacher, prompt, 2, sampling, cache)
    assert len(teacher.calls) == 4
    with SampleCache(tmp_path / "cache.jsonl") as cache:  # a later run over more questions asks only for the new ones
        samples = sample_rationales(train, teacher, prompt, 2, sampling, cache)
        assert len(cache) == 2 * QUESTIONS
    assert [q for q, _ in teacher.calls[4:]] == [e.id for e in train[4:]]
    _, counts = filter_rationales(train, samples, AnswerFilter())
    assert (counts.kept, counts.dropped) == (QUESTIONS, QUESTIONS)


def test_a_teacher_returning_too_few_texts_is_an_error(tmp_path, train):
    class Short(Teacher):
        def complete(self, prompt, n, sampling):
            return Completion(["So, the answer is (A)."] * (n - 1))

    with SampleCache(tmp_path / "c.jsonl") as cache, pytest.raises(TeacherError, match="too few texts for 6 question"):
        sample_rationales(train, Short(), load_prompt("medqa"), 2, SamplingParams(), cache)
    with SampleCache(tmp_path / "c.jsonl") as cache, pytest.raises(TeacherError, match="n must be >= 1"):
        sample_rationales(train, Short(), load_prompt("medqa"), 0, SamplingParams(), cache)


@pytest.mark.parametrize("name", sorted(FEW_SHOT_PROMPTS))
def test_builtin_prompts_are_consistent(name, train):
    prompt = load_prompt(name)
    exemplars = re.findall(r"Correct answer: \(([A-H])\)\nExplanation: (.*)", prompt.template)
    assert len(exemplars) >= 3
    for gold, rationale in exemplars:  # every exemplar's rationale concludes with its own gold letter
        assert rationale.endswith(f"So, the answer is ({gold}).")
    rendered = prompt.render(train[1])
    assert rendered.endswith("Question: What is the main export of the island of Quessa? A. Copper B. Indigo dye "
                             "C. Timber D. Wool\nCorrect answer: (B)\nExplanation:")
    assert "{" not in rendered


def test_a_template_file_with_answer_text(tmp_path, train):
    path = tmp_path / "mine.txt"
    path.write_text("Q: {question}\nGold: ({answer}) {answer_text}\nJSON stays: {\"a\": 1}\nWhy:", encoding="utf-8")
    prompt = load_prompt(str(path))
    assert prompt.name == "mine.txt" and len(prompt.sha256) == 64
    assert "Gold: (B) Indigo dye\nJSON stays: {\"a\": 1}" in prompt.render(train[1])


def test_the_cache_survives_a_truncated_last_line_and_rejects_garbage(tmp_path):
    path = tmp_path / "cache.jsonl"
    with SampleCache(path) as cache:
        cache.add("q1", "h", {0: "first", 1: "second"})
        cache.add("q1", "h", {0: "duplicate is ignored"})
    path.write_text(path.read_text() + '{"id": "q1", "sample": 2, "requ')  # killed mid-write
    with SampleCache(path) as cache:
        assert len(cache) == 2 and cache.get("q1", 0, "h") == "first" and cache.get("q1", 2, "h") is None
        cache.add("q1", "h", {2: "third"})
    assert [line[:20] for line in path.read_text().splitlines()] == ['{"id": "q1", "sample'] * 3
    path.write_text('{"id": "q1"}\n')
    with pytest.raises(DataError, match="line 1: not a teacher cache record"):
        SampleCache(path)


@pytest.mark.parametrize("model_fixture, filter_args", [("tiny_t5_path", []), ("tiny_causal_path", ["--filter", "verifier"])])
def test_local_teacher_end_to_end(tmp_path, fixtures_dir, model_fixture, filter_args, request):
    model_path = request.getfixturevalue(model_fixture)
    filter_args = filter_args + (["--verifier_model", str(model_path)] if filter_args else [])
    out, prompt = tmp_path / "out", tmp_path / "short_prompt.txt"
    prompt.write_text("Question: {question}\nCorrect answer: ({answer})\nExplanation:")
    argv = ["rationales", "--prompt", str(prompt), "--train_file", str(fixtures_dir / "medqa_usmle_hf_train.jsonl"),
            "--test_file", str(fixtures_dir / "medqa_usmle_hf_test.jsonl"), "--generate_splits", "train", "test",
            "--teacher", "transformers", "--model", str(model_path), "--n", "2", "--max_new_tokens", "6",
            "--batch_size", "4", "--seed", "0", "--output_dir", str(out), *filter_args]
    assert main(argv) == 0
    dataset_dict, manifest = load_dataset_dict(out)
    teacher = manifest["teacher"]
    assert teacher["kind"] == "transformers" and teacher["model"] == str(model_path)
    assert teacher["filter"] == ({"kind": "verifier", "model": str(model_path)} if filter_args else {"kind": "answer"})
    assert teacher["splits"]["train"]["kept"] + teacher["splits"]["train"]["dropped"] == 2 * QUESTIONS
    assert teacher["kept"] + teacher["dropped"] == 2 * (QUESTIONS + 2)
    assert sum(map(len, dataset_dict["train"]["rationales"])) == teacher["splits"]["train"]["kept"]
    cache = (tmp_path / "out.cache.jsonl").read_text().splitlines()
    assert len(cache) == 2 * (QUESTIONS + 2)
    assert main(argv) == 2  # the output exists: replacing it needs --overwrite_output_dir
    assert main(argv + ["--overwrite_output_dir"]) == 0  # resumed entirely from the cache
    assert (tmp_path / "out.cache.jsonl").read_text().splitlines() == cache


@pytest.mark.parametrize("model_fixture", ["tiny_t5_path", "tiny_causal_path"])
def test_verifier_verdicts_match_one_by_one_scoring(model_fixture, request, train):
    """Batched, dynamically padded letter scores give the verdicts of unbatched ones; the verdict is the best-scored
    letter, so of the four golds a rationale could be judged against exactly one passes."""
    verifier = VerifierFilter(request.getfixturevalue(model_fixture), batch_size=8)
    pairs = [(MCQExample(e.id, e.stem, e.options, gold), text) for e in train[:2]
             for text in ("It flows. So, the answer is (A).", "Because of the river.") for gold in range(4)]
    batched = verifier.judge(pairs)
    verifier.batch_size = 1
    assert verifier.judge(pairs) == batched
    assert [sum(batched[start:start + 4]) for start in range(0, len(pairs), 4)] == [1] * (len(pairs) // 4)


def test_local_causal_teacher_keeps_the_end_of_a_prompt_longer_than_its_positions(tiny_causal_path, train):
    from kard_hf.teacher import TransformersTeacher

    teacher = TransformersTeacher(tiny_causal_path)
    prompt = load_prompt("medqa").render(train[0])
    assert len(teacher.tokenizer(prompt)["input_ids"]) > teacher.lm.config.n_positions
    completion = teacher.complete(prompt, 2, SamplingParams(max_new_tokens=4, seed=0))
    assert len(completion.texts) == 2 and completion.prompt_tokens == teacher.lm.config.n_positions - 4


@pytest.mark.parametrize("recipe", sorted((Path(__file__).parents[1] / "recipes" / "rationales").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_recipes_parse(recipe):
    _, data, teacher, filtering, _ = parse_args(ARGUMENTS, ["--config", str(recipe)])
    assert data.generate_splits == ["train", "test"] and teacher.n == 10 and filtering.filter == "answer"
    assert load_prompt(teacher.prompt).name == recipe.stem.split("_")[0]
