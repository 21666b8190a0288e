r"""Lagrangian activations as drop-in layers of an ordinary Equinox classifier.

A Lagrangian's activation $g = \nabla L(x)$ is an ordinary activation function whose
parameters are learnable leaves, so it can replace an `eqx.nn` layer anywhere:

- `el.LayerNorm(gamma, delta)` in place of `eqx.nn.LayerNorm`: its activation is
  $γ (x - \bar x)/\sqrt{\operatorname{Var}(x) + ε} + δ$ with a learnable scalar γ
  and a learnable per-feature δ;
- `el.Tanh(beta)` with one learnable β per neuron in place of `jnp.tanh`: its
  activation is $\tanh(β x)$.

This script trains the same multi-layer perceptron (64 → hidden → hidden → 10) twice
on scikit-learn's digits (the split of `examples/digits.py`), with optax: once with
`eqx.nn.LayerNorm` and `jnp.tanh`, once with the two Lagrangians, and prints both test
accuracies and the learned parameters side by side.

```
.venv/bin/python examples/drop_in.py
.venv/bin/python examples/drop_in.py --hidden 64 --epochs 50 --seed 1
```
"""

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray
from tqdm import tqdm

import eqx_lagrangians as el


def load_data(train_size: int | None = None, seed: int = 0):
    """Digits in [0, 1], the stratified 80/20 split with `random_state=0`."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=0
    )
    if train_size is not None and train_size < len(x_train):
        keep = np.random.default_rng(seed).permutation(len(x_train))[:train_size]
        x_train, y_train = x_train[keep], y_train[keep]
    return x_train, y_train, x_test, y_test


class LagrangianLayer(eqx.Module):
    """Any Lagrangian as a layer: its activation, with its parameters trainable."""

    lagrangian: el.AbstractLagrangian

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, " n"]:
        return self.lagrangian.activation(x)


class Classifier(eqx.Module):
    """Linear → norm → activation, twice, then a linear read-out to 10 logits."""

    layers: list

    def __init__(self, hidden: int, lagrangian: bool, *, key: PRNGKeyArray):
        keys = jr.split(key, 3)
        sizes = [(64, hidden), (hidden, hidden)]
        self.layers = []
        for (n_in, n_out), k in zip(sizes, keys[:2], strict=True):
            self.layers.append(eqx.nn.Linear(n_in, n_out, key=k))
            if lagrangian:
                norm = el.LayerNorm(gamma=1.0, delta=jnp.zeros(n_out))
                self.layers += [
                    LagrangianLayer(norm),
                    LagrangianLayer(el.Tanh(beta=jnp.ones(n_out))),
                ]
            else:
                self.layers += [eqx.nn.LayerNorm(n_out), eqx.nn.Lambda(jnp.tanh)]
        self.layers.append(eqx.nn.Linear(hidden, 10, key=keys[2]))

    def __call__(self, x: Float[Array, " 64"]) -> Float[Array, " 10"]:
        for layer in self.layers:
            x = layer(x)
        return x


def train(
    model: Classifier,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: bool,
    description: str,
) -> Classifier:
    """Adam on the cross-entropy; every inexact array is trained."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    optimiser = optax.adam(learning_rate)
    opt_state = optimiser.init(params)

    def loss_fn(params, images, labels):
        logits = jax.vmap(eqx.combine(params, static))(images)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    @eqx.filter_jit
    def step(params, opt_state, images, labels):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(params, images, labels)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return eqx.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    num_batches = max(1, len(x_train) // batch_size)
    with tqdm(
        total=epochs * num_batches, desc=description, disable=not progress
    ) as bar:
        for _ in range(epochs):
            order = rng.permutation(len(x_train))
            for b in range(num_batches):
                batch = order[b * batch_size : (b + 1) * batch_size]
                params, opt_state, loss = step(
                    params, opt_state, x_train[batch], y_train[batch]
                )
                bar.update()
                bar.set_postfix(loss=f"{float(loss):.4f}")
    return eqx.combine(params, static)


@eqx.filter_jit
def predict(model: Classifier, images: Float[Array, "b 64"]) -> Int[Array, " b"]:
    return jnp.argmax(jax.vmap(model)(images), axis=-1)


def _describe(layer) -> list[str]:
    """The learned parameters of one normalisation or activation layer."""
    if isinstance(layer, LagrangianLayer):
        L = layer.lagrangian
        if isinstance(L, el.LayerNorm):
            delta = np.asarray(L.delta)
            return [
                f"el.LayerNorm: γ {float(L.gamma):.3f}; "
                f"δ {delta.mean():+.3f} ± {delta.std():.3f}"
            ]
        if isinstance(L, el.Tanh):
            beta = np.asarray(L.beta)
            return [
                f"el.Tanh: β per neuron {beta.mean():.3f} ± {beta.std():.3f} "
                f"[{beta.min():.2f}, {beta.max():.2f}]"
            ]
    if isinstance(layer, eqx.nn.LayerNorm):
        assert layer.weight is not None and layer.bias is not None
        weight, bias = np.asarray(layer.weight), np.asarray(layer.bias)
        return [
            f"eqx.nn.LayerNorm: weight {weight.mean():.3f} ± {weight.std():.3f}; "
            f"bias {bias.mean():+.3f} ± {bias.std():.3f}"
        ]
    if isinstance(layer, eqx.nn.Lambda):
        return ["jnp.tanh (no parameters)"]
    return []


def main(
    *,
    hidden: int = 128,
    epochs: int = 30,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    train_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """Train both classifiers, print their accuracies and parameters.

    **Returns:** `{"eqx.nn": accuracy, "eqx_lagrangians": accuracy}` on the test
    split.
    """
    x_train, y_train, x_test, y_test = load_data(train_size, seed)
    accuracies, described = {}, {}
    for name, lagrangian in (("eqx.nn", False), ("eqx_lagrangians", True)):
        model = Classifier(hidden, lagrangian, key=jr.key(seed))
        model = train(
            model,
            x_train,
            y_train,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            progress=progress,
            description=name,
        )
        predicted = np.asarray(predict(model, jnp.asarray(x_test)))
        accuracies[name] = float(np.mean(predicted == y_test))
        described[name] = [line for layer in model.layers for line in _describe(layer)]

    # Side by side: one row per normalisation or activation layer.
    names = list(accuracies)
    rows = [("test accuracy", *(f"{accuracies[n]:.4f}" for n in names))]
    for i, lines in enumerate(zip(*(described[n] for n in names), strict=True)):
        kind = "norm" if i % 2 == 0 else "activation"
        rows.append((f"block {i // 2 + 1} {kind}", *lines))
    widths = [max(len(row[k]) for row in [("", *names), *rows]) for k in range(3)]
    print()
    for row in [("", *names), *rows]:
        cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        print("   ".join(cells).rstrip())
    return accuracies


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="An MLP on the digits with Lagrangian layers against eqx.nn ones."
    )
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    main(**vars(parser.parse_args()))
