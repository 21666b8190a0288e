r"""An associative memory of handwritten digits, trained with optax through descent.

The memory has three layers of neurons joined by two dense synapses:

- `image`: 64 neurons (an 8×8 digit), a LayerNorm Lagrangian with learnable scale γ
  and per-pixel shift δ;
- `label`: 10 neurons, a Softmax Lagrangian with learnable inverse temperature β;
- `memory`: `hidden` neurons, a Softmax with learnable β, each joined to the image
  by a column of $W_\text{image}$ (64 × hidden) and to the label by a column of
  $W_\text{label}$ (10 × hidden): one stored memory is a digit and its label.

Its energy decreases under `el.descend` (for steps small against the curvature;
see `energy.png` and the `energy_never_rose` metric). Two tasks are read out of
one memory:

- **classification**: the image is clamped at the pixels, the label and memory
  layers start at zero and descend; the label layer's activation
  $\operatorname{softmax}(β x_\text{label})$ is the predicted distribution (trained
  with cross-entropy);
- **completion**: the top half of the image is clamped, the bottom half starts at the
  training set's mean pixel values and descends with the label and memory layers;
  the bottom half's *state* $x$ is read out as pixels. (The state, not the
  activation: the LayerNorm activation is normalised and so has lost the pixel
  scale, while at a fixed point the state equals the layer's input
  $W_\text{image}\, g_\text{memory}$, a mixture of stored memories, which training
  puts on the pixel scale [0, 1]. The read-out is clipped to [0, 1].)

Everything (the synapses, β of both softmaxes, γ and δ) is trained with optax by
differentiating through a fixed number of descent steps, on both tasks at once,
with Gaussian pixel noise on the inputs (a denoising regulariser). The
same model is then trained again with the Lagrangian parameters frozen at their
initial values (β = γ = 1, δ = 0), to show what learning them buys, and both are
compared with scikit-learn baselines fitted on the same split.

Run it with

```
make demo
```

or, with options (`--help` lists them all),

```
.venv/bin/python examples/digits.py --hidden 200 --epochs 60 --seed 0
.venv/bin/python examples/digits.py --quick            # a run of seconds
.venv/bin/python examples/digits.py --load outputs/digits/model.eqx  # no training
```

Outputs, in `outputs/digits/`: `metrics.json`, `model.eqx` (config and weights),
`completions.png`, `energy.png`, `memories.png`, `parameters.png`.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray
from tqdm import tqdm

import eqx_lagrangians as el


SIDE = 8
NUM_PIXELS = SIDE * SIDE
NUM_CLASSES = 10
# The bottom half of the image (rows 4 to 7) is what completion fills in.
HALF = NUM_PIXELS // 2
BOTTOM = np.arange(NUM_PIXELS) >= HALF
DPI = 120


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes and hyper-parameters; saved with the model so that `--load` rebuilds
    a like-shaped memory."""

    hidden: int = 200  # memory neurons
    steps: int = 10  # descent steps, in training and evaluation
    step_size: float = 0.5
    # Time constants: the image layer moves slowest, since its LayerNorm is the most
    # curved Lagrangian (curvature γ/std of the state, and pixels have std ~0.4).
    tau_image: float = 4.0
    tau_label: float = 1.0
    tau_memory: float = 1.0
    epochs: int = 150
    batch_size: int = 64
    learning_rate: float = 3e-2  # Adam's peak, with a cosine decay to zero
    completion_weight: float = 20.0  # loss = cross-entropy + weight × MSE
    noise: float = 0.15  # std of Gaussian pixel noise on training inputs
    train_size: int | None = None  # None: all 1437 training images
    seed: int = 0


# ---------------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True)
class Data:
    """The digits, pixels in [0, 1] as flat 64-vectors, split 80/20 (stratified)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def fill(self) -> np.ndarray:
        """The training set's mean image: the start of the unknown pixels."""
        return self.x_train.mean(axis=0)


def load_data(seed: int = 0, train_size: int | None = None) -> Data:
    """scikit-learn's bundled digits (no download), a stratified 80/20 split.

    The split uses `random_state=0` always, so the test set never changes; `seed`
    only picks the training subset when `train_size` is given."""
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
    return Data(x_train, y_train, x_test, y_test)


