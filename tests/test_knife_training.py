"""KNIFE training: teacher and student steps on CPU, the frozen teacher, the command, prediction, bad inputs."""

import copy

import pytest
import torch
import yaml

from kard_hf.errors import ConfigError, DataError, ModelError
from kard_hf.knife import (KnifeCollator, KnifeDistillationCollator, KnifeTeacherTrainer, KnifeTrainer, load_knife_model,
                           load_knife_rows, load_knife_backbone, predict_choices)
from kard_hf.knife.arguments import KnifeTeacherTrainingArguments, KnifeTrainingArguments
from kard_hf.cli import COMMANDS
from kard_hf.distill.spec import StudentSpec
from kard_hf.benchmark.vocab import train_tokenizer
from knife_fixtures import save_processed

STEPS = dict(max_steps=3, per_device_train_batch_size=3, learning_rate=3e-3, logging_steps=1, save_strategy="no",
             report_to=[], use_cpu=True, seed=0, dataloader_num_workers=0)


@pytest.fixture(scope="module")
def processed(fixtures_dir, tmp_path_factory):
    return save_processed(fixtures_dir, tmp_path_factory.mktemp("knife-data") / "processed")


@pytest.fixture(scope="module")
def rows(processed):
    return load_knife_rows(str(processed))


def _parameters(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _changed(before, model):
    return [name for name, p in model.named_parameters() if not torch.equal(before[name], p)]


def test_teacher_trains_saves_a_card_and_reloads(tiny_t5_path, t5_tokenizer, rows, tmp_path):
    model = load_knife_backbone(str(tiny_t5_path), role="teacher")
    before = _parameters(model)
    args = KnifeTeacherTrainingArguments(output_dir=str(tmp_path), **STEPS)
    collator = KnifeCollator(t5_tokenizer, with_rationale=True)
    trainer = KnifeTeacherTrainer(model=model, args=args, train_dataset=rows, data_collator=collator,
                                  processing_class=t5_tokenizer,
                                  card_context=dict(role="teacher", title="t", base_model="tiny", dataset="fixture",
                                                    repo_or_path=str(tmp_path), rationale_bottleneck=True,
                                                    teacher=None, losses=None))
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    changed = _changed(before, model)
    assert "score.weight" in changed and "encoder.block.0.layer.0.SelfAttention.q.weight" in changed
    trainer.save_model()
    card = (tmp_path / "README.md").read_text()
    assert "KNIFE teacher" in card and "chan2022knife" in card and "only the task-input positions" in card
    reloaded, tokenizer = load_knife_model(str(tmp_path))
    batch = collator(list(rows.select(range(3))))
    model.eval()
    torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits, rtol=0, atol=1e-6)


def test_student_aligns_to_a_frozen_teacher(tiny_t5_path, t5_tokenizer, rows, tmp_path):
    torch.manual_seed(1)
    teacher = load_knife_backbone(str(tiny_t5_path), role="teacher")
    for p in teacher.parameters():  # a teacher unlike the student, so there is something to align
        p.data.add_(torch.randn_like(p) * 0.05)
    student = load_knife_backbone(str(tiny_t5_path), role="student")
    teacher_before, student_before = _parameters(teacher), _parameters(student)
    collator = KnifeDistillationCollator(KnifeCollator(t5_tokenizer), KnifeCollator(t5_tokenizer, with_rationale=True))
    args = KnifeTrainingArguments(output_dir=str(tmp_path), task_weight=0.5, **dict(STEPS, max_steps=6))
    trainer = KnifeTrainer(model=student, teacher=teacher, args=args, train_dataset=rows, data_collator=collator,
                           processing_class=t5_tokenizer)
    batch = collator(list(rows.select(range(6))))

    def kd_loss():
        student.train()  # dropout is 0 in the tiny model; train mode selects the distillation branch
        with torch.no_grad():
            return trainer.compute_loss(student, batch).item()

    start = kd_loss()
    trainer.train()
    assert kd_loss() < start
    assert not _changed(teacher_before, teacher), "the teacher must stay frozen"
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert len(_changed(student_before, student)) > 10
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert {"loss_kd_in", "loss_kd_out", "loss_task"} <= set(logged[0])


