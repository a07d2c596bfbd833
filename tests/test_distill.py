"""Student training: the collator's budget and layouts, the loss under padding and gradient accumulation,
the trainer and ``kard-hf train`` end to end (seq2seq and decoder-only, each method, with and without LoRA),
save -> reload -> generate, resume, and the errors bad input gets."""

import copy
import dataclasses
import itertools
import json

import pytest
import torch
from datasets import Dataset

from distill_fixtures import MANIFEST, processed_dataset_dict, save_processed, train_rows
from kard_hf.cli import main
from kard_hf.distill.arguments import TEMPLATES
from kard_hf.distill import (StudentDataCollator, StudentTrainer, StudentTrainingArguments, check_precision,
                             is_seq2seq, token_nll)
from kard_hf.errors import ConfigError, DataError, ModelError


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    return save_processed(tmp_path_factory.mktemp("processed") / "medqa")


@pytest.fixture(scope="module")
def rows():
    return train_rows()


def student_args(tmp_path, **overrides):
    defaults = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, max_steps=2, report_to="none",
                    save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0)
    return StudentTrainingArguments(**{**defaults, **overrides})


def ids_of(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def contains(sequence, part):
    return any(sequence[i:i + len(part)] == part for i in range(len(sequence) - len(part) + 1))


# ---- loss --------------------------------------------------------------------------------------------


def test_token_nll_is_summed_cross_entropy_over_the_given_count():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 5, 7), torch.tensor([[1, 2, -100, -100, -100], [3, 4, 5, 6, -100]])
    mean = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), labels.reshape(-1), ignore_index=-100)
    assert torch.allclose(token_nll(logits, labels), mean)
    assert torch.allclose(token_nll(logits, labels, num_items_in_batch=12), mean * 6 / 12)
    shifted = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1),
                                                ignore_index=-100)
    assert torch.allclose(token_nll(logits, labels, shift=True), shifted)


def test_output_layer_selection_keeps_the_marked_positions_and_leaves_other_layouts_whole():
    from kard_hf.distill.losses import OutputLayerSelection

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(4, 7)

        def get_output_embeddings(self):
            return self.head

    model, hidden = Model(), torch.randn(2, 5, 4)
    keep = torch.tensor([[True, False, True, False, False], [False, False, False, True, True]])
    selection = OutputLayerSelection(model)
    assert model.head(hidden).shape == (2, 5, 7)  # outside `at`: whole
    with selection.at(keep):
        assert torch.equal(model.head(hidden), model.head.forward(hidden)[keep])  # the 4 kept rows, in row order
        assert model.head(hidden.reshape(10, 4)).shape == (10, 7)  # another layout: left whole
    assert model.head(hidden).shape == (2, 5, 7)


# ---- collator ----------------------------------------------------------------------------------------


def test_budget_cuts_passages_first_never_question_or_suffix(t5_tokenizer, rows):
    row = rows[0]
    full = StudentDataCollator(t5_tokenizer, num_passages=3, max_source_length=512).encode_prompts(
        [row["question"]], [row["passages"]])[0]
    question, suffix = ids_of(t5_tokenizer, row["question"]), ids_of(t5_tokenizer, "\nExplanation:")
    for budget in (len(full) - 1, len(full) - 25, len(full) - 45):
        prompt = StudentDataCollator(t5_tokenizer, num_passages=3, max_source_length=budget).encode_prompts(
            [row["question"]], [row["passages"]])[0]
        assert len(prompt) == budget
        assert contains(prompt, question)
        assert prompt[-len(suffix) - 1:] == suffix + [t5_tokenizer.eos_token_id]
        assert prompt[:-len(suffix) - 1] == full[:budget - len(suffix) - 1]  # only the passages' tail is gone
    assert contains(full, ids_of(t5_tokenizer, row["passages"][2]))  # with room, all three passages are there


def test_question_longer_than_the_budget_keeps_the_suffix(t5_tokenizer, rows):
    collator = StudentDataCollator(t5_tokenizer, max_source_length=20)
    prompt = collator.encode_prompts([rows[0]["question"]], [rows[0]["passages"][:1]])[0]
    assert len(prompt) == 20 and prompt[-1] == t5_tokenizer.eos_token_id
    assert t5_tokenizer.decode(prompt, skip_special_tokens=True).endswith("Explanation:")


