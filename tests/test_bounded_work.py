"""Work bounded by the input's size: rounding never iterates on a value's magnitude, and the
inputs that used to spin (a tier base of 1e300 or 2**70) return promptly with a clear error."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal import _rounding


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging) when the block runs longer than *seconds*."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _hand_out_by_passes(base, key, tiebreak, room, count, step):
    """The former hand-out, one pass per loop (the reference: it loops count / n times)."""
    base, room = base.copy(), room.copy()
    while count > 0:
        candidates = np.flatnonzero(room > 0)
        order = candidates[np.lexsort((candidates, -tiebreak[candidates], -key[candidates]))]
        chosen = order[:count]
        base[chosen] += step
        room[chosen] -= 1
        key = key.copy()
        key[chosen] -= 1.0
        count -= chosen.size
    return base


@st.composite
def rounding_cases(draw):
    """Amounts (some tied), a total a few units from their sum or far from it, optional bounds."""
    n = draw(st.integers(1, 30))
    cents = draw(st.lists(st.integers(0, 5_000_000), min_size=n, max_size=n))
    x = np.array(cents, dtype=np.float64) / 100.0
    total = round(x.sum()) + draw(st.sampled_from([0, 0, 0, 1, -1, 3, 40, -40]))
    total = max(total, 0)
    lower = upper = None
    if draw(st.booleans()):
        lower = np.floor(x * draw(st.sampled_from([0.0, 0.5, 0.9])))
        upper = np.ceil(x * draw(st.sampled_from([1.1, 2.0]))) + 5
        total = int(min(max(total, lower.sum()), upper.sum()))
    return x, total, lower, upper


@settings(max_examples=300, deadline=None)
@given(rounding_cases())
def test_rounding_keeps_the_total_and_matches_the_former_passes(case):
    """Whole yuan summing to the total, within bounds, as the former pass-by-pass hand-out."""
    x, total, lower, upper = case
    got = tf.round_to_total(x, total, lower, upper)
    assert got.dtype == np.int64
    assert int(got.sum()) == total
    if lower is not None:
        assert np.all(got >= lower)
        assert np.all(got <= upper)
    if lower is None and total == round(x.sum()):
        assert np.all(np.abs(got - x) < 1.0 + 1e-9)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_rounding, "_hand_out", _hand_out_by_passes)
        before = tf.round_to_total(x, total, lower, upper)
    np.testing.assert_array_equal(got, before)


def test_a_total_far_from_the_amounts_is_reached_in_one_step():
    """10^15 yuan over three zero amounts (3.3e14 passes before) spread evenly at once."""
    with deadline(10):
        got = tf.round_to_total([0.0, 0.0, 0.0], 10**15)
    assert got.tolist() == [333_333_333_333_334, 333_333_333_333_333, 333_333_333_333_333]
    with deadline(10):
        capped = tf.round_to_total([0.0, 0.0, 0.0], 10**12, upper=[1e11, np.inf, 2e11])
    assert capped.tolist() == [100_000_000_000, 700_000_000_000, 200_000_000_000]


@pytest.mark.parametrize(("amount", "total"), [(1e300, 1000), (float(2**70), 1000),
                                               (1.0, 2**70), (1.0, 10**400)])
def test_astronomical_amounts_are_refused_by_rounding(amount, total):
    """Amounts or totals past 2**52 yuan, where float64 loses whole yuan, get a clear error."""
    with deadline(10), pytest.raises(tf.ValidationError, match=r"beyond 4\.5e\+15 \(2\*\*52\)"):
        tf.round_to_total([amount, 1.0], total)


@pytest.mark.parametrize("base", ["1e300", "2**70"])
def test_a_runaway_tier_base_returns_promptly(base):
    """tiers.base of 1e300 or 2**70 is refused by name at once (it used to spin for ever)."""
    code = textwrap.dedent(f"""
        import townfiscal as tf
        towns = tf.load_example()
        try:
            tf.formula_allocation(towns, tf.get_policy("guangdong-2018").with_changes(
                {{"tiers.base": {base}}}))
        except tf.ValidationError as err:
            print(err.problems[0].column, err.problems[0].message.split(" (")[0])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "tiers.base must be a number <= 1e12"