def test_misaligned_tokenizers_are_refused(t5_tokenizer, rows):
    from conftest import fixture_texts

    other = train_tokenizer(fixture_texts() * 3, "t5", vocab_size=300)
    collator = KnifeDistillationCollator(KnifeCollator(other), KnifeCollator(t5_tokenizer, with_rationale=True))
    with pytest.raises(ModelError, match="tokenizers split the task input of question 'train-veltram'"):
        collator(list(rows.select(range(2))))


def test_trainers_refuse_a_model_that_is_not_knife(tiny_causal, tiny_t5_path, t5_tokenizer, rows, tmp_path):
    teacher = load_knife_backbone(str(tiny_t5_path), role="teacher")
    args = KnifeTrainingArguments(output_dir=str(tmp_path), **STEPS)
    with pytest.raises(ModelError, match="KNIFE student"):
        KnifeTrainer(model=copy.deepcopy(tiny_causal), teacher=teacher, args=args, train_dataset=rows)


train = COMMANDS["train"]  # parse argv (the method picks KNIFE's parser) and run, errors raised


def test_commands_train_teacher_then_student_and_predict(tiny_t5_path, processed, tmp_path):
    common = ["--dataset", str(processed), "--max_steps", "1", "--per_device_train_batch_size", "2", "--report_to",
              "none", "--use_cpu", "true", "--save_strategy", "no", "--eval_split", "test"]
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    train(["--method", "knife-teacher", "--model_name_or_path", str(tiny_t5_path), "--output_dir", str(teacher_dir)]
          + common)
    recipe = tmp_path / "knife.yaml"
    recipe.write_text(yaml.safe_dump({"method": "knife", "model_name_or_path": str(tiny_t5_path),
                                      "teacher_model_name_or_path": str(teacher_dir), "kd_mode": "in",
                                      "task_weight": 1.0}))
    train(["--config", str(recipe), "--output_dir", str(student_dir), "--max_task_length", "40"] + common)
    assert (student_dir / "eval_results.json").is_file()
    spec = StudentSpec.load(student_dir)  # the input length it trained with, which prediction reads back
    assert spec.method == "knife" and spec.max_source_length == 40
    card = (student_dir / "README.md").read_text()
    assert "KNIFE student" in card and "(`teacher`) that records no Hub id" in card and "kd_mode `in`" in card
    assert str(teacher_dir) not in card  # a local path never reaches a card
    model, tokenizer = load_knife_model(str(student_dir))
    questions = [("Which bird nests in the marshes of Irisfen?", ["Heron", "Swift", "Crane", "Puffin"]),
                 ("Is Quessa an island?", ["yes", "no"]),
                 ("What is the Dunmore bridge made of?", ["Oak", "Iron", "Brick"])]
    batched = predict_choices(model, tokenizer, questions, batch_size=3)
    assert batched == predict_choices(model, tokenizer, questions, batch_size=1)
    rows = [{"stem": s, "options": o} for s, o in questions]
    logits = model(**KnifeCollator(tokenizer)(rows)).logits
    assert batched == logits.argmax(-1).tolist() and 0 <= batched[1] < 2


