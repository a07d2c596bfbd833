"""The KNIFE model, on both backbone families (T5, BART): the rationale bottleneck, the (question, choice) collator,
save/reload, bad models."""

import pytest
import torch

from kard_hf.errors import ModelError
from kard_hf.knife import KnifeBartForMultipleChoice, KnifeCollator, KnifeT5ForMultipleChoice, load_knife_backbone

ROW = {"id": "q1", "stem": "Which river flows through the city of Veltram?", "options": ["Orvane", "Silka", "Medran"],
       "answer": 0, "rationale": "Veltram lies on the Orvane river, where its ferries carry salt."}
OTHER_RATIONALE = "Brindle fungus digests bark with secreted cellulase, which breaks down cellulose."


@pytest.fixture(scope="module", params=["tiny_t5_path", "tiny_bart_path"])
def knife_model(request):
    model = load_knife_backbone(str(request.getfixturevalue(request.param)), role="teacher").eval()
    model.set_attn_implementation("eager")  # sdpa does not return attention weights
    return model


def _teacher_batch(tokenizer, rationale=ROW["rationale"]):
    return KnifeCollator(tokenizer, with_rationale=True)([dict(ROW, rationale=rationale)])


def test_task_input_is_a_shared_prefix_and_the_bottleneck_covers_it(t5_tokenizer):
    student = KnifeCollator(t5_tokenizer)([ROW])
    teacher = _teacher_batch(t5_tokenizer)
    length = student["input_ids"].shape[-1]
    for c in range(3):
        task = student["attention_mask"][0, c].bool()
        assert torch.equal(teacher["input_ids"][0, c, :length][task], student["input_ids"][0, c][task])
        assert torch.equal(teacher["bottleneck_mask"][0, c, :length], student["attention_mask"][0, c])
        # the rationale follows and is outside the bottleneck
        assert teacher["attention_mask"][0, c].sum() > teacher["bottleneck_mask"][0, c].sum()
    assert "bottleneck_mask" not in student and torch.equal(student["labels"], torch.tensor([0]))


def test_decoder_cross_attention_on_rationale_positions_is_exactly_zero(knife_model, t5_tokenizer):
    batch = _teacher_batch(t5_tokenizer)
    out = knife_model(**batch, output_attentions=True)
    rationale = (batch["attention_mask"] == 1) & (batch["bottleneck_mask"] == 0)  # (B, C, L)
    task = batch["bottleneck_mask"] == 1
    assert rationale.any()
    for layer in out.cross_attentions:  # (B, C, heads, 1, L)
        weights = layer[:, :, :, 0, :]
        on_rationale = weights.masked_select(rationale[:, :, None, :].expand_as(weights))
        assert torch.all(on_rationale == 0)
        assert torch.allclose(weights.sum(-1), torch.ones_like(weights.sum(-1)), atol=1e-5)
        assert weights.masked_select(task[:, :, None, :].expand_as(weights)).sum() > 0


def test_rationale_reaches_the_decoder_only_through_task_input_states(knife_model, t5_tokenizer):
    batch, other = _teacher_batch(t5_tokenizer), _teacher_batch(t5_tokenizer, OTHER_RATIONALE)
    task_length = int(batch["bottleneck_mask"][0, 0].sum())
    assert torch.equal(batch["input_ids"][..., :task_length], other["input_ids"][..., :task_length])
    first, second = knife_model(**batch), knife_model(**other)
    # (b) changing only the rationale changes the task-input encoder states, and so the scores
    assert not torch.allclose(first.encoder_last_hidden_state[..., :task_length, :],
                              second.encoder_last_hidden_state[..., :task_length, :], atol=1e-4)
    assert not torch.equal(first.logits, second.logits)
    # holding the task-input states fixed, the rationale positions' states do not matter to the decoder
    states = first.encoder_last_hidden_state.flatten(0, 1)
    scrambled = states.clone()
    scrambled[:, task_length:] = torch.randn_like(scrambled[:, task_length:]) * 10
    start = torch.full((states.shape[0], 1), knife_model.config.decoder_start_token_id)

    def decode(encoder_states, context_mask):
        out = knife_model.decoder(input_ids=start, encoder_hidden_states=encoder_states,
                                  encoder_attention_mask=context_mask.flatten(0, 1))
        return out.last_hidden_state

    assert torch.equal(decode(states, batch["bottleneck_mask"]), decode(scrambled, batch["bottleneck_mask"]))
    # (c) control: without the bottleneck the decoder attends to the rationale and its states matter
    assert not torch.allclose(decode(states, batch["attention_mask"]), decode(scrambled, batch["attention_mask"]))
    unmasked = knife_model(**{k: v for k, v in batch.items() if k != "bottleneck_mask"}, output_attentions=True)
    rationale = ((batch["attention_mask"] == 1) & (batch["bottleneck_mask"] == 0))[:, :, None, :]
    for layer in unmasked.cross_attentions:
        weights = layer[:, :, :, 0, :]
        assert weights.masked_select(rationale.expand_as(weights)).sum() > 1e-3


