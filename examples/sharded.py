r"""Retrieval from a memory of many stored patterns, split over devices.

The memory is one `el.LogSumExpSynapse` on one identity layer: `num_patterns` random
patterns $ξ_μ \in \{\pm 1/\sqrt{\text{dim}}\}^\text{dim}$ (norm 1) as the rows of
`patterns`, with energy

$$E(x) = \tfrac12 \lVert x \rVert^2 - \frac1β \log \sum_μ e^{β\, ξ_μ \cdot x}.$$

A query is a stored pattern with a fraction `flip` of its entries' signs flipped;
`el.descend` moves it toward the fixed point $x = Ξ^\top \operatorname{softmax}(β Ξ
x)$, the stored pattern. A query counts as retrieved when the pattern nearest to its
descended state (the largest overlap; all patterns have the same norm) is the one it
was made from. (With β large, descent ends at the pattern nearest to the query;
it restores the pattern itself: the overlap $ξ \cdot x / \lVert x \rVert$ with the
right pattern goes from $1 - 2\,\text{flip}$ to about 1.)

The work is split over a mesh of the devices, with axes `("data", "model")`:

- model parallel: the patterns are split by rows, `PartitionSpec("model", None)`:
  each device holds `num_patterns / n_model` of them and computes only their overlaps;
  the softmax's maximum and sum are reduced across the devices;
- data parallel: the queries are split along the batch axis,
  `PartitionSpec("data", None)`; the rest of the memory (β) is a copy on every device.

By default the mesh is 1 × n: the patterns are split over all n devices. With
`--data 2`, 2 devices split the queries and n / 2 the patterns (a 2 × 2 mesh on 4).

For 1, 2 and 4 devices (`jax.devices()[:n]`) it prints the mesh, what each device
holds, the accuracy, the mean overlap with the right pattern, the largest difference
of the retrieved states from the 1-device result, and the throughput (queries/s, the
median of `repeats` timed runs after compiling).

On a CPU, XLA makes one device unless `XLA_FLAGS` asks for more before JAX starts:
this script sets `--xla_force_host_platform_device_count=4` itself when it imports JAX
first and no count is set. Those 4 devices share the same cores, so on a CPU the
figures show that the split computation is right and what it costs, not a speed-up;
on a machine with several GPUs the same code splits real work.

```
.venv/bin/python examples/sharded.py
.venv/bin/python examples/sharded.py --num-patterns 16384 --dim 256 --flip 0.3
.venv/bin/python examples/sharded.py --data 2 --block-size none
```
"""

# XLA reads XLA_FLAGS once, when JAX starts: it is set before JAX is imported.
# ruff: noqa: E402
import os
import sys


_COUNT_FLAG = "--xla_force_host_platform_device_count"
if "jax" not in sys.modules and _COUNT_FLAG not in os.environ.get("XLA_FLAGS", ""):
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} {_COUNT_FLAG}=4".strip()

import argparse
import math
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from jaxtyping import Array, Float, Int

import eqx_lagrangians as el


def mesh_shape(num_devices: int, data: int) -> tuple[int, int]:
    """`(data, model)` for `num_devices`: `data` devices along the batch (fewer if
    `num_devices` is not a multiple of it), the rest along the patterns."""
    data = math.gcd(data, num_devices)
    return data, num_devices // data


