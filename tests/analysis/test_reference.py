"""The published references carry REFERENCE.md's numbers under names that tell the DreamerV3
releases apart, and each states its protocol.

Expected values are copied by hand from ../shared/REFERENCE.md (not read at runtime: it is not in
the repository), which took them from the official score files: DreamerV3 current release
`scores/dmc_vision-dreamerv3.json.gz` (github danijar/dreamerv3 e3f0224), 2023 release
`scores/data/dmcvision_dreamerv3.json.gz` (8fa35f8), and the DMC proprio file both ship
(`scores/dmc_proprio-dreamerv3.json.gz` = `scores/data/dmcproprio_dreamerv3.json.gz`).
"""

from __future__ import annotations

import pytest

from worldmodels.analysis.reference import REFERENCES, get_references

# REFERENCE.md, "DMC vision returns": 100k / 500k / 1M frames.
CURRENT = {
    "walker_walk": (540, 940, 960),
    "cartpole_swingup": (483, 840, 860),
    "cup_catch": (774, 967, 972),
    "finger_spin": (480, 573, 589),
}
RELEASE_2023 = {
    "walker_walk": (368, 953, 963),
    "cartpole_swingup": (179, 728, 831),
    "cheetah_run": (297, 617, 780),
    "cup_catch": (509, 883, 971),
}
# REFERENCE.md, "DMC proprio, DreamerV3": 50k / 100k / ~490k frames.
PROPRIO_2023 = {
    "cartpole_balance": (378, 731, 991),
    "walker_walk": (154, 427, 937),
    "cheetah_run": (130, 285, 606),
    "hopper_stand": (15, 86, 585),
    "ball_in_cup_catch": (317, 740, 964),
}


@pytest.mark.parametrize(
    "name, table, frames",
    [
        ("dreamerv3", CURRENT, (100_000, 500_000, 1_000_000)),
        ("dreamerv3_2023", RELEASE_2023, (100_000, 500_000, 1_000_000)),
        ("dreamerv3_proprio_2023", PROPRIO_2023, (50_000, 100_000, 490_000)),
    ],
)
def test_values_match_reference_md(name, table, frames):
    ref = REFERENCES[name]
    for task, values in table.items():
        assert ref.for_task(task) == tuple(zip(frames, values)), task


def test_the_releases_are_named_apart_and_state_their_protocol():
    cur, old, proprio, tdmpc2 = get_references(
        ["dreamerv3", "dreamerv3_2023", "dreamerv3_proprio_2023", "dreamerv3_proprio"]
    )
    assert len({cur.label, old.label, proprio.label, tdmpc2.label}) == 4  # legends tell them apart
    assert "action repeat 1, train ratio 256" in cur.description
    assert "size200m" in cur.description and "dmc_vision-dreamerv3.json.gz" in cur.description
    assert "action repeat 2, train ratio 512" in old.description
    assert "dmcvision_dreamerv3.json.gz" in old.description
    assert "DMC proprio, action repeat 2, train ratio 512" in proprio.description
    assert "dmc_proprio-dreamerv3.json.gz" in proprio.description
    assert "dmcproprio_dreamerv3.json.gz" in proprio.description
    # The old name stays: TD-MPC2's DreamerV3 proprio numbers, a different set of runs.
    assert tdmpc2.for_task("walker_walk") == ((500_000, 878), (1_000_000, 821))
    assert "TD-MPC2" in tdmpc2.description
    # The releases' numbers really differ (a mix-up would show here).
    assert cur.for_task("walker_walk") != old.for_task("walker_walk")


def test_every_reference_states_a_protocol():
    for ref in REFERENCES.values():
        assert ref.protocol, ref.name
        assert ref.label in ref.description and ref.source in ref.description


def test_unknown_name_lists_the_new_ones():
    with pytest.raises(ValueError, match="dreamerv3_proprio_2023"):
        get_references(["dreamerv3_2024"])
