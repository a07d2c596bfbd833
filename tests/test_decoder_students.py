"""Decoder-only students of today (tiny Qwen2 and Llama with the Qwen2.5- and Llama-3.2-Instruct chat templates):
the chat format, the loss mask, identical training and test-time prompts, padding-free packing, and KNIFE's refusal."""

import copy

import pytest
import torch
from datasets import Dataset

from decoder_fixtures import FAMILIES, chat_tokenizer, save_student_base, tiny_decoder
from distill_fixtures import save_processed, train_rows
from kard_hf.cli import main
from kard_hf.distill import StudentDataCollator, StudentTrainer, StudentTrainingArguments
from kard_hf.distill.chat import ChatFormat, resolve_chat_format
from kard_hf.distill.spec import StudentSpec
from kard_hf.errors import ConfigError

FAMILY_NAMES = list(FAMILIES)


@pytest.fixture(scope="module")
def rows():
    return train_rows()


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    return save_processed(tmp_path_factory.mktemp("processed") / "medqa")


def user_content(collator, row, k=1):
    template = collator.template
    return template.head(row["question"]) + template.knowledge_prefix + template.passage_separator.join(row["passages"][:k])


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_chat_format_is_cut_from_the_template(family, causal_tokenizer):
    tokenizer = chat_tokenizer(causal_tokenizer, family)
    chat = ChatFormat.from_tokenizer(tokenizer)
    if family == "qwen2":
        assert chat == ChatFormat("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                                  "assistant.<|im_end|>\n<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n",
                                  "<|im_end|>")
    else:
        assert chat.prefix.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge")
        assert chat.prefix.endswith("<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n")
        assert (chat.separator, chat.end) == ("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>")
    # auto: chat for a decoder-only student with a template; plain without one, or when asked, or for seq2seq
    assert resolve_chat_format(tokenizer, "auto", decoder_only=True) == chat
    assert resolve_chat_format(tokenizer, "plain", decoder_only=True) is None
    assert resolve_chat_format(chat_tokenizer(causal_tokenizer, family, with_template=False), "auto",
                               decoder_only=True) is None
    with pytest.raises(ConfigError, match="needs a decoder-only student whose tokenizer has a chat template"):
        resolve_chat_format(causal_tokenizer, "chat", decoder_only=True)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_loss_mask_covers_exactly_the_assistant_turn(family, causal_tokenizer, rows):
    tokenizer = chat_tokenizer(causal_tokenizer, family)
    collator = StudentDataCollator(tokenizer, decoder_only=True, chat=ChatFormat.from_tokenizer(tokenizer),
                                   max_source_length=512)
    batch = collator(rows[:3])
    for i, row in enumerate(rows[:3]):
        length = int(batch["attention_mask"][i].sum())
        ids, labels = batch["input_ids"][i, :length].tolist(), batch["labels"][i, :length].tolist()
        # the sequence is the template's own rendering of the conversation, token for token
        conversation = tokenizer.apply_chat_template(
            [{"role": "user", "content": user_content(collator, row)}, {"role": "assistant", "content": row["target"]}],
            tokenize=False)
        assert ids == tokenizer(conversation.rstrip(), add_special_tokens=False)["input_ids"]
        # the labels are exactly the assistant's content and its end-of-turn token, at the end of the sequence
        labelled = [token for token in labels if token != -100]
        assert labelled == tokenizer(row["target"] + collator.chat.end, add_special_tokens=False)["input_ids"]
        assert labels[-len(labelled):] == labelled and set(labels[:-len(labelled)]) == {-100}
        assert tokenizer.decode(labelled) == row["target"] + collator.chat.end
    assert collator.stop_token_ids[-1] == tokenizer.convert_tokens_to_ids(collator.chat.end)


def test_passages_are_cut_first_in_a_chat_prompt(causal_tokenizer, rows):
    tokenizer = chat_tokenizer(causal_tokenizer, "qwen2")
    chat = ChatFormat.from_tokenizer(tokenizer)
    full = StudentDataCollator(tokenizer, decoder_only=True, chat=chat, max_source_length=1024)
    row = rows[0]
    prompt = full.encode_prompts([row["question"]], [row["passages"][:1]])[0]
    short = StudentDataCollator(tokenizer, decoder_only=True, chat=chat, max_source_length=len(prompt) - 5)
    cut = short.encode_prompts([row["question"]], [row["passages"][:1]])[0]
    separator = tokenizer(chat.separator, add_special_tokens=False)["input_ids"]
    assert len(cut) == len(prompt) - 5 and cut[-len(separator):] == separator  # the turn still ends
    assert cut[:-len(separator)] == prompt[:len(cut) - len(separator)]  # only the passage's end went