def test_method_layouts(t5_tokenizer, rows):
    row = rows[0]
    decode = lambda ids: t5_tokenizer.decode([i for i in ids if i >= 0], skip_special_tokens=True)
    kard = StudentDataCollator(t5_tokenizer, method="kard")([row])
    assert "Knowledge: " + row["passages"][0] in decode(kard["input_ids"][0])
    assert row["passages"][1] not in decode(kard["input_ids"][0])  # k = 1: only the best passage
    assert decode(kard["labels"][0]) == decode(t5_tokenizer(row["target"])["input_ids"])
    rd = StudentDataCollator(t5_tokenizer, method="rd")([row])
    assert "Knowledge" not in decode(rd["input_ids"][0]) and decode(rd["input_ids"][0]).endswith("Explanation:")
    ft = StudentDataCollator(t5_tokenizer, method="ft")([row])
    assert decode(ft["input_ids"][0]).endswith("Answer:") and decode(ft["labels"][0]) == "A"
    bare_layout = dataclasses.replace(TEMPLATES["bare"], suffix=" So:")  # what --template bare --suffix " So:" builds
    bare = StudentDataCollator(t5_tokenizer, method="rd", template=bare_layout)([row])
    assert decode(bare["input_ids"][0]).startswith("Question:") and decode(bare["input_ids"][0]).endswith("So:")


def test_decoder_only_batch_masks_the_prompt_and_pads_right(causal_tokenizer, rows):
    collator = StudentDataCollator(causal_tokenizer, method="rd", decoder_only=True)
    batch = collator(rows[:3])
    prompts, targets = collator.encode({k: [r[k] for r in rows[:3]] for k in rows[0]})
    for i, (prompt, target) in enumerate(zip(prompts, targets)):
        n = len(prompt) + len(target)
        assert batch["input_ids"][i, :n].tolist() == prompt + target
        assert batch["labels"][i, :len(prompt)].eq(-100).all() and batch["labels"][i, len(prompt):n].tolist() == target
        assert batch["attention_mask"][i].tolist() == [1] * n + [0] * (batch["input_ids"].shape[1] - n)
        assert batch["labels"][i, n:].eq(-100).all()
    assert target[-1] == causal_tokenizer.eos_token_id
    generation = collator.generation_inputs([r["question"] for r in rows[:3]])
    assert generation["attention_mask"][:, -1].eq(1).all()  # left padding: prompts end together
    assert generation["input_ids"][0, -generation["attention_mask"][0].sum():].tolist() == prompts[0]
    assert generation["input_ids"][0, :-len(prompts[0])].eq(causal_tokenizer.pad_token_id).all()
    flipped = copy.deepcopy(causal_tokenizer)  # the sides are the collator's, whatever the tokenizer's padding_side
    flipped.padding_side = "left" if causal_tokenizer.padding_side == "right" else "right"
    again = StudentDataCollator(flipped, method="rd", decoder_only=True)
    assert all(torch.equal(batch[key], again(rows[:3])[key]) for key in batch)
    assert torch.equal(generation["input_ids"], again.generation_inputs([r["question"] for r in rows[:3]])["input_ids"])


def test_passage_sampling_is_seeded_and_changes_between_epochs(t5_tokenizer, rows):
    columns = {k: [r[k] for r in rows] for k in rows[0]}

    def chosen(seed, epoch):
        collator = StudentDataCollator(t5_tokenizer, num_passages=2, sample_passages=True, seed=seed, epoch=epoch)
        prompts, _ = collator.encode(columns)  # which two passages (in which order) each prompt shows
        return [next(pick for pick in itertools.permutations(passages, 2)
                     if collator.encode_prompts([question], [list(pick)])[0] == prompt)
                for question, passages, prompt in zip(columns["question"], columns["passages"], prompts)]

    assert chosen(1, 0) == chosen(1, 0)
    assert chosen(1, 0) != chosen(1, 1) and chosen(1, 0) != chosen(2, 0)
    for row, pick in zip(rows, chosen(1, 3)):
        assert [row["passages"].index(p) for p in pick] == sorted(row["passages"].index(p) for p in pick)


