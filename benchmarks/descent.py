"""Speed and memory of energy descent (`el.descend`) against hand-written JAX.

Three measurements, each against a baseline run in the same process:

1. **Descent speed.** `jax.vmap(el.descend)` over a batch of 128 states of a memory
   with a 784-wide LayerNorm visible layer, a 2000-wide Softmax hidden layer and a
   dense synapse, for 100 steps, against a hand-written `jnp` loop (`lax.scan`) with
   the closed-form activations that computes the same thing: the states and the
   energy before each step and after the last. A second baseline that skips the
   energies is shown for reference.
2. **Tolerance mode.** Steps and time for `descend(..., tol=1e-4)` (capped at 1000
   steps) to stop, against 100 fixed steps.
3. **Differentiating long descents.** One gradient of a loss of the final states with
   respect to every parameter through 200 steps, with and without `checkpoint=True`
   (per-step `jax.checkpoint`): the compiled program's temporary memory (XLA's
   `memory_analysis()`, the peak working memory on top of inputs and outputs) and
   the median time.

Every function is compiled first and `block_until_ready()` ends every timed call; the
variants run round-robin in each repetition and the ratios are medians of per-
repetition ratios (robust against a shared, noisy machine).

Run it from the repository root with

```
.venv/bin/python benchmarks/descent.py
```
"""

import argparse
import statistics
import time

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import eqx_lagrangians as el


def build(visible_dim, hidden_dim, key):
    k1, k2 = jr.split(key)
    memory = el.AssociativeMemory(
        neurons={
            "visible": el.NeuronLayer(
                el.LayerNorm(gamma=1.0, delta=jnp.zeros(visible_dim)), visible_dim
            ),
            "hidden": el.NeuronLayer(el.Softmax(beta=2.0), hidden_dim, tau=0.5),
        },
        synapses={"dense": el.DenseSynapse(visible_dim, hidden_dim, key=k1)},
        connections=[(("visible", "hidden"), "dense")],
    )
    return memory, jr.normal(k2, (128, visible_dim))


def library_descent(memory, queries, steps, tol=None):
    hidden = jnp.zeros(memory.neurons["hidden"].shape)

    def one(query):
        xs = {"visible": query, "hidden": hidden}
        return el.descend(memory, xs, steps=steps, step_size=0.1, tol=tol)

    result = jax.vmap(one)(queries)
    return result.states, result.energies, result.num_steps


def handwritten_descent(params, queries, steps, with_energy=True):
    """The same dynamics written out by hand for a batch, closed-form activations."""
    weight, gamma, delta, beta = params
    delta = delta[None, :]  # per feature, for a batch of rows
    eps, rate_visible, rate_hidden = 1e-5, 0.1, 0.1 / 0.5
    dim = queries.shape[-1]

    def activations_and_energy(xv, xh):
        mean = jnp.mean(xv, axis=-1, keepdims=True)
        var = jnp.var(xv, axis=-1, keepdims=True)
        std = jnp.sqrt(var + eps)
        gv = gamma * (xv - mean) / std + delta
        gh = jax.nn.softmax(beta * xh, axis=-1)
        inputs_visible = gh @ weight.T
        inputs_hidden = gv @ weight
        if not with_energy:
            return gv, gh, inputs_visible, inputs_hidden, None
        lagrangian_v = dim * gamma * std[:, 0] + jnp.sum(delta * xv, axis=-1)
        lagrangian_h = jax.nn.logsumexp(beta * xh, axis=-1) / beta
        energy = (
            jnp.sum(xv * gv, axis=-1)
            - lagrangian_v
            + jnp.sum(xh * gh, axis=-1)
            - lagrangian_h
            - jnp.sum(gv * inputs_visible, axis=-1)
        )
        return gv, gh, inputs_visible, inputs_hidden, energy

    def step(carry, _):
        xv, xh = carry
        _, _, inputs_visible, inputs_hidden, energy = activations_and_energy(xv, xh)
        xv = xv - rate_visible * (xv - inputs_visible)
        xh = xh - rate_hidden * (xh - inputs_hidden)
        return (xv, xh), energy

    xh = jnp.zeros((queries.shape[0], weight.shape[1]), queries.dtype)
    (xv, xh), energies = lax.scan(step, (queries, xh), length=steps)
    if with_energy:
        final = activations_and_energy(xv, xh)[-1]
        energies = jnp.concatenate([energies, final[None]]).T
    return {"visible": xv, "hidden": xh}, energies


def _time(fn, *args):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def _round_robin(named_calls, repeats):
    """Median seconds of each call, and per-repetition times, variants interleaved."""
    times = {name: [] for name in named_calls}
    names = list(named_calls)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, args = named_calls[name]
            times[name].append(_time(fn, *args))
    return times