# --------------------------------------------------------------------------- model


def make_memory(config: Config, key: PRNGKeyArray) -> el.AssociativeMemory:
    """The image-label-memory network, at β = γ = 1 and δ = 0."""
    image_key, label_key = jr.split(key)
    return el.AssociativeMemory(
        neurons={
            "image": el.NeuronLayer(
                el.LayerNorm(gamma=1.0, delta=jnp.zeros(NUM_PIXELS)),
                NUM_PIXELS,
                config.tau_image,
            ),
            "label": el.NeuronLayer(
                el.Softmax(beta=1.0), NUM_CLASSES, config.tau_label
            ),
            "memory": el.NeuronLayer(
                el.Softmax(beta=1.0), config.hidden, config.tau_memory
            ),
        },
        synapses={
            "image_memory": el.DenseSynapse(NUM_PIXELS, config.hidden, key=image_key),
            "label_memory": el.DenseSynapse(NUM_CLASSES, config.hidden, key=label_key),
        },
        connections=[
            (("image", "memory"), "image_memory"),
            (("label", "memory"), "label_memory"),
        ],
    )


def lagrangian_parameters(memory: el.AssociativeMemory) -> dict[str, Array]:
    """The effective β, γ and δ of the memory."""
    neurons = memory.neurons
    return {
        "image_gamma": neurons["image"].lagrangian.gamma,  # pyright: ignore
        "image_delta": neurons["image"].lagrangian.delta,  # pyright: ignore
        "label_beta": neurons["label"].lagrangian.beta,  # pyright: ignore
        "memory_beta": neurons["memory"].lagrangian.beta,  # pyright: ignore
    }


def filter_spec(memory: el.AssociativeMemory, train_lagrangians: bool = True):
    """Which leaves optax trains: every array, or all but the Lagrangians' β, γ, δ
    (Equinox's filter-spec idiom)."""
    spec = jtu.tree_map(eqx.is_inexact_array, memory)
    if not train_lagrangians:
        spec = eqx.tree_at(
            lambda m: (
                m.neurons["image"].lagrangian.raw_gamma,
                m.neurons["image"].lagrangian.delta,
                m.neurons["label"].lagrangian.raw_beta,
                m.neurons["memory"].lagrangian.raw_beta,
            ),
            spec,
            replace=(False, False, False, False),
        )
    return spec


def _start(memory: el.AssociativeMemory, image: Float[Array, " 64"]):
    return {
        "image": image,
        "label": memory.neurons["label"].init(),
        "memory": memory.neurons["memory"].init(),
    }


def classify_one(
    memory: el.AssociativeMemory, image: Float[Array, " 64"], config: Config
) -> el.DescentResult:
    """Descent with the whole image clamped; the label layer is the read-out."""
    return el.descend(
        memory,
        _start(memory, image),
        steps=config.steps,
        step_size=config.step_size,
        clamp={"image": True},
    )


def complete_one(
    memory: el.AssociativeMemory,
    image: Float[Array, " 64"],
    fill: Float[Array, " 64"],
    config: Config,
) -> el.DescentResult:
    """Descent with the top half clamped and the bottom half started at `fill`; the
    bottom half's state is the read-out."""
    bottom = jnp.asarray(BOTTOM)
    start = jnp.where(bottom, fill, image)
    return el.descend(
        memory,
        _start(memory, start),
        steps=config.steps,
        step_size=config.step_size,
        clamp={"image": ~bottom},
    )


def label_log_probs(
    memory: el.AssociativeMemory, label_state: Float[Array, "batch 10"]
) -> Float[Array, "batch 10"]:
    """log softmax(β x) of the label layer: the log of its activation, computed
    stably."""
    beta = memory.neurons["label"].lagrangian.beta  # pyright: ignore
    return jax.nn.log_softmax(beta * label_state, axis=-1)


