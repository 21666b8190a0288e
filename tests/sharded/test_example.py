"""Smoke test of `examples/sharded.py` at tiny sizes, on the 4 devices of this
process."""

import pathlib

import pytest

from ..helpers import load_script


EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "sharded.py"


@pytest.mark.parametrize(
    "block_size, data, meshes, patterns_per_device, queries_per_device",
    [
        # By default the patterns are split over all the devices.
        (None, 1, [(1, 1), (1, 2), (1, 4)], [64, 32, 16], [8, 8, 8]),
        # Two of them split the queries where they can.
        (16, 2, [(1, 1), (2, 1), (2, 2)], [64, 64, 32], [8, 4, 4]),
    ],
)
def test_sharded_example(
    block_size, data, meshes, patterns_per_device, queries_per_device, capsys
):
    example = load_script(EXAMPLE)
    rows = example.main(
        num_patterns=64,
        dim=32,
        num_queries=8,
        steps=5,
        block_size=block_size,
        data=data,
        device_counts=(1, 2, 4, 8),
        repeats=1,
    )
    assert [row["devices"] for row in rows] == [1, 2, 4]  # 8 skipped: 4 exist
    assert [row["mesh"] for row in rows] == meshes
    # Each device holds its block of the patterns and of the queries.
    assert [row["patterns_per_device"] for row in rows] == patterns_per_device
    assert [row["queries_per_device"] for row in rows] == queries_per_device
    for row in rows:
        assert row["accuracy"] == rows[0]["accuracy"] > 0.5
        assert row["max_difference"] <= 1e-5
        assert row["queries_per_s"] > 0
    printed = capsys.readouterr().out
    for text in ("skipping 8 devices", "queries/s", "share the same cores"):
        assert text in printed, text
