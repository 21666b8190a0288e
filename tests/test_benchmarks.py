"""Smoke tests of the benchmark scripts at tiny sizes: they run and check their own
results (each asserts that the library agrees with its hand-written baseline)."""

import pathlib

from .helpers import load_script


BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    return load_script(BENCHMARKS / f"{name}.py")


def test_activations_benchmark_runs(capsys):
    _load("activations").main(repeats=2, shape=(4, 8))
    out = capsys.readouterr().out
    for name in ("Identity", "Tanh", "Softmax", "LayerNorm", "SphericalNorm"):
        assert f"| {name}" in out


def test_descent_benchmark_runs(capsys):
    _load("descent").main(visible_dim=8, hidden_dim=6, steps=5, grad_steps=5, repeats=2)
    out = capsys.readouterr().out
    assert "| el.descend |" in out and "| checkpoint=True |" in out


def test_retrieval_benchmark_runs(capsys):
    rows = _load("retrieval").main(
        sizes=(400, 1600), dim=8, batch=4, block_size=100, repeats=2
    )
    out = capsys.readouterr().out
    for name in (
        "retrieval step",
        "descend (3 steps)",
        "training gradient",
        "training through descend",
    ):
        assert f"| {name} |" in out
    # The blocked form's working memory does not grow with the patterns, except by
    # buffers of the patterns' size for a gradient through descent.
    temps = {(n, name): blocked[0] for n, name, _, blocked, _ in rows}
    growth_allowed = {"training through descend": 3 * (1600 - 400) * 8 * 4 / 2**20}
    for name in {name for _, name in temps}:
        allowed = growth_allowed.get(name, 0.0)
        assert temps[1600, name] <= 1.2 * temps[400, name] + 0.01 + allowed, name
