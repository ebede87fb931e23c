"""Known answers for the loop's clocks."""

from worldmodels.training.clocks import Every, Ratio


def test_every_fires_on_multiples_and_skips_missed_intervals():
    clock = Every(10)
    fired = [s for s in range(0, 35, 2) if clock(s)]
    assert fired == [10, 20, 30]
    clock = Every(10)
    assert clock(25) and not clock(29) and clock(30)


def test_every_disabled_and_state_roundtrip():
    assert not any(Every(0)(s) for s in range(100))
    a = Every(5)
    a(7)
    b = Every(5)
    b.load_state_dict(a.state_dict())
    assert [a(s) for s in range(8, 20)] == [b(s) for s in range(8, 20)]


def test_ratio_tracks_fractional_and_large_ratios():
    for ratio in (0.25, 1.0, 3.5):
        clock = Ratio(ratio)
        total = sum(clock(step) for step in range(0, 1001))
        assert abs(total - (1 + 1000 * ratio)) <= 1


def test_ratio_zero_never_trains():
    clock = Ratio(0)
    assert sum(clock(s) for s in range(100)) == 0
