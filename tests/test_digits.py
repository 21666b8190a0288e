"""The digits demo: it runs end to end at tiny sizes, a saved model loads back to
identical outputs, and the Lagrangian parameters are trained."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from .test_examples import _load


digits = _load("digits")
TINY = dict(hidden=16, steps=3, epochs=1, batch_size=32, train_size=128)
FIGURES = ("completions.png", "energy.png", "memories.png", "parameters.png")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("digits") / "out"  # main must create it
    metrics = digits.main(out_dir=out_dir, progress=False, **TINY)
    return out_dir, metrics


def test_main_writes_metrics_figures_and_model(run, capsys):
    out_dir, metrics = run
    saved = json.loads((out_dir / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("test_accuracy", "completion_mse", "learned_parameters", "ablation"):
        assert key in saved, key
    assert set(saved["baselines"]) >= {
        "logistic_regression_accuracy",
        "knn_accuracy",
        "knn_completion_mse",
        "mean_fill_completion_mse",
    }
    assert 0 <= saved["test_accuracy"] <= 1
    assert 0 <= saved["completion_mse"] <= 1
    assert set(saved["learned_parameters"]) == {
        "image_gamma",
        "image_delta",
        "label_beta",
        "memory_beta",
    }
    assert len(saved["learned_parameters"]["image_delta"]) == 64
    for name in FIGURES:
        path = out_dir / name
        assert path.read_bytes().startswith(b"\x89PNG"), path
        assert path.stat().st_size > 1000, path
    assert (out_dir / "model.eqx").is_file()


def test_quick_flag_overrides_sizes():
    assert digits.QUICK["epochs"] <= 3
    assert digits.QUICK["train_size"] <= 512


def test_saved_model_loads_back_identical(run, tmp_path, capsys):
    out_dir, metrics = run
    memory, config = digits.load_model(out_dir / "model.eqx")
    assert config == digits.Config(**metrics["config"])
    # Evaluating the loaded model gives the trained model's numbers exactly.
    loaded = digits.main(out_dir=tmp_path, load=out_dir / "model.eqx", progress=False)
    assert loaded["test_accuracy"] == metrics["test_accuracy"]
    assert loaded["completion_mse"] == metrics["completion_mse"]
    assert loaded["learned_parameters"] == metrics["learned_parameters"]
    assert "train_seconds" not in loaded and "ablation" not in loaded

    # Round trip of a freshly built memory with non-default leaves: same outputs.
    other = digits.make_memory(config, jr.key(1))
    other = eqx.tree_at(
        lambda m: m.neurons["memory"].lagrangian.raw_beta, other, jnp.asarray(0.7)
    )
    digits.save_model(tmp_path / "other.eqx", other, config)
    back, _ = digits.load_model(tmp_path / "other.eqx")
    assert bool(eqx.tree_equal(back, other))
    data = digits.load_data(config.seed, config.train_size)
    images, fill = jnp.asarray(data.x_test[:8]), jnp.asarray(data.fill)
    for a, b in zip(
        jax.tree.leaves(digits.predict(other, images, fill, config)),
        jax.tree.leaves(digits.predict(back, images, fill, config)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _lagrangian_leaves(memory):
    neurons = memory.neurons
    return {
        "image raw_gamma": neurons["image"].lagrangian.raw_gamma,
        "image delta": neurons["image"].lagrangian.delta,
        "label raw_beta": neurons["label"].lagrangian.raw_beta,
        "memory raw_beta": neurons["memory"].lagrangian.raw_beta,
    }


def test_lagrangian_parameters_get_gradients_and_change():
    config = digits.Config(**TINY)
    data = digits.load_data(config.seed, config.train_size)
    memory = digits.make_memory(config, jr.key(0))

    def loss(memory):
        ce, mse, _ = digits.losses(
            memory,
            jnp.asarray(data.x_train[:32]),
            jnp.asarray(data.y_train[:32]),
            jnp.asarray(data.fill),
            config,
        )
        return ce + config.completion_weight * mse

    grads = eqx.filter_grad(loss)(memory)
    for name, grad in _lagrangian_leaves(grads).items():
        assert bool(jnp.all(jnp.isfinite(grad))), name
        assert float(jnp.max(jnp.abs(grad))) > 0, name

    before = _lagrangian_leaves(memory)
    trained, history = digits.train(memory, data, config, progress=False)
    for name, value in _lagrangian_leaves(trained).items():
        assert not np.allclose(value, before[name]), name
    assert len(history["parameters"]) == config.epochs + 1

    # Frozen: β, γ, δ stay exactly where they were, while the synapses train.
    frozen, _ = digits.train(
        memory, data, config, train_lagrangians=False, progress=False
    )
    for name, value in _lagrangian_leaves(frozen).items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(before[name]))
    weight = frozen.synapses["image_memory"].weight
    assert not np.allclose(weight, memory.synapses["image_memory"].weight)
