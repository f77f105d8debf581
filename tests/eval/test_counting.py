"""Repetition counting's scores against hand-worked values: counts rounded first (a half to the even integer, as
Python rounds), MAE relative to the true count, OBOA within one, over- and under-count MAE, MAE's population std."""

import math

import pytest

from cvrl_pl.eval.counting import counting_scores, rounded_counts


def test_scores_of_rounded_counts_against_hand_worked_values():
    # rounded: 2, 6, 4, 10 against 2, 5, 5, 8 -> relative errors 0, 1/5, 1/5, 2/8; within one: 3 of 4
    got = counting_scores([2.4, 5.5, 3.6, 10.0], [2, 5, 5, 8])
    assert got["mae"] == pytest.approx(0.65 / 4)
    assert got["oboa"] == pytest.approx(0.75)
    assert got["mae_over"] == pytest.approx((0.2 + 0.25) / 2)  # 6 > 5 and 10 > 8
    assert got["mae_under"] == pytest.approx(0.2)  # 4 < 5
    assert got["mae_std"] == pytest.approx(math.sqrt(0.036875 / 4))
    assert got["videos"] == 4


def test_counts_round_half_to_even_as_python_does():
    assert rounded_counts([4.5, 5.5, 2.49, -0.5]).tolist() == [round(4.5), round(5.5), 2.0, 0.0] == [4, 6, 2, 0]
    exact = counting_scores([3.0, 7.0], [3, 7])
    assert exact["mae"] == 0.0 and exact["oboa"] == 1.0
    assert math.isnan(exact["mae_over"]) and math.isnan(exact["mae_under"])  # nothing over- or under-counted


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"\(2,\) counts for \(3,\) true counts"):
        counting_scores([1.0, 2.0], [1, 2, 3])
    with pytest.raises(ValueError, match="a true count is at least 1"):
        counting_scores([1.0], [0])