def test_collator_rejects_bad_options(t5_tokenizer, rows):
    with pytest.raises(ConfigError, match="method"):
        StudentDataCollator(t5_tokenizer, method="cot")
    with pytest.raises(ConfigError, match="sample_passages"):
        StudentDataCollator(t5_tokenizer, method="rd", sample_passages=True)
    with pytest.raises(DataError, match="stores only 3 passages"):
        StudentDataCollator(t5_tokenizer, num_passages=4)(rows[:1])


# ---- loss equivalences through the trainer -------------------------------------------------------------


def make_trainer(model, tokenizer, args, dataset, trainer_class=StudentTrainer):
    if trainer_class is StudentTrainer:
        return StudentTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    from transformers import Seq2SeqTrainer
    collator = StudentDataCollator(tokenizer, decoder_only=not model.config.is_encoder_decoder)
    return Seq2SeqTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                          data_collator=collator)


@pytest.mark.parametrize("kind", ["t5", "causal"])
def test_dynamic_padding_gives_the_same_loss_as_max_length_padding(kind, request, tmp_path, rows):
    model, tokenizer = request.getfixturevalue(f"tiny_{kind}"), request.getfixturevalue(f"{kind}_tokenizer")
    trainer = make_trainer(model, tokenizer, student_args(tmp_path), Dataset.from_list(rows))
    batch = trainer.data_collator(rows[:4])
    padded = {key: torch.nn.functional.pad(value, (0, 37), value={"input_ids": tokenizer.pad_token_id,
                                                                   "attention_mask": 0, "labels": -100}[key])
              for key, value in batch.items()}
    with torch.no_grad():
        dynamic, fixed = trainer.compute_loss(model, batch), trainer.compute_loss(model, padded)
    assert torch.allclose(dynamic, fixed, atol=1e-5)


@pytest.mark.parametrize("kind", ["t5", "causal"])
def test_training_runs_the_output_layer_only_at_target_tokens(kind, request, tmp_path, rows):
    model, tokenizer = request.getfixturevalue(f"tiny_{kind}"), request.getfixturevalue(f"{kind}_tokenizer")
    model = copy.deepcopy(model).train()
    trainer = make_trainer(model, tokenizer, student_args(tmp_path), Dataset.from_list(rows))
    batch = trainer.data_collator(rows[:4])
    targets = batch["labels"] if kind == "t5" else torch.nn.functional.pad(batch["labels"], (0, 1), value=-100)[:, 1:]
    seen = []
    handle = model.get_output_embeddings().register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape)))
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    selected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    # the same loss from the whole logits, as the stock path computes them
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if kind == "t5":
        inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
    whole = model(**inputs, use_cache=False).logits
    reference = token_nll(whole, batch["labels"], shift=kind == "causal")
    reference.backward()
    handle.remove()
    labelled = int(targets.ne(-100).sum())
    assert seen[0] == (labelled, model.config.vocab_size) and labelled < targets.numel()
    assert seen[1] == (*targets.shape, model.config.vocab_size)
    assert torch.allclose(loss, reference, atol=1e-6)
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(selected, model.parameters()))
    _, outputs = trainer.compute_loss(model, batch, return_outputs=True)  # evaluation: the whole logits
    assert outputs.logits.shape == (*targets.shape, model.config.vocab_size)


def one_sgd_step(model, tokenizer, tmp_path, rows, batch_size, accumulation, trainer_class=StudentTrainer):
    model = copy.deepcopy(model).train()
    args = student_args(tmp_path / f"{batch_size}x{accumulation}", per_device_train_batch_size=batch_size,
                        gradient_accumulation_steps=accumulation, max_steps=1, optim="sgd", learning_rate=1.0,
                        max_grad_norm=0.0, train_sampling_strategy="random")
    before = [p.detach().clone() for p in model.parameters()]
    trainer = make_trainer(model, tokenizer, args, Dataset.from_list(rows[:8]), trainer_class)
    loss = trainer.train().training_loss
    return loss, torch.cat([(b - p.detach()).flatten() for b, p in zip(before, model.parameters())])