def test_padding_choices_are_masked_and_batching_does_not_change_scores(knife_model, t5_tokenizer):
    two = {"id": "q2", "stem": "Is Quessa an island?", "options": ["yes", "no"], "answer": 1, "rationale": "It is."}
    collator = KnifeCollator(t5_tokenizer, with_rationale=True)
    together = knife_model(**collator([ROW, two])).logits
    alone = knife_model(**collator([two])).logits
    assert together.shape == (2, 3) and together[1, 2] == torch.finfo(together.dtype).min
    assert torch.allclose(together[1, :2], alone[0], atol=1e-5)
    assert torch.allclose(together[0], knife_model(**collator([ROW])).logits[0], atol=1e-5)


def test_a_rationale_tokenized_once_per_row_gives_the_per_choice_inputs_and_scores(knife_model, t5_tokenizer):
    """The collator tokenizes a row's rationale once for all its choices: the same tensors, hence the same
    scores, as tokenizing every (task input, rationale) pair on its own."""
    from kard_hf.knife.collator import rationale_text, task_text

    two = {"id": "q2", "stem": "Is Quessa an island?", "options": ["yes", "no"], "answer": 1, "rationale": "It is."}
    rows = [ROW, two]
    pairs = [[(t5_tokenizer(task_text(row["stem"], option))["input_ids"]
               + t5_tokenizer(rationale_text(row["rationale"]))["input_ids"],
               len(t5_tokenizer(task_text(row["stem"], option))["input_ids"])) for option in row["options"]]
             for row in rows]
    collator = KnifeCollator(t5_tokenizer, with_rationale=True)
    assert collator.tokenize(rows) == pairs
    batch, reference = collator(rows), collator.pad(pairs)
    assert all(torch.equal(batch[key], reference[key]) for key in reference)
    with torch.no_grad():
        assert torch.equal(knife_model(**batch).logits, knife_model(**reference).logits)


def test_save_and_reload_give_identical_scores(knife_model, t5_tokenizer, tmp_path):
    from transformers import AutoModelForMultipleChoice

    knife_model.save_pretrained(tmp_path)
    batch = _teacher_batch(t5_tokenizer)
    for loaded in (type(knife_model).from_pretrained(tmp_path), AutoModelForMultipleChoice.from_pretrained(tmp_path)):
        loaded.set_attn_implementation("eager")
        assert type(loaded) is type(knife_model)
        # float32 round-off only: CPU kernels may sum in another order between two model instances
        torch.testing.assert_close(loaded.eval()(**batch).logits, knife_model(**batch).logits, rtol=0, atol=1e-6)


def test_backbone_weights_come_from_the_checkpoint(knife_model, tiny_t5, tiny_bart):
    if isinstance(knife_model, KnifeT5ForMultipleChoice):
        assert torch.equal(knife_model.encoder.block[1].layer[1].DenseReluDense.wi.weight,
                           tiny_t5.encoder.block[1].layer[1].DenseReluDense.wi.weight)
        assert torch.equal(knife_model.shared.weight, tiny_t5.shared.weight)
    else:  # a BartForConditionalGeneration checkpoint: its "model." prefix and LM head are dropped
        assert isinstance(knife_model, KnifeBartForMultipleChoice)
        assert torch.equal(knife_model.encoder.layers[1].fc1.weight, tiny_bart.model.encoder.layers[1].fc1.weight)
        assert torch.equal(knife_model.decoder.embed_positions.weight, tiny_bart.model.decoder.embed_positions.weight)
        assert torch.equal(knife_model.shared.weight, tiny_bart.model.shared.weight)
    assert knife_model.encoder.embed_tokens.weight is knife_model.shared.weight


@pytest.mark.parametrize("path_fixture", ["tiny_causal_path", "tiny_bert_path"])
def test_a_model_that_is_not_a_t5_or_bart_encoder_decoder_is_refused(path_fixture, request):
    with pytest.raises(ModelError, match="T5- or BART-family encoder-decoder"):
        load_knife_backbone(str(request.getfixturevalue(path_fixture)), role="student")