def make_problem(
    num_patterns: int, dim: int, num_queries: int, flip: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random ±1/√dim patterns (rows), and queries: each a random stored pattern with
    `round(flip * dim)` of its entries' signs flipped.

    **Returns:** `patterns` (num_patterns, dim), `queries` (num_queries, dim) and
    `labels` (num_queries,), the index of the pattern each query was made from."""
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), (num_patterns, dim))
    patterns = signs / np.float32(np.sqrt(dim))
    labels = rng.integers(num_patterns, size=num_queries)
    flipped = np.argsort(rng.random((num_queries, dim)), axis=1) < round(flip * dim)
    queries = np.where(flipped, -patterns[labels], patterns[labels])
    return patterns, queries, labels


def make_memory(
    patterns: np.ndarray, beta: float, block_size: int | None, seed: int
) -> el.AssociativeMemory:
    num_patterns, dim = patterns.shape
    synapse = el.LogSumExpSynapse(
        num_patterns, dim, beta, block_size=block_size, key=jr.key(seed)
    )
    synapse = eqx.tree_at(lambda s: s.patterns, synapse, jnp.asarray(patterns))
    return el.AssociativeMemory(
        neurons={"visible": el.NeuronLayer(el.Identity(), dim)},
        synapses={"patterns": synapse},
        connections=[(("visible",), "patterns")],
    )


def _patterns(memory: el.AssociativeMemory) -> Float[Array, "num_patterns dim"]:
    synapse = memory.synapses["patterns"]
    assert isinstance(synapse, el.LogSumExpSynapse)
    return synapse.patterns


@eqx.filter_jit
def retrieve(
    memory: el.AssociativeMemory,
    queries: Float[Array, "num_queries dim"],
    steps: int,
    step_size: float,
) -> tuple[Float[Array, "num_queries dim"], Int[Array, " num_queries"]]:
    """Descend from every query; **returns** the final states and, for each, the index
    of the nearest stored pattern."""

    def one(query):
        xs = {"visible": query}
        return el.descend(memory, xs, steps=steps, step_size=step_size).states

    states = jax.vmap(one)(queries)["visible"]
    nearest = jnp.argmax(states @ _patterns(memory).T, axis=1)
    return states, nearest


def shard(
    memory: el.AssociativeMemory, queries: np.ndarray, mesh: Mesh
) -> tuple[el.AssociativeMemory, jax.Array]:
    """The memory and the queries laid out on `mesh`: the patterns split by rows over
    'model', the queries by rows over 'data', everything else a copy on every device."""
    memory = eqx.filter_shard(memory, NamedSharding(mesh, P()))
    split = jax.device_put(_patterns(memory), NamedSharding(mesh, P("model", None)))
    memory = eqx.tree_at(_patterns, memory, split)
    return memory, jax.device_put(queries, NamedSharding(mesh, P("data", None)))


def main(
    *,
    num_patterns: int = 8192,
    dim: int = 128,
    num_queries: int = 256,
    flip: float = 0.25,
    beta: float = 32.0,
    steps: int = 10,
    step_size: float = 0.5,
    block_size: int | None = 1024,
    device_counts: tuple[int, ...] = (1, 2, 4),
    data: int = 1,
    repeats: int = 5,
    seed: int = 0,
) -> list[dict]:
    """Retrieve the queries on 1, 2, 4 devices and print the figures.

    **Arguments:**

    - `num_patterns`, `dim`: the stored patterns (`num_patterns` a multiple of the
        'model' axis, `num_queries` of the 'data' axis, of every mesh).
    - `num_queries`, `flip`: the queries and the fraction of entries flipped in each.
    - `beta`, `steps`, `step_size`: the memory's inverse temperature and the descent.
    - `block_size`: the synapse's blocks of patterns (online logsumexp; a divisor of
        `num_patterns` and a multiple of the 'model' axis), or `None` for the direct
        form.
    - `device_counts`: the numbers of devices to run on (those above
        `jax.device_count()` are skipped).
    - `data`: how many of them split the queries (data parallel; at most the
        greatest common divisor with the device count); the others split the
        patterns. The default 1 splits the patterns over all the devices.
    - `repeats`: timed runs per device count, after one that compiles.
    - `seed`: for the patterns and queries.

    **Returns:** one dict per device count run: `devices`, `mesh` (data, model),
    `patterns_per_device`, `queries_per_device` (what each device holds), `accuracy`,
    `overlap` (mean overlap of the retrieved states with their patterns),
    `max_difference` (largest difference of the retrieved states from the first device
    count's), `queries_per_s`.
    """
    patterns, queries, labels = make_problem(num_patterns, dim, num_queries, flip, seed)
    memory = make_memory(patterns, beta, block_size, seed)
    available = jax.device_count()
    print(
        f"{num_patterns} stored patterns of dim {dim}, β = {beta:g};\n{num_queries} "
        f"queries with {round(flip * dim)} of {dim} signs flipped (overlap "
        f"{1 - 2 * round(flip * dim) / dim:.3f} with their pattern); {steps} steps of "
        f"descent; {available} {jax.devices()[0].platform.upper()} devices; "
        f"block_size {block_size}."
    )
    rows, reference = [], None
    for n in device_counts:
        if n > available:
            print(f"skipping {n} devices: only {available} exist")
            continue
        data_devices, model = mesh_shape(n, data)
        devices = np.array(jax.devices()[:n]).reshape(data_devices, model)
        mesh = Mesh(devices, ("data", "model"))
        sharded_memory, sharded_queries = shard(memory, queries, mesh)
        states, nearest = retrieve(sharded_memory, sharded_queries, steps, step_size)
        jax.block_until_ready((states, nearest))  # compiled now
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(
                retrieve(sharded_memory, sharded_queries, steps, step_size)
            )
            times.append(time.perf_counter() - start)
        # What one device holds: its block of the patterns and of the queries.
        held_patterns = _patterns(sharded_memory).addressable_shards[0].data.shape[0]
        held_queries = sharded_queries.addressable_shards[0].data.shape[0]
        states = np.asarray(states)
        norms = np.linalg.norm(states, axis=1)
        cosines = np.sum(states * patterns[labels], axis=1) / norms
        reference = states if reference is None else reference
        rows.append(
            {
                "devices": n,
                "mesh": (data_devices, model),
                "patterns_per_device": held_patterns,
                "queries_per_device": held_queries,
                "accuracy": float(np.mean(np.asarray(nearest) == labels)),
                "overlap": float(np.mean(cosines)),
                "max_difference": float(np.max(np.abs(states - reference))),
                "queries_per_s": num_queries / statistics.median(times),
            }
        )

    header = (
        "devices",
        "mesh (data×model)",
        "patterns/device",
        "queries/device",
        "accuracy",
        "overlap",
        "max |Δ| vs first",
        "queries/s",
    )
    table = [header] + [
        (
            str(row["devices"]),
            "{} × {}".format(*row["mesh"]),
            str(row["patterns_per_device"]),
            str(row["queries_per_device"]),
            f"{row['accuracy']:.4f}",
            f"{row['overlap']:.4f}",
            f"{row['max_difference']:.1e}",
            f"{row['queries_per_s']:.0f}",
        )
        for row in rows
    ]
    widths = [max(len(line[k]) for line in table) for k in range(len(header))]
    print()
    for line in table:
        print("   ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))
    if jax.devices()[0].platform == "cpu":
        print(
            "\nNote: these CPU devices are forced by XLA_FLAGS and share the same "
            "cores, so the figures show correctness and the overhead of splitting, "
            "not a speed-up."
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Associative-memory retrieval with the patterns and the queries "
        "split over devices."
    )
    parser.add_argument("--num-patterns", type=int, default=8192)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--num-queries", type=int, default=256)
    parser.add_argument("--flip", type=float, default=0.25)
    parser.add_argument("--beta", type=float, default=32.0)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--step-size", type=float, default=0.5)
    parser.add_argument(
        "--block-size",
        type=lambda text: None if text == "none" else int(text),
        default=1024,
        help="patterns per block of the online logsumexp, or 'none' (direct form)",
    )
    parser.add_argument("--device-counts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--data",
        type=int,
        default=1,
        help="devices that split the queries; the others split the patterns",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(**{**vars(args), "device_counts": tuple(args.device_counts)})