@pytest.mark.parametrize("kind", ["t5", "causal"])
def test_gradient_accumulation_matches_one_large_batch(kind, request, tmp_path, rows):
    model, tokenizer = request.getfixturevalue(f"tiny_{kind}"), request.getfixturevalue(f"{kind}_tokenizer")
    loss_big, step_big = one_sgd_step(model, tokenizer, tmp_path, rows, 8, 1)
    loss_acc, step_acc = one_sgd_step(model, tokenizer, tmp_path, rows, 2, 4)
    assert step_big.abs().max() > 1e-4
    assert torch.allclose(step_big, step_acc, atol=1e-5, rtol=1e-3)
    assert loss_big == pytest.approx(loss_acc, rel=1e-4)
    if kind == "t5":  # the stock trainer trusts T5's per-micro-batch mean: its accumulated step is off
        from transformers import Seq2SeqTrainer
        _, step_stock = one_sgd_step(model, tokenizer, tmp_path, rows, 2, 4, Seq2SeqTrainer)
        assert not torch.allclose(step_big, step_stock, atol=1e-5, rtol=1e-3)


# ---- trainer / command ---------------------------------------------------------------------------------


def train_argv(model_path, processed, output_dir, *extra):
    return ["train", "--model_name_or_path", str(model_path), "--dataset", str(processed), "--output_dir",
            str(output_dir), "--max_steps", "2", "--per_device_train_batch_size", "4", "--logging_steps", "1",
            "--save_strategy", "no", "--disable_tqdm", "true", *extra]


def generate(output_dir, kind, method):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    model = (AutoModelForSeq2SeqLM if kind == "t5" else AutoModelForCausalLM).from_pretrained(output_dir).eval()
    collator = StudentDataCollator(tokenizer, method=method, decoder_only=kind != "t5")
    row = train_rows()[0]
    inputs = collator.generation_inputs([row["question"]], [row["passages"][:1]] if method == "kard" else None)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return out.shape[-1] - (0 if kind == "t5" else inputs["input_ids"].shape[1])


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("method", ["ft", "rd", "kard"])
@pytest.mark.parametrize("kind", ["t5", "causal"])
def test_train_command_saves_a_student_that_reloads_and_generates(kind, method, lora, request, processed, tmp_path):
    model_path = request.getfixturevalue(f"tiny_{kind}_path")
    out = tmp_path / "student"
    assert main(train_argv(model_path, processed, out, "--method", method, "--use_lora", str(lora))) == 0
    state = json.loads((out / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) == 2 and all(0 < loss < 20 for loss in losses)
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()  # LoRA merged
    card = (out / "README.md").read_text()
    assert f"- {method}" in card and "kang2023knowledge" in card
    # the processed dataset is a local folder that records no Hub id: named in the text, not in the metadata
    assert f"(`{processed.name}`) that records no Hub id" in card and str(processed) not in card
    assert ("sha256:fixture-corpus" in card) == (method == "kard")  # only a KARD student read the KB's passages
    assert generate(out, kind, method) >= 1


def test_lora_adapters_kept_when_not_merged(tiny_causal_path, processed, tmp_path):
    out = tmp_path / "adapter"
    assert main(train_argv(tiny_causal_path, processed, out, "--use_lora", "true", "--merge_lora", "false",
                           "--activation_checkpointing", "true")) == 0
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["target_modules"] == ["c_attn"] and config["r"] == 16
    assert "LoRA: r = 16" in (out / "README.md").read_text()


def test_lora_with_gradient_checkpointing_updates_the_adapters(tiny_t5, t5_tokenizer, rows, tmp_path):
    from kard_hf.distill import StudentModelArguments, add_lora

    model = add_lora(copy.deepcopy(tiny_t5), StudentModelArguments(model_name_or_path="x"), gradient_checkpointing=True)
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".q." in n or ".v." in n for n in trainable)
    args = student_args(tmp_path, activation_checkpointing=True, max_steps=2, learning_rate=1e-2)
    StudentTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=t5_tokenizer).train()
    changed = [n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(p, trainable[n])]
    assert any("lora_A" in n for n in changed)