def _ratio(times, a, b):
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def main(visible_dim=784, hidden_dim=2000, steps=100, grad_steps=200, repeats=15):
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}")
    memory, queries = build(visible_dim, hidden_dim, jr.key(0))
    layer_v = memory.neurons["visible"].lagrangian
    params = (
        memory.synapses["dense"].weight,
        layer_v.gamma,
        layer_v.delta,
        memory.neurons["hidden"].lagrangian.beta,
    )

    library = eqx.filter_jit(lambda m, q: library_descent(m, q, steps)[:2])
    by_hand = jax.jit(lambda p, q: handwritten_descent(p, q, steps))
    by_hand_no_energy = jax.jit(
        lambda p, q: handwritten_descent(p, q, steps, with_energy=False)
    )
    ours_states, ours_energies = library(memory, queries)
    hand_states, hand_energies = by_hand(params, queries)
    by_hand_no_energy(params, queries)
    np.testing.assert_allclose(ours_energies, hand_energies, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        ours_states["visible"], hand_states["visible"], rtol=1e-4, atol=1e-4
    )

    times = _round_robin(
        {
            "el.descend": (library, (memory, queries)),
            "hand-written": (by_hand, (params, queries)),
            "hand-written, no energies": (by_hand_no_energy, (params, queries)),
        },
        repeats,
    )
    print(
        f"\n1. vmap(descend): batch {queries.shape[0]}, LayerNorm {visible_dim} -> "
        f"Softmax {hidden_dim}, {steps} steps, float32, {repeats} repetitions\n"
    )
    print("| variant | median time (ms) | ratio to hand-written |")
    print("| --- | --- | --- |")
    for name in times:
        print(
            f"| {name} | {1e3 * statistics.median(times[name]):.1f} | "
            f"{_ratio(times, name, 'hand-written'):.3f} |"
        )

    # 2. Tolerance mode.
    tolerant = eqx.filter_jit(lambda m, q: library_descent(m, q, 1000, tol=1e-4)[2])
    num_steps = tolerant(memory, queries)
    times = _round_robin(
        {
            "tol=1e-4": (tolerant, (memory, queries)),
            f"{steps} fixed steps": (library, (memory, queries)),
        },
        repeats,
    )
    print("\n2. Tolerance mode (tol=1e-4, cap 1000 steps), same batch\n")
    print("| variant | steps per sample (median, max) | median time (ms) |")
    print("| --- | --- | --- |")
    print(
        f"| tol=1e-4 | {int(np.median(num_steps))}, {int(np.max(num_steps))} | "
        f"{1e3 * statistics.median(times['tol=1e-4']):.1f} |"
    )
    print(
        f"| {steps} fixed steps | {steps}, {steps} | "
        f"{1e3 * statistics.median(times[f'{steps} fixed steps']):.1f} |"
    )

    # 3. One gradient through a long descent, with and without checkpointing.
    target = jr.normal(jr.key(1), queries.shape)

    def loss(memory, checkpoint):
        def one(query, target):
            xs = {"visible": query, "hidden": jnp.zeros(hidden_dim)}
            states = el.descend(
                memory, xs, steps=grad_steps, checkpoint=checkpoint
            ).states
            return jnp.sum((states["visible"] - target) ** 2)

        return jnp.mean(jax.vmap(one)(queries, target))

    print(
        f"\n3. One gradient through {grad_steps} steps (batch {queries.shape[0]}), "
        "with respect to every parameter\n"
    )
    print("| variant | temporary memory (MiB) | median time (ms) |")
    print("| --- | --- | --- |")
    grads = {}
    calls = {}
    for checkpoint in (False, True):
        params, static = eqx.partition(memory, eqx.is_array)
        gradient = jax.grad(lambda p, c=checkpoint: loss(eqx.combine(p, static), c))
        fn = jax.jit(gradient)
        analysis = fn.lower(params).compile().memory_analysis()
        temp = getattr(analysis, "temp_size_in_bytes", float("nan")) / 2**20
        grads[checkpoint] = fn(params)
        calls[checkpoint] = (fn, (params,), temp)
    times = _round_robin(
        {str(c): (fn, args) for c, (fn, args, _) in calls.items()}, max(3, repeats // 3)
    )
    for checkpoint, (_, _, temp) in calls.items():
        name = "checkpoint=True" if checkpoint else "plain scan"
        median = 1e3 * statistics.median(times[str(checkpoint)])
        print(f"| {name} | {temp:.1f} | {median:.0f} |")
    for a, b in zip(jax.tree.leaves(grads[False]), jax.tree.leaves(grads[True])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visible-dim", type=int, default=784)
    parser.add_argument("--hidden-dim", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--grad-steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    main(
        visible_dim=args.visible_dim,
        hidden_dim=args.hidden_dim,
        steps=args.steps,
        grad_steps=args.grad_steps,
        repeats=args.repeats,
    )