def losses(
    memory: el.AssociativeMemory,
    images: Float[Array, "batch 64"],
    labels: Int[Array, " batch"],
    fill: Float[Array, " 64"],
    config: Config,
    inputs: Float[Array, "batch 64"] | None = None,
) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
    """Cross-entropy of the labels, MSE of the completed bottom halves against
    `images` (pixel scale), and the accuracy; the memory sees `inputs` (noisy
    images in training) if given, else `images`."""
    if inputs is None:
        inputs = images
    classified = jax.vmap(lambda x: classify_one(memory, x, config))(inputs)
    log_probs = label_log_probs(memory, classified.states["label"])
    cross_entropy = -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], 1))
    completed = jax.vmap(lambda x: complete_one(memory, x, fill, config))(inputs)
    error = (completed.states["image"] - images)[:, HALF:]
    mse = jnp.mean(error**2)
    accuracy = jnp.mean(jnp.argmax(log_probs, axis=-1) == labels)
    return cross_entropy, mse, accuracy


# ------------------------------------------------------------------------ training


def train(
    memory: el.AssociativeMemory,
    data: Data,
    config: Config,
    *,
    train_lagrangians: bool = True,
    progress: bool = True,
    description: str = "training",
) -> tuple[el.AssociativeMemory, dict[str, list]]:
    """Adam on cross-entropy + `completion_weight` × MSE, through descent. The
    memory sees the training images with Gaussian pixel noise of std `noise` (a
    denoising regulariser: it narrows the gap between training and test error);
    the targets are the clean images.

    **Returns:** the trained memory and its history: the loss at every step and the
    effective β, γ at the end of every epoch."""
    params, static = eqx.partition(memory, filter_spec(memory, train_lagrangians))
    num_batches = max(1, len(data.x_train) // config.batch_size)
    total_steps = config.epochs * num_batches
    schedule = optax.cosine_decay_schedule(config.learning_rate, max(total_steps, 1))
    optimiser = optax.adam(schedule)
    opt_state = optimiser.init(params)
    fill = jnp.asarray(data.fill)

    def loss_fn(params, images, labels, inputs):
        memory = eqx.combine(params, static)
        cross_entropy, mse, accuracy = losses(
            memory, images, labels, fill, config, inputs
        )
        return cross_entropy + config.completion_weight * mse, (
            cross_entropy,
            mse,
            accuracy,
        )

    @eqx.filter_jit
    def step(params, opt_state, images, labels, inputs):
        (loss, aux), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(
            params, images, labels, inputs
        )
        updates, opt_state = optimiser.update(grads, opt_state, params)
        params = eqx.apply_updates(params, updates)
        return params, opt_state, loss, aux

    def snapshot(params) -> dict:
        values = lagrangian_parameters(eqx.combine(params, static))
        return {
            k: np.asarray(v).tolist() for k, v in values.items() if "delta" not in k
        }

    history: dict[str, list] = {"loss": [], "parameters": [snapshot(params)]}
    rng = np.random.default_rng(config.seed)
    x_train, y_train = data.x_train, data.y_train
    with tqdm(
        total=total_steps, desc=description, disable=not progress, leave=True
    ) as bar:
        for _ in range(config.epochs):
            order = rng.permutation(len(x_train))
            for b in range(num_batches):
                batch = order[b * config.batch_size : (b + 1) * config.batch_size]
                images = x_train[batch]
                noise = rng.normal(size=images.shape).astype(np.float32)
                inputs = images + config.noise * noise
                params, opt_state, loss, (ce, mse, acc) = step(
                    params, opt_state, images, y_train[batch], inputs
                )
                history["loss"].append(float(loss))
                bar.update()
                bar.set_postfix(
                    loss=f"{float(loss):.3f}",
                    ce=f"{float(ce):.3f}",
                    mse=f"{float(mse):.4f}",
                    acc=f"{float(acc):.2f}",
                )
            history["parameters"].append(snapshot(params))
    return eqx.combine(params, static), history


# ---------------------------------------------------------------------- evaluation


@eqx.filter_jit
def predict(
    memory: el.AssociativeMemory,
    images: Float[Array, "batch 64"],
    fill: Float[Array, " 64"],
    config: Config,
) -> tuple[Int[Array, " batch"], Float[Array, "batch 64"], dict[str, Array]]:
    """Predicted labels, completed images (bottom half clipped to [0, 1]) and the
    energies along both descents."""
    classified = jax.vmap(lambda x: classify_one(memory, x, config))(images)
    completed = jax.vmap(lambda x: complete_one(memory, x, fill, config))(images)
    labels = jnp.argmax(classified.states["label"], axis=-1)
    energies = {
        "classification": classified.energies,
        "completion": completed.energies,
    }
    return labels, jnp.clip(completed.states["image"], 0.0, 1.0), energies


def evaluate(memory: el.AssociativeMemory, data: Data, config: Config) -> dict:
    """Test accuracy, completion MSE, and for each task the fraction of test digits
    whose energy never rose (by more than 1e-4) during descent."""
    labels, completed, energies = predict(
        memory, jnp.asarray(data.x_test), jnp.asarray(data.fill), config
    )
    labels, completed = np.asarray(labels), np.asarray(completed)
    monotone = {
        task: float(np.mean(np.diff(np.asarray(e), axis=1).max(axis=1) <= 1e-4))
        for task, e in energies.items()
    }
    return {
        "energy_never_rose": monotone,
        "test_accuracy": float(np.mean(labels == data.y_test)),
        "completion_mse": float(
            np.mean((completed[:, BOTTOM] - data.x_test[:, BOTTOM]) ** 2)
        ),
    }


def fit_baselines(data: Data) -> dict[str, float]:
    """scikit-learn baselines on the same split: logistic regression and 5-nearest
    neighbours for the labels; 5-nearest neighbours on the top half and the mean
    image for the bottom half."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    logistic = LogisticRegression(max_iter=2000).fit(data.x_train, data.y_train)
    knn = KNeighborsClassifier(n_neighbors=5).fit(data.x_train, data.y_train)
    top, bottom = ~BOTTOM, BOTTOM
    knn_fill = KNeighborsRegressor(n_neighbors=5).fit(
        data.x_train[:, top], data.x_train[:, bottom]
    )
    knn_bottom = knn_fill.predict(data.x_test[:, top])
    truth = data.x_test[:, bottom]
    return {
        "logistic_regression_accuracy": float(logistic.score(data.x_test, data.y_test)),
        "knn_accuracy": float(knn.score(data.x_test, data.y_test)),
        "knn_completion_mse": float(np.mean((knn_bottom - truth) ** 2)),
        "mean_fill_completion_mse": float(
            np.mean((data.fill[None, bottom] - truth) ** 2)
        ),
    }


def format_table(metrics: dict) -> str:
    """The comparison printed at the end of a run."""
    base = metrics["baselines"]
    rows = [
        (
            "associative memory (learned β, γ, δ)",
            metrics["test_accuracy"],
            metrics["completion_mse"],
        ),
    ]
    if "ablation" in metrics:
        rows.append(
            (
                "associative memory (β, γ, δ frozen)",
                metrics["ablation"]["test_accuracy"],
                metrics["ablation"]["completion_mse"],
            ),
        )
    rows += [
        ("logistic regression", base["logistic_regression_accuracy"], None),
        ("5-nearest neighbours", base["knn_accuracy"], base["knn_completion_mse"]),
        ("mean fill", None, base["mean_fill_completion_mse"]),
    ]
    header = f"{'model':<38} {'test accuracy':>13} {'completion MSE':>15}"
    lines = [header, "-" * len(header)]
    for name, accuracy, mse in rows:
        acc = "–" if accuracy is None else f"{accuracy:.4f}"
        err = "–" if mse is None else f"{mse:.4f}"
        lines.append(f"{name:<38} {acc:>13} {err:>15}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- saving


def save_model(path: str | os.PathLike, memory: el.AssociativeMemory, config: Config):
    """The config as a JSON line, then the leaves (Equinox's serialisation idiom)."""
    with open(path, "wb") as f:
        f.write((json.dumps(dataclasses.asdict(config)) + "\n").encode())
        eqx.tree_serialise_leaves(f, memory)


def load_model(path: str | os.PathLike) -> tuple[el.AssociativeMemory, Config]:
    """A memory saved by `save_model`, rebuilt like-shaped from its config."""
    with open(path, "rb") as f:
        config = Config(**json.loads(f.readline().decode()))
        like = make_memory(config, jr.key(0))
        return eqx.tree_deserialise_leaves(f, like), config


# -------------------------------------------------------------------------- figures


def _digit(ax, pixels, title=None, **kwargs):
    kwargs.setdefault("cmap", "gray_r")
    ax.imshow(np.asarray(pixels).reshape(SIDE, SIDE), **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=8)


def plot_completions(
    path: pathlib.Path, memory: el.AssociativeMemory, data: Data, config: Config
) -> None:
    """Two test digits of each class: the clamped top half, the memory's
    completion, the truth, and the predicted label."""
    picks = np.concatenate([np.flatnonzero(data.y_test == c)[:2] for c in range(10)])
    images = data.x_test[picks]
    labels, completed, _ = predict(
        memory, jnp.asarray(images), jnp.asarray(data.fill), config
    )
    masked = np.where(BOTTOM[None, :], np.nan, images)
    fig, axes = plt.subplots(3, len(picks), figsize=(len(picks) * 0.75, 2.9))
    for j in range(len(picks)):
        _digit(axes[0, j], masked[j], vmin=0, vmax=1)
        _digit(axes[1, j], completed[j], f"says {int(labels[j])}", vmin=0, vmax=1)
        axes[1, j].axhline(SIDE / 2 - 0.5, color="C3", linewidth=0.8)
        _digit(axes[2, j], images[j], vmin=0, vmax=1)
    for ax, name in zip(axes[:, 0], ("clamped", "completed", "truth"), strict=True):
        ax.set_ylabel(name, fontsize=9)
    fig.suptitle(
        "Test digits: top half clamped, bottom half completed by energy descent "
        "(and the label read out from the full image)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_energy(
    path: pathlib.Path, memory: el.AssociativeMemory, data: Data, config: Config
) -> None:
    """Energy against descent step for five test digits, for both tasks, run for
    three times as many steps as in training."""
    long = dataclasses.replace(config, steps=3 * config.steps)
    images = jnp.asarray(data.x_test[:5])
    fill = jnp.asarray(data.fill)
    runs = {
        "classification (image clamped)": eqx.filter_jit(
            jax.vmap(lambda x: classify_one(memory, x, long))
        )(images),
        "completion (top half clamped)": eqx.filter_jit(
            jax.vmap(lambda x: complete_one(memory, x, fill, long))
        )(images),
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for ax, (title, result) in zip(axes, runs.items(), strict=True):
        for i, energies in enumerate(np.asarray(result.energies)):
            ax.plot(energies, marker=".", label=f"test digit {i} ({data.y_test[i]})")
        ax.axvline(config.steps, color="0.5", linestyle="--", linewidth=1)
        ax.text(config.steps, ax.get_ylim()[1], " trained steps", va="top", fontsize=8)
        ax.set_xlabel("descent step")
        ax.set_ylabel("energy E")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_memories(path: pathlib.Path, memory: el.AssociativeMemory) -> None:
    """The columns of the image synapse as 8×8 images: for every label, the memories
    whose label-synapse column votes for it most strongly."""
    image_w = np.asarray(memory.synapses["image_memory"].weight)  # pyright: ignore
    label_w = np.asarray(memory.synapses["label_memory"].weight)  # pyright: ignore
    classes = np.argmax(label_w, axis=0)
    per_class = 8
    fig, axes = plt.subplots(
        NUM_CLASSES, per_class, figsize=(per_class * 0.9, NUM_CLASSES * 0.95 + 0.6)
    )
    limit = np.abs(image_w).max()
    for c in range(NUM_CLASSES):
        members = np.flatnonzero(classes == c)
        members = members[np.argsort(-label_w[c, members])][:per_class]
        for k, ax in enumerate(axes[c]):
            ax.set_xticks([])
            ax.set_yticks([])
            if k < len(members):
                _digit(
                    ax, image_w[:, members[k]], cmap="RdBu_r", vmin=-limit, vmax=limit
                )
            else:
                ax.axis("off")
        axes[c, 0].set_ylabel(f"→ {c}", rotation=0, labelpad=12, fontsize=10)
    fig.suptitle(
        f"Learned memories: columns of W_image (64 × {image_w.shape[1]}),\n"
        "one row per label they vote for (red > 0 > blue)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_parameters(
    path: pathlib.Path,
    history: dict[str, list],
    memory: el.AssociativeMemory,
    frozen_history: dict[str, list] | None = None,
) -> None:
    """β and γ at the end of every epoch, the learned δ, and the training loss."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained")
    params = history["parameters"]
    epochs = np.arange(len(params))
    names = {
        "memory_beta": "β of the memory layer",
        "label_beta": "β of the label layer",
        "image_gamma": "γ of the image layer",
    }
    for key, name in names.items():
        axes[0].plot(epochs, [p[key] for p in params], label=name)
    axes[0].axhline(1.0, color="0.5", linestyle="--", linewidth=1, label="frozen")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("value")
    axes[0].set_title("Lagrangian parameters over training", fontsize=10)
    axes[0].grid(alpha=0.3)
    axes[0].legend(fontsize=8)

    delta = np.asarray(memory.neurons["image"].lagrangian.delta)  # pyright: ignore
    limit = max(np.abs(delta).max(), 1e-6)
    shown = axes[1].imshow(
        delta.reshape(SIDE, SIDE), cmap="RdBu_r", vmin=-limit, vmax=limit
    )
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    axes[1].set_title("learned δ of the image layer (per pixel)", fontsize=10)
    fig.colorbar(shown, ax=axes[1], shrink=0.85)

    axes[2].plot(history["loss"], linewidth=0.6, label="β, γ, δ learned")
    if frozen_history is not None:
        axes[2].plot(
            frozen_history["loss"], linewidth=0.6, alpha=0.7, label="β, γ, δ frozen"
        )
    axes[2].set_yscale("log")
    axes[2].set_xlabel("optimiser step")
    axes[2].set_ylabel("loss (cross-entropy + weight × MSE)")
    axes[2].set_title("training loss", fontsize=10)
    axes[2].grid(alpha=0.3)
    axes[2].legend(fontsize=8)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


# ----------------------------------------------------------------------------- main


QUICK = {"hidden": 32, "steps": 5, "epochs": 2, "train_size": 256}


def main(
    out_dir: str | os.PathLike = "outputs/digits",
    *,
    hidden: int = Config.hidden,
    steps: int = Config.steps,
    step_size: float = Config.step_size,
    epochs: int = Config.epochs,
    batch_size: int = Config.batch_size,
    learning_rate: float = Config.learning_rate,
    completion_weight: float = Config.completion_weight,
    noise: float = Config.noise,
    train_size: int | None = Config.train_size,
    seed: int = Config.seed,
    quick: bool = False,
    ablation: bool = True,
    load: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:
    """Train (or load), evaluate, compare with baselines, draw and save.

    **Arguments:**

    - `out_dir`: where `metrics.json`, `model.eqx` and the PNGs go; created if
        missing.
    - `hidden`, `steps`, `step_size`, `epochs`, `batch_size`, `learning_rate`,
        `completion_weight`, `noise`, `train_size`, `seed`: see `Config`.
    - `quick`: tiny sizes (`QUICK`), a run of seconds.
    - `ablation`: also train the same model with β, γ, δ frozen.
    - `load`: a saved model to evaluate instead of training one.
    - `progress`: show tqdm progress bars.

    **Returns:**

    The metrics written to `metrics.json`.
    """
    matplotlib.use("Agg")
    start = time.perf_counter()
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = dict(
        hidden=hidden,
        steps=steps,
        step_size=step_size,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        completion_weight=completion_weight,
        noise=noise,
        train_size=train_size,
        seed=seed,
    )
    if quick:
        sizes.update(QUICK)

    history = frozen_history = None
    metrics: dict = {}
    if load is not None:
        memory, config = load_model(load)
        data = load_data(config.seed, config.train_size)
        print(f"loaded {load} ({config})")
    else:
        config = Config(**sizes)
        data = load_data(config.seed, config.train_size)
        print(
            f"digits: {len(data.x_train)} training and {len(data.x_test)} test "
            f"images; {config}"
        )
        memory = make_memory(config, jr.key(config.seed))
        memory, history = train(
            memory, data, config, progress=progress, description="β, γ, δ learned"
        )
        save_model(out_dir / "model.eqx", memory, config)
        metrics["train_seconds"] = round(time.perf_counter() - start, 1)

    metrics.update(evaluate(memory, data, config))
    learned = lagrangian_parameters(memory)
    metrics["learned_parameters"] = {
        k: np.asarray(v).tolist() for k, v in learned.items()
    }
    if ablation and load is None:
        frozen = make_memory(config, jr.key(config.seed))
        frozen, frozen_history = train(
            frozen,
            data,
            config,
            train_lagrangians=False,
            progress=progress,
            description="β, γ, δ frozen",
        )
        metrics["ablation"] = {
            "description": "the same model and training, with β, γ, δ frozen at "
            "β = γ = 1, δ = 0",
            **evaluate(frozen, data, config),
        }
    metrics["baselines"] = fit_baselines(data)
    metrics["config"] = dataclasses.asdict(config)

    figures = [out_dir / "completions.png", out_dir / "energy.png"]
    plot_completions(figures[0], memory, data, config)
    plot_energy(figures[1], memory, data, config)
    figures.append(out_dir / "memories.png")
    plot_memories(figures[-1], memory)
    if history is not None:
        figures.append(out_dir / "parameters.png")
        plot_parameters(figures[-1], history, memory, frozen_history)
    metrics["total_seconds"] = round(time.perf_counter() - start, 1)
    with open(out_dir / "metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)

    print()
    print(format_table(metrics))
    print()
    params = metrics["learned_parameters"]
    print(
        f"learned: β(memory) = {params['memory_beta']:.3f}, "
        f"β(label) = {params['label_beta']:.3f}, "
        f"γ(image) = {params['image_gamma']:.3f}, "
        f"|δ(image)| mean = {np.mean(np.abs(params['image_delta'])):.3f}"
    )
    monotone = metrics["energy_never_rose"]
    print(
        f"energy never rose over the {config.steps} descent steps for "
        f"{monotone['classification']:.1%} (classification) and "
        f"{monotone['completion']:.1%} (completion) of the test digits"
    )
    print(f"total time: {metrics['total_seconds']:.1f} s")
    for path in [out_dir / "metrics.json", *figures]:
        print(f"wrote {path}")
    if load is None:
        print(f"wrote {out_dir / 'model.eqx'}")
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Train an associative memory of handwritten digits with optax "
        "through energy descent; classify and complete test digits."
    )
    parser.add_argument("--out-dir", default="outputs/digits")
    parser.add_argument(
        "--hidden",
        type=int,
        default=Config.hidden,
        help="memory neurons (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=Config.steps,
        help="descent steps (default: %(default)s)",
    )
    parser.add_argument(
        "--step-size",
        type=float,
        default=Config.step_size,
        help="descent step size (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=Config.epochs,
        help="training epochs (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=Config.batch_size,
        help="minibatch size (default: %(default)s)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=Config.learning_rate,
        help="Adam's peak learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--completion-weight",
        type=float,
        default=Config.completion_weight,
        help="weight of the completion MSE (default: %(default)s)",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=Config.noise,
        help="std of the pixel noise on training inputs (default: %(default)s)",
    )
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="use only this many training images",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=Config.seed,
        help="initialisation and shuffling seed (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a run of seconds"
    )
    parser.add_argument(
        "--no-ablation",
        dest="ablation",
        action="store_false",
        help="skip training the frozen-parameter model",
    )
    parser.add_argument(
        "--load",
        default=None,
        metavar="PATH",
        help="evaluate a saved model.eqx instead of training",
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="hide the progress bars",
    )
    main(**vars(parser.parse_args()))
