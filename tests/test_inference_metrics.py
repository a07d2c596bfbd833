"""Answer voting, accuracy and the results table, on crafted generations."""

import pytest

from kard_hf.inference import accuracy, format_table, summarize, vote


def test_majority_vote_ignores_unparsable_generations():
    result = vote(["... Answer: B", "no idea", "So, the answer is (C).", "Answer: B", "Answer: Z"], 4)
    assert result.answer == 1 and result.counts == {1: 2, 2: 1}
    assert result.parsed == [1, None, 2, 1, None]


def test_tie_goes_to_the_answer_reached_first():
    assert vote(["Answer: C", "Answer: A", "Answer: A", "Answer: C"], 4).answer == 2
    assert vote(["Answer: A", "Answer: C"], 4).answer == 0


def test_no_votes_means_no_answer_and_counts_as_wrong():
    result = vote(["I cannot tell.", ""], 4)
    assert result.answer is None and result.counts == {}
    assert accuracy([None, 1], [0, 1]) == 0.5


def test_accuracy_skips_unlabeled_and_refuses_nothing_to_score():
    assert accuracy([0, 1, 2], [0, None, 1]) == 0.5
    with pytest.raises(ValueError):
        accuracy([0], [None])


def test_summary_and_table():
    summary = summarize([0.5, 0.7, 0.6])
    assert summary["mean"] == pytest.approx(0.6) and summary["std"] == pytest.approx(0.1)
    table = format_table([("KARD (BM25)", summary), ("RD", summarize([0.25]))])
    assert "| KARD (BM25) | 60.00 ± 10.00 |" in table and "| RD          | 25.00         |" in table


def test_table_with_a_column_per_split():
    rows = [("KARD (BM25)", {"test": summarize([0.5, 0.7])}), ("FT", {"test_seen": summarize([0.4]), "test": summarize([0.25])})]
    table = format_table(rows, columns={"test_seen": "seen (%)", "test": "held-out (%)"}).splitlines()
    assert table[0] == "| method      | seen (%) | held-out (%)  |"
    assert table[2] == "| KARD (BM25) | —        | 60.00 ± 14.14 |" and table[3] == "| FT          | 40.00    | 25.00         |"