def test_the_teacher_is_evaluated_reading_each_questions_rationale(tiny_t5_path, processed, tmp_path):
    import json

    from kard_hf.cli import main
    from kard_hf.data import LETTERS
    from kard_hf.data.store import load_dataset_dict, save_dataset_dict

    teacher = tmp_path / "teacher"
    train(["--method", "knife-teacher", "--model_name_or_path", str(tiny_t5_path), "--output_dir", str(teacher),
           "--dataset", str(processed), "--max_steps", "1", "--per_device_train_batch_size", "2", "--report_to", "none",
           "--use_cpu", "true", "--save_strategy", "no", "--max_task_length", "40", "--max_rationale_length", "24"])
    spec = StudentSpec.load(teacher)  # the budgets evaluation cuts its inputs to
    assert (spec.method, spec.max_source_length, spec.max_rationale_length) == ("knife-teacher", 40, 24)
    assert main(["evaluate", "--student", str(teacher), "--dataset", str(processed), "--output_dir",
                 str(tmp_path / "eval")]) == 0
    predictions = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").open()]
    model, tokenizer = load_knife_model(str(teacher))
    test = load_knife_rows(str(processed), split="test")  # each question with its first teacher rationale
    collator = KnifeCollator(tokenizer, with_rationale=True, max_task_length=40, max_rationale_length=24)
    with torch.no_grad():
        expected = model(**collator(list(test))).logits.argmax(-1).tolist()
    assert [(row["letter"], row["index"]) for row in predictions] == [(LETTERS[i], i) for i in expected]

    dataset_dict, manifest = load_dataset_dict(processed)  # a question whose rationales were all dropped
    without = dataset_dict["test"].map(lambda row, i: {"rationales": [] if i == 0 else row["rationales"]},
                                       with_indices=True)
    save_dataset_dict(type(dataset_dict)({**dataset_dict, "test": without}), manifest, tmp_path / "without")
    assert main(["evaluate", "--student", str(teacher), "--dataset", str(tmp_path / "without"), "--output_dir",
                 str(tmp_path / "eval-without")]) == 0
    metrics = json.loads((tmp_path / "eval-without" / "metrics.json").read_text())
    assert metrics["left_out_without_rationale"] == [test[0]["id"]] and metrics["questions"] == len(test) - 1


def test_command_errors(tiny_t5_path, tiny_bert_path, processed, tmp_path):
    base = ["--dataset", str(processed), "--output_dir", str(tmp_path / "out"), "--use_cpu", "true"]
    with pytest.raises(ConfigError, match="method must be one of"):
        train(["--method", "knife-xl", "--model_name_or_path", str(tiny_t5_path)] + base)
    with pytest.raises(ConfigError, match="teacher_model_name_or_path"):
        train(["--method", "knife", "--model_name_or_path", str(tiny_t5_path)] + base)
    with pytest.raises(ModelError, match="T5- or BART-family encoder-decoder"):
        train(["--method", "knife-teacher", "--model_name_or_path", str(tiny_bert_path)] + base)
    with pytest.raises(ModelError, match="not a KNIFE teacher"):
        train(["--method", "knife", "--model_name_or_path", str(tiny_t5_path), "--teacher_model_name_or_path",
               str(tiny_bert_path)] + base)
    with pytest.raises(ConfigError, match="fp16"):
        KnifeTrainingArguments(output_dir=str(tmp_path), fp16=True)
    with pytest.raises(ConfigError, match="every loss term is off"):
        KnifeTrainingArguments(output_dir=str(tmp_path), kd_mode="out", kd_out_weight=0.0)


def test_free_text_rationales_from_a_column(fixtures_dir, tmp_path):
    rows = load_knife_rows(str(fixtures_dir / "strategyqa_train.json"), dataset_format="strategyqa",
                           rationale_column="facts", require_rationale=True)
    assert rows[0]["options"] == ["yes", "no"] and rows[0]["answer"] == 0
    assert rows[0]["rationale"] == "Julius Caesar had three children. Genghis Khan had sixteen children."
    with pytest.raises(DataError, match="row 0.*field 'rationale'"):
        load_knife_rows(str(fixtures_dir / "strategyqa_train.json"), dataset_format="strategyqa", require_rationale=True)


def test_processed_eval_rows_take_their_first_rationale(processed):
    test = load_knife_rows(str(processed), split="test")
    assert test[0]["rationale"].startswith("The grey crane nests") and test.column_names == [
        "id", "stem", "options", "answer", "rationale"]