def test_base_model_keeps_the_plain_format(causal_tokenizer, rows):
    plain = StudentDataCollator(causal_tokenizer, decoder_only=True)
    ids = plain(rows[:1])["input_ids"][0].tolist()
    assert causal_tokenizer.decode(ids).startswith("Answer the following question") and "Explanation:" in causal_tokenizer.decode(ids)
    with pytest.raises(ConfigError, match="decoder-only students only"):
        StudentDataCollator(causal_tokenizer, decoder_only=False, padding_free=True)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_training_and_test_time_prompts_are_identical(family, causal_tokenizer, processed, rows, tmp_path):
    from kard_hf.inference import KARDPipeline

    base = save_student_base(tmp_path / "base", causal_tokenizer, family)
    out = tmp_path / "student"
    assert main(["train", "--model_name_or_path", str(base), "--dataset", str(processed), "--output_dir", str(out),
                 "--max_steps", "1", "--per_device_train_batch_size", "2", "--save_strategy", "no",
                 "--disable_tqdm", "true", "--report_to", "none", "--padding_free", "true"]) == 0
    spec = StudentSpec.load(out)
    assert spec.chat_format == ChatFormat.from_tokenizer(chat_tokenizer(causal_tokenizer, family))
    from transformers import GenerationConfig  # a server stops at the end of the turn, as evaluation does

    end = chat_tokenizer(causal_tokenizer, family).convert_tokens_to_ids(spec.chat_format.end)
    assert end in GenerationConfig.from_pretrained(out).eos_token_id
    pipeline = KARDPipeline.from_pretrained(out)
    trained = StudentTrainer(model=pipeline.model, args=StudentTrainingArguments(output_dir=str(tmp_path / "x"),
                                                                                  report_to="none"),
                             train_dataset=Dataset.from_list(rows[:2]), processing_class=pipeline.tokenizer)
    training = trained.data_collator(rows[:1])
    prompt_length = int((training["labels"][0] == -100).sum())
    at_test = pipeline.collator.encode_prompts([rows[0]["question"]], [rows[0]["passages"][:1]])[0]
    assert training["input_ids"][0, :prompt_length].tolist() == at_test
    # Qwen's generation prompt is the same turn header the student was trained on
    if family == "qwen2":
        rendered = pipeline.tokenizer.apply_chat_template([{"role": "user", "content": user_content(pipeline.collator, rows[0])}],
                                                          tokenize=False, add_generation_prompt=True)
        assert at_test == pipeline.tokenizer(rendered, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_packed_loss_and_gradients_equal_the_padded_ones(family, attn_implementation, causal_tokenizer, rows, tmp_path):
    tokenizer = chat_tokenizer(causal_tokenizer, family)
    model = tiny_decoder(tokenizer, family, attn_implementation=attn_implementation).train()
    results = {}
    for padding_free in (False, True):
        args = StudentTrainingArguments(output_dir=str(tmp_path), report_to="none", padding_free=padding_free)
        trainer = StudentTrainer(model=copy.deepcopy(model), args=args, train_dataset=Dataset.from_list(rows[:4]),
                                 processing_class=tokenizer)
        batch = trainer.data_collator(rows[:4])
        assert ("position_ids" in batch) == padding_free and ("attention_mask" in batch) != padding_free
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        results[padding_free] = loss.detach(), torch.cat([p.grad.flatten() for p in trainer.model.parameters()])
    packed, padded = results[True], results[False]
    assert packed[1].abs().max() > 1e-3
    assert torch.allclose(packed[0], padded[0], atol=1e-6)
    assert torch.allclose(packed[1], padded[1], atol=1e-6, rtol=1e-4)
    assert results[True][0].shape == ()


def test_padding_free_is_refused_for_a_model_that_cannot_pack(causal_tokenizer, tiny_causal, rows, tmp_path):
    from transformers import OPTConfig, OPTForCausalLM

    opt = OPTForCausalLM(OPTConfig(vocab_size=len(causal_tokenizer), hidden_size=32, num_hidden_layers=2, ffn_dim=64,
                                   num_attention_heads=4, word_embed_proj_dim=32, max_position_embeddings=1024))
    args = StudentTrainingArguments(output_dir=str(tmp_path), report_to="none", padding_free=True)
    with pytest.raises(ConfigError, match="opt model's attention does not keep packed rows apart"):
        StudentTrainer(model=opt, args=args, train_dataset=Dataset.from_list(rows[:2]), processing_class=causal_tokenizer)
    # GPT-2 packs (its mask comes from the position ids too)
    StudentTrainer(model=copy.deepcopy(tiny_causal), args=args, train_dataset=Dataset.from_list(rows[:2]),
                   processing_class=causal_tokenizer)


def test_knife_refuses_a_decoder_only_model(causal_tokenizer, tmp_path):
    from kard_hf.knife.modeling import load_knife_backbone
    from kard_hf.errors import ModelError

    base = save_student_base(tmp_path / "qwen", causal_tokenizer, "qwen2")
    with pytest.raises(ModelError) as error:
        load_knife_backbone(str(base), role="student")
    assert "decoder-only" in str(error.value) and "\n" not in str(error.value)
