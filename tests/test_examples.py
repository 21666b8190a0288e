"""Smoke tests of the example scripts: each runs end to end at tiny sizes."""

import pathlib

from .helpers import load_script


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
LAGRANGIANS = (
    "Identity",
    "RePU",
    "ReLU",
    "Exp",
    "RExp",
    "Tanh",
    "Sigmoid",
    "Softmax",
    "LayerNorm",
    "SphericalNorm",
    "ELU",
    "Ghostmax",
    "RMSNorm",
    "Sparsemax",
    "Entmax",
)


def _load(name: str):
    return load_script(EXAMPLES / f"{name}.py")


def test_lagrangians(tmp_path, capsys):
    example = _load("lagrangians")
    out_dir = tmp_path / "plots"  # not there yet: main must create it
    paths = example.main(out_dir=out_dir, num_points=21)

    expected = [out_dir / f"{name.lower()}.png" for name in LAGRANGIANS]
    expected.append(out_dir / "all.png")
    assert paths == expected
    for path in expected:
        assert path.is_file(), path
        assert path.read_bytes().startswith(b"\x89PNG"), path
        assert path.stat().st_size > 1000, path

    printed = capsys.readouterr().out
    table = printed.splitlines()
    for name in LAGRANGIANS:
        # A row of the table starts with the Lagrangian's name (Exp is also in RExp).
        assert any(line.startswith(name) for line in table), name
    for path in expected:
        assert str(path) in printed


def test_drop_in(capsys):
    example = _load("drop_in")
    accuracies = example.main(hidden=16, epochs=1, train_size=256, progress=False)
    assert set(accuracies) == {"eqx.nn", "eqx_lagrangians"}
    assert all(0 <= a <= 1 for a in accuracies.values())
    printed = capsys.readouterr().out
    for text in ("eqx.nn.LayerNorm", "el.LayerNorm", "el.Tanh", "test accuracy"):
        assert text in printed, text