def test_length_column_feeds_the_length_grouped_sampler(tiny_t5, t5_tokenizer, rows, tmp_path):
    trainer = StudentTrainer(model=copy.deepcopy(tiny_t5), args=student_args(tmp_path, per_device_train_batch_size=1),
                             train_dataset=Dataset.from_list(rows), processing_class=t5_tokenizer)
    lengths = trainer.train_dataset["length"]
    prompts, targets = trainer.data_collator.encode({k: [r[k] for r in rows] for k in rows[0]})
    assert lengths == [len(p) + len(t) for p, t in zip(prompts, targets)]
    from transformers.trainer_pt_utils import get_length_grouped_indices

    loader = trainer.get_train_dataloader()
    orders = []
    for epoch in (0, 1):  # the rows the Trainer feeds: transformers' length-grouped order, seeded by (seed, epoch)
        loader.set_epoch(epoch)
        orders.append([int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum()) for batch in loader])
        generator = torch.Generator().manual_seed(hash((0, epoch)) & 0x7FFFFFFFFFFFFFFF)
        assert orders[-1] == [lengths[i] for i in get_length_grouped_indices(lengths, 1, generator=generator)]
    assert orders[0][0] == max(lengths) and orders[0] != orders[1]


def test_eval_split_loss_with_length_grouping(tiny_causal, causal_tokenizer, rows, tmp_path):
    dataset = Dataset.from_list(rows)
    trainer = StudentTrainer(model=copy.deepcopy(tiny_causal), args=student_args(tmp_path, method="kard"),
                             train_dataset=dataset, eval_dataset=dataset, processing_class=causal_tokenizer)
    manual = trainer.compute_loss(trainer.model, trainer.data_collator(rows)).item()
    assert trainer.evaluate()["eval_loss"] == pytest.approx(manual, rel=0.05)


