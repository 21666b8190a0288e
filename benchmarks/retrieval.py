"""Memory and speed of `el.LogSumExpSynapse` over many patterns: blocked against direct.

A memory of `num_patterns` stored patterns of dimension 256 (1e5 and 1e6 by default)
answers a batch of 256 queries. For each size, the direct form (`block_size=None`: every
logit of the `(256, num_patterns)` batch exists at once, and so do its derivatives)
is the baseline, run in the same process as the blocked form (`block_size=4000`: an
online logsumexp over blocks of 4000 patterns). Three computations:

1. **retrieval step**: the energies and their gradients in the queries (the input each
   query receives, what every step of `el.descend` computes);
2. **descend**: `jax.vmap(el.descend)` of the one-layer memory, 3 steps;
3. **training gradient**: the gradient of the summed energies in the patterns and β;
4. **training through descend**: the gradient of a loss of the states after the 3
   steps of descent, in the patterns and β (second order: through each step's
   gradient in the queries).

Memory is XLA's own account of each compiled program (`memory_analysis()`): `temp` is
the working memory on top of the inputs and outputs, `peak` adds the inputs and
outputs (the patterns alone are 98 MiB at 1e5 and 977 MiB at 1e6; a gradient in the
patterns is as large again). Times are medians over the repetitions; every function is
compiled first, `block_until_ready()` ends every timed call, the two forms alternate
in every repetition, and the ratios are medians of per-repetition ratios (robust on a
shared, noisy machine). The script checks that both forms agree.

Run it from the repository root with

```
.venv/bin/python benchmarks/retrieval.py
```
"""

import argparse
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import eqx_lagrangians as el


MiB = 2**20


def build(num_patterns, dim, batch, block_size, key):
    k1, k2 = jr.split(key)
    direct = el.LogSumExpSynapse(num_patterns, dim, beta=8.0, key=k1)
    blocked = el.LogSumExpSynapse(
        num_patterns, dim, beta=8.0, block_size=block_size, key=k1
    )
    # Queries near stored patterns, as in retrieval.
    noise = 0.5 * jr.normal(k2, (batch, dim)) / np.sqrt(dim)
    queries = direct.patterns[:batch] + noise
    return direct, blocked, queries


def total_energy(synapse, queries):
    return jnp.sum(jax.vmap(synapse)(queries))


def retrieval_step(synapse, queries):
    return jax.value_and_grad(total_energy, argnums=1)(synapse, queries)


def descent(synapse, queries):
    memory = el.AssociativeMemory(
        neurons={"v": el.NeuronLayer(el.Identity(), queries.shape[-1])},
        synapses={"lse": synapse},
        connections=[(("v",), "lse")],
    )

    def run(query):
        return el.descend(memory, {"v": query}, steps=3, step_size=0.5)

    result = jax.vmap(run)(queries)
    return result.states["v"], result.energies


def training_gradient(synapse, queries):
    grads = eqx.filter_grad(total_energy)(synapse, queries)
    return grads.patterns, grads.raw_beta


def training_through_descent(synapse, queries):
    def loss(synapse):
        states, _ = descent(synapse, queries)
        return jnp.mean((states - queries) ** 2)

    grads = eqx.filter_grad(loss)(synapse)
    return grads.patterns, grads.raw_beta


COMPUTATIONS = {
    "retrieval step": retrieval_step,
    "descend (3 steps)": descent,
    "training gradient": training_gradient,
    "training through descend": training_through_descent,
}


def compile_for(function, synapse, queries):
    """`function` compiled for this synapse and queries (the synapse's arrays as
    arguments, like `eqx.filter_jit`), and its memory: (temp MiB, peak MiB)."""
    params, static = eqx.partition(synapse, eqx.is_array)
    compiled = (
        jax.jit(lambda p, q: function(eqx.combine(p, static), q))
        .lower(params, queries)
        .compile()
    )
    analysis = compiled.memory_analysis()
    assert analysis is not None, "this backend gives no memory analysis"
    temp = analysis.temp_size_in_bytes
    peak = (
        temp
        + analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        - analysis.alias_size_in_bytes
    )
    return (lambda: compiled(params, queries)), (temp / MiB, peak / MiB)


def timed(call):
    start = time.perf_counter()
    jax.block_until_ready(call())
    return time.perf_counter() - start


def check_close(name, direct_out, blocked_out):
    for a, b in zip(jax.tree.leaves(direct_out), jax.tree.leaves(blocked_out)):
        scale = float(jnp.max(jnp.abs(a))) + 1e-30
        error = float(jnp.max(jnp.abs(a - b))) / scale
        if error > 1e-4:
            raise AssertionError(f"{name}: blocked and direct differ by {error:.2e}.")


def main(
    sizes=(100_000, 1_000_000),
    dim=256,
    batch=256,
    block_size=4000,
    repeats=5,
    only=None,
):
    print(
        f"dim {dim}, batch {batch} queries, block_size {block_size}, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {repeats} repeats\n"
    )
    print(
        "| patterns | computation | direct temp / peak MiB | blocked temp / peak MiB "
        "| direct ms | blocked ms | time ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = []
    for num_patterns in sizes:
        direct, blocked, queries = build(
            num_patterns, dim, batch, block_size, jr.key(0)
        )
        for name, function in COMPUTATIONS.items():
            if only is not None and name not in only:
                continue
            direct_call, direct_memory = compile_for(function, direct, queries)
            blocked_call, blocked_memory = compile_for(function, blocked, queries)
            check_close(name, direct_call(), blocked_call())
            times = {"direct": [], "blocked": []}
            for _ in range(repeats):
                times["direct"].append(timed(direct_call))
                times["blocked"].append(timed(blocked_call))
            ratio = statistics.median(
                b / d for b, d in zip(times["blocked"], times["direct"])
            )
            direct_ms = 1e3 * statistics.median(times["direct"])
            blocked_ms = 1e3 * statistics.median(times["blocked"])
            print(
                f"| {num_patterns:.0e} | {name} "
                f"| {direct_memory[0]:.0f} / {direct_memory[1]:.0f} "
                f"| {blocked_memory[0]:.0f} / {blocked_memory[1]:.0f} "
                f"| {direct_ms:.0f} | {blocked_ms:.0f} | {ratio:.2f} |",
                flush=True,
            )
            rows.append((num_patterns, name, direct_memory, blocked_memory, ratio))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--block-size", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=sorted(COMPUTATIONS))
    args = parser.parse_args()
    main(args.sizes, args.dim, args.batch, args.block_size, args.repeats, args.only)
