"""KNIFE's alignment losses on plain tensors: distances, masks, weights and switches."""

import pytest
import torch
from torch.nn import functional as F

from kard_hf.knife.losses import KnifeLossWeights, knife_loss, masked_distance


def test_masked_distance_zero_for_identical_states_and_exact_for_known_ones():
    states = torch.randn(2, 3, 5, 4)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    assert masked_distance(states, states.clone(), mask) == 0
    assert masked_distance(states, states.clone(), mask, "cosine").abs() < 1e-6
    assert masked_distance(torch.zeros(2, 4), torch.full((2, 4), 2.0), torch.ones(2, dtype=torch.bool)) == 4.0


def test_masked_positions_are_ignored():
    student, teacher = torch.zeros(1, 4, 3), torch.zeros(1, 4, 3)
    teacher[0, 2:] = 1e6  # garbage at masked positions
    teacher[0, 1] = 1.0
    mask = torch.tensor([[True, True, False, False]])
    assert masked_distance(student, teacher, mask) == pytest.approx(0.5)  # (0 + 1) / 2 positions
    assert masked_distance(student, teacher, torch.zeros_like(mask)) == 0


def _states(seed=0, batch=2, choices=3, length=5, teacher_length=8, dim=4, layers=1):
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    return dict(student_encoder=[r(batch, choices, length, dim) for _ in range(layers)],
                teacher_encoder=[r(batch, choices, teacher_length, dim) for _ in range(layers)],
                task_mask=torch.ones(batch, choices, length, dtype=torch.long),
                student_decoder=[r(batch, choices, dim) for _ in range(layers)],
                teacher_decoder=[r(batch, choices, dim) for _ in range(layers)],
                student_scores=r(batch, choices), teacher_scores=r(batch, choices),
                choice_mask=torch.ones(batch, choices, dtype=torch.bool), labels=torch.tensor([0, 2]))


def test_teacher_positions_past_the_task_input_are_not_compared():
    s = _states()
    s["teacher_encoder"][0][:, :, :5] = s["student_encoder"][0]  # same task-input states, different rationale states
    _, parts = knife_loss(KnifeLossWeights(mode="in"), **s)
    assert parts["kd_in"] == 0


def test_switches_and_weights_combine_the_terms():
    s = _states()
    _, both = knife_loss(KnifeLossWeights(), **s)
    kd_in = masked_distance(s["student_encoder"][0], s["teacher_encoder"][0][:, :, :5], s["task_mask"].bool())
    kd_out = masked_distance(s["student_decoder"][0], s["teacher_decoder"][0], s["choice_mask"])
    assert torch.allclose(both["kd_in"], kd_in) and torch.allclose(both["kd_out"], kd_out)

    total, parts = knife_loss(KnifeLossWeights(kd_in_weight=2.0, kd_out_weight=0.5, task_weight=3.0), **s)
    task = F.cross_entropy(s["student_scores"], s["labels"])
    assert set(parts) == {"kd_in", "kd_out", "task"}
    assert torch.allclose(total, 2.0 * kd_in + 0.5 * kd_out + 3.0 * task)

    total, parts = knife_loss(KnifeLossWeights(mode="in"), **s)
    assert set(parts) == {"kd_in"} and torch.allclose(total, kd_in)
    total, parts = knife_loss(KnifeLossWeights(mode="out", kd_out_weight=2.0), **s)
    assert set(parts) == {"kd_out"} and torch.allclose(total, 2.0 * kd_out)
    _, parts = knife_loss(KnifeLossWeights(kd_in_weight=0.0), **s)
    assert set(parts) == {"kd_out"}
    with pytest.raises(ValueError, match="switched off"):
        knife_loss(KnifeLossWeights(mode="in", kd_in_weight=0.0), **s)


def test_kd_out_on_scores_ignores_padding_choices():
    s = _states()
    s["choice_mask"][1, 2] = False
    s["student_scores"] = s["teacher_scores"].clone()
    s["student_scores"][1, 2] = 100.0  # a padding choice's score differs: ignored
    _, parts = knife_loss(KnifeLossWeights(mode="out", kd_out="scores"), **s)
    assert parts["kd_out"] == 0
    s["student_scores"][0, 0] += 2.0
    _, parts = knife_loss(KnifeLossWeights(mode="out", kd_out="scores"), **s)
    assert parts["kd_out"] == pytest.approx(4.0 / 5)  # one of five real choices is off by 2


def test_padding_choices_and_positions_do_not_count_in_kd_in():
    s = _states()
    s["teacher_encoder"][0] = torch.zeros_like(s["teacher_encoder"][0])
    s["student_encoder"][0] = torch.zeros_like(s["student_encoder"][0])
    s["student_encoder"][0][0, 1] = 7.0   # a padding choice
    s["student_encoder"][0][1, 0, 4] = 7.0  # a padding position
    s["choice_mask"][0, 1] = False
    s["task_mask"][1, 0, 4] = 0
    _, parts = knife_loss(KnifeLossWeights(mode="in"), **s)
    assert parts["kd_in"] == 0


def test_every_layer_and_projection():
    s = _states(layers=3)
    total_all, _ = knife_loss(KnifeLossWeights(mode="in", layers="all"), **s)
    per_layer = [masked_distance(st, te[:, :, :5], s["task_mask"].bool())
                 for st, te in zip(s["student_encoder"], s["teacher_encoder"])]
    assert torch.allclose(total_all, torch.stack(per_layer).mean())
    shallow = dict(s, student_encoder=s["student_encoder"][:2])
    with pytest.raises(ValueError, match="equal depth"):
        knife_loss(KnifeLossWeights(mode="in", layers="all"), **shallow)
    wide = dict(s, teacher_encoder=[torch.cat([t, t], -1) for t in s["teacher_encoder"]])
    total, _ = knife_loss(KnifeLossWeights(mode="in"), **wide, project=lambda x: torch.cat([x, x], -1))
    assert torch.allclose(total, per_layer[-1])


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="kd_out"):
        KnifeLossWeights(kd_out="logits")
    with pytest.raises(ValueError, match="distance"):
        masked_distance(torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1), "l3")