def test_resume_from_checkpoint_continues_the_same_run(tiny_t5_path, processed, tmp_path):
    from safetensors.torch import load_file

    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    common = ["--max_steps", "4", "--per_device_train_batch_size", "2", "--save_strategy", "steps", "--save_steps", "2",
              "--lr_scheduler_type", "constant"]
    assert main(train_argv(tiny_t5_path, processed, straight, *common)) == 0
    assert main(train_argv(tiny_t5_path, processed, interrupted, *common[:1], "2", *common[2:])) == 0
    assert main(train_argv(tiny_t5_path, processed, interrupted, *common, "--resume_from_checkpoint", "last")) == 0
    state = json.loads((interrupted / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]
    a, b = load_file(straight / "model.safetensors"), load_file(interrupted / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_precision_defaults_and_fp16_refusal(tiny_t5, tiny_causal, tmp_path):
    assert student_args(tmp_path).bf16 is (torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    with pytest.raises(ConfigError, match="fp16 is not supported for t5"):
        check_precision(tiny_t5.config, fp16=True)
    check_precision(tiny_causal.config, fp16=True)  # allowed for decoder-only students


# ---- bad input -----------------------------------------------------------------------------------------


def saved_variant(tmp_path, name, **splits):
    dataset_dict = processed_dataset_dict()
    for split, dataset in splits.items():
        dataset_dict[split] = dataset
    return save_processed(tmp_path / name, dataset_dict)


def run_train(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_kard_without_passages_is_refused(tiny_t5_path, tmp_path, capsys):
    path = saved_variant(tmp_path, "nopassages", train=processed_dataset_dict()["train"].remove_columns("passages"))
    code, err = run_train(capsys, *train_argv(tiny_t5_path, path, tmp_path / "o"))
    assert code == 2 and str(path) in err and "field 'passages'" in err and "--method rd" in err
    assert not (tmp_path / "o").exists()
    assert main(train_argv(tiny_t5_path, path, tmp_path / "rd", "--method", "rd")) == 0  # RD does not need them


def test_eval_format_split_cannot_train(tiny_t5_path, processed, tmp_path, capsys):
    code, err = run_train(capsys, *train_argv(tiny_t5_path, processed, tmp_path / "o", "--train_split", "test"))
    assert code == 2 and "field 'target'" in err
    code, err = run_train(capsys, *train_argv(tiny_t5_path, processed, tmp_path / "o", "--train_split", "dev"))
    assert code == 2 and "no split 'dev' (has train, test)" in err


def test_empty_training_set_is_refused(tiny_t5, t5_tokenizer, tmp_path):
    # (datasets cannot reload an empty split saved with save_to_disk, so this is checked on the trainer)
    empty = processed_dataset_dict()["train"].select([])
    with pytest.raises(DataError, match="split 'train' is empty"):
        StudentTrainer(model=tiny_t5, args=student_args(tmp_path), train_dataset=empty, processing_class=t5_tokenizer,
                       dataset_name="data/medqa-kard")


def test_more_passages_than_stored_names_the_row(tiny_t5_path, tmp_path, capsys):
    train = processed_dataset_dict()["train"]
    short = train.map(lambda row, i: {"passages": row["passages"][:1] if i == 5 else row["passages"]}, with_indices=True)
    path = saved_variant(tmp_path, "short", train=short)
    code, err = run_train(capsys, *train_argv(tiny_t5_path, path, tmp_path / "o", "--num_passages", "2"))
    assert code == 2 and "row 5" in err and "field 'passages'" in err and "only 1 passages" in err


def test_model_that_cannot_generate_is_refused(tiny_bert_path, processed, tmp_path, capsys):
    from transformers import DistilBertConfig, DistilBertModel

    path = tmp_path / "distilbert"
    DistilBertModel(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32)).save_pretrained(path)
    with pytest.raises(ModelError, match="neither a seq2seq LM"):
        is_seq2seq(DistilBertModel.config_class.from_pretrained(path))
    code, err = run_train(capsys, *train_argv(path, processed, tmp_path / "o"))
    assert code == 2 and "'distilbert' model is neither" in err


def test_bad_options_are_config_errors(tiny_t5_path, processed, tmp_path, capsys):
    for extra, message in [(("--method", "cot"), "unknown method 'cot'"), (("--num_passages", "0"), "num_passages"),
                           (("--prompt_template", "fancy"), "unknown prompt_template"),
                           (("--method", "rd", "--sample_passages", "true"), "sample_passages")]:
        code, err = run_train(capsys, *train_argv(tiny_t5_path, processed, tmp_path / "o", *extra))
        assert code == 2 and message in err, (extra, err)


def test_knife_methods_get_knifes_parser_from_the_command_line_or_the_recipe(tmp_path):
    from kard_hf.cli import COMMANDS
    from kard_hf.parsing import option_value
    from kard_hf.knife.arguments import KnifeMethodArguments, KnifeTeacherTrainingArguments, KnifeTrainingArguments

    recipe = tmp_path / "knife.yaml"
    recipe.write_text("method: knife-teacher\nmodel_name_or_path: t5-base\ndataset: d\n")
    for argv, training_type in ((["--config", str(recipe)], KnifeTeacherTrainingArguments),
                                (["--config", str(recipe), "--method", "knife"], KnifeTrainingArguments)):
        argv += ["--output_dir", str(tmp_path / "out"), "--use_cpu", "true"]
        method, _, _, training = COMMANDS["train"].parse(argv)
        assert isinstance(method, KnifeMethodArguments) and type(training) is training_type
    assert option_value([], "method") is None  # no method: the student's parser (method kard by default)


def test_manifest_reaches_the_card(tiny_t5, t5_tokenizer, rows, tmp_path):
    trainer = StudentTrainer(model=copy.deepcopy(tiny_t5), args=student_args(tmp_path, method="rd"),
                             train_dataset=Dataset.from_list(rows), processing_class=t5_tokenizer,
                             dataset_name="org/medqa-kard", dataset_manifest=MANIFEST)
    trainer.create_model_card(model_name="rd-student")
    card = (tmp_path / "out" / "README.md").read_text()
    assert "# rd-student" in card and "org/medqa-kard" in card
    assert "sha256:fixture-corpus" not in card  # an RD student read no passage of the dataset's knowledge base
    assert "reasoning distillation (RD)" in card and "Knowledge:" not in card