@pytest.mark.parametrize("recipe", ["t5-base/knife-teacher", "t5-base/knife", "t5-large/knife-teacher", "t5-large/knife"])
def test_recipes_parse(recipe):
    from pathlib import Path

    from kard_hf.cli import COMMANDS

    path = Path(__file__).resolve().parents[1] / "recipes" / f"{recipe}.yaml"
    argv = ["--config", str(path), "--bf16", "false", "--use_cpu", "true"]
    method_args, data, model_args, training = COMMANDS["train"].parse(argv)
    method = method_args.method
    assert method == ("knife-teacher" if recipe.endswith("teacher") else "knife")
    assert data.rationale_column == "facts" and model_args.model_name_or_path.startswith("google-t5/")
    assert method == "knife-teacher" or model_args.teacher_model_name_or_path == training.output_dir + "-teacher"


def test_a_wider_teacher_distils_through_a_projection(tiny_t5_path, t5_tokenizer, processed, tmp_path):
    from kard_hf.knife import KnifeT5Config, KnifeT5ForMultipleChoice

    config = KnifeT5Config(vocab_size=len(t5_tokenizer), d_model=48, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                           decoder_start_token_id=0, dropout_rate=0.0)
    KnifeT5ForMultipleChoice(config).save_pretrained(tmp_path / "wide")
    t5_tokenizer.save_pretrained(tmp_path / "wide")
    argv = ["--method", "knife", "--model_name_or_path", str(tiny_t5_path), "--teacher_model_name_or_path",
            str(tmp_path / "wide"), "--dataset", str(processed), "--output_dir", str(tmp_path / "student"),
            "--max_steps", "1", "--report_to", "none", "--use_cpu", "true", "--save_strategy", "no"]
    with pytest.raises(ConfigError, match="differ in width"):
        train(argv)
    train(argv + ["--task_weight", "1.0"])
    student = KnifeT5ForMultipleChoice.from_pretrained(tmp_path / "student")
    assert student.config.teacher_hidden_size == 48 and student.teacher_projection.weight.shape == (48, 32)


def test_cached_teacher_states_give_the_same_loss_without_running_the_teacher(tiny_t5_path, t5_tokenizer, rows,
                                                                             tmp_path):
    teacher = load_knife_backbone(str(tiny_t5_path), role="teacher")
    student = load_knife_backbone(str(tiny_t5_path), role="student").train()
    for p in student.parameters():
        p.data.add_(torch.randn_like(p) * 0.05)
    collator = KnifeDistillationCollator(KnifeCollator(t5_tokenizer), KnifeCollator(t5_tokenizer, with_rationale=True))
    plain = KnifeTrainer(model=student, teacher=teacher, args=KnifeTrainingArguments(output_dir=str(tmp_path), **STEPS),
                         train_dataset=rows, data_collator=collator)
    cached = KnifeTrainer(model=student, teacher=teacher, train_dataset=rows, data_collator=collator,
                          args=KnifeTrainingArguments(output_dir=str(tmp_path), cache_teacher_states=True,
                                                      kd_layers="all", **STEPS))
    assert "row_index" in cached.train_dataset.column_names
    with torch.no_grad():
        for trainer in (plain, cached):  # shorter and longer questions together: padding differs per batch
            batches = [collator(list(trainer.train_dataset.select(indices))) for indices in ([0, 5], [5, 3, 1])]
            first = [trainer.compute_loss(student, batch) for batch in batches]
            calls = []
            trainer.teacher.register_forward_hook(lambda *a: calls.append(1))
            again = [trainer.compute_loss(student, batch) for batch in batches]
            assert torch.allclose(torch.stack(first), torch.stack(again), atol=1e-6)
            assert len(calls) == (2 if trainer is plain else 0)
    assert len(cached.teacher_cache) == 4
