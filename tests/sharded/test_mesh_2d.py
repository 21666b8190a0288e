"""Data and model parallelism at once, on a 2 × 2 mesh ('data', 'model'): the batch
split over 'data', the stored patterns over 'model'. Each device holds half the batch
and half the patterns; descent, energies and the training gradient equal the
single-device results, and the gradient with respect to the patterns comes out split
over 'model' (and summed over 'data')."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
import pytest
from jax.sharding import PartitionSpec as P

import eqx_lagrangians as el

from .common import (
    assert_close,
    assert_laid_out,
    dense_memory,
    lse_memory,
    make_mesh,
    put,
    run_compiled,
    shard_leaf,
    STEP_SIZE,
    STEPS,
)


DIM, NUM_PATTERNS, BATCH = 8, 16, 4  # per device: 2 samples, 8 patterns
BLOCK_SIZES = [
    None,
    4,
]  # a divisor of NUM_PATTERNS, a multiple of the 2 'model' devices


def _step(memory, xs, targets):
    """Batched descent, the energies, and the gradient of a loss of the descended
    visible states with respect to the memory, with one SGD update."""

    def descend(memory, x):
        return el.descend(memory, x, steps=STEPS, step_size=STEP_SIZE)

    def loss(memory):
        states = jax.vmap(descend, in_axes=(None, 0))(memory, xs).states
        return jnp.mean((states["visible"] - targets) ** 2)

    result = jax.vmap(descend, in_axes=(None, 0))(memory, xs)
    energy = jax.vmap(memory.energy)(xs)
    grads = eqx.filter_grad(loss)(memory)
    optimiser = optax.sgd(1e-1)
    params = eqx.filter(memory, eqx.is_inexact_array)
    updates, _ = optimiser.update(grads, optimiser.init(params), params)
    return result, energy, grads, eqx.apply_updates(memory, updates)


@pytest.fixture
def mesh():
    return make_mesh((2, 2), ("data", "model"))


def test_dense(mesh, getkey):
    memory = dense_memory(DIM, NUM_PATTERNS, key=getkey())
    weight = lambda m: m.synapses["patterns"].weight  # noqa: E731
    sharded_memory = shard_leaf(put(memory, mesh, P()), weight, mesh, P(None, "model"))
    xs = {
        "visible": jr.normal(getkey(), (BATCH, DIM)),
        "hidden": 0.1 * jr.normal(getkey(), (BATCH, NUM_PATTERNS)),
    }
    sharded_xs = {
        "visible": put(xs["visible"], mesh, P("data")),
        "hidden": put(xs["hidden"], mesh, P("data", "model")),
    }
    targets = jr.normal(getkey(), (BATCH, DIM))
    sharded_targets = put(targets, mesh, P("data"))
    step = eqx.filter_jit(_step)

    expected = step(memory, xs, targets)
    result, gathered = run_compiled(step, sharded_memory, sharded_xs, sharded_targets)
    assert_close(result, expected)
    assert gathered == 0  # nothing, the weight least of all, is gathered
    descent, energy, grads, new_memory = result
    hidden = descent.states["hidden"]
    assert_laid_out(hidden, mesh, P("data", "model"))
    assert hidden.addressable_shards[0].data.shape == (2, 8)
    assert_laid_out(descent.states["visible"], mesh, P("data"))
    assert_laid_out(descent.energies, mesh, P("data"))
    assert_laid_out(energy, mesh, P("data"))
    for w in (weight(grads), weight(new_memory)):
        assert_laid_out(w, mesh, P(None, "model"))
        assert w.addressable_shards[0].data.shape == (DIM, 8)
    assert_laid_out(grads.neurons["hidden"].lagrangian.raw_beta, mesh, P())


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_lse(mesh, block_size, getkey):
    memory = lse_memory(DIM, NUM_PATTERNS, block_size, key=getkey())
    patterns = lambda m: m.synapses["patterns"].patterns  # noqa: E731
    sharded_memory = shard_leaf(
        put(memory, mesh, P()), patterns, mesh, P("model", None)
    )
    xs = {"visible": jr.normal(getkey(), (BATCH, DIM))}
    targets = jr.normal(getkey(), (BATCH, DIM))
    step = eqx.filter_jit(_step)

    expected = step(memory, xs, targets)
    args = (sharded_memory, put(xs, mesh, P("data")), put(targets, mesh, P("data")))
    result, gathered = run_compiled(step, *args)
    assert_close(result, expected)
    assert gathered == 0  # nothing, the patterns least of all, is gathered
    descent, energy, grads, new_memory = result
    assert_laid_out(descent.states["visible"], mesh, P("data"))
    assert descent.states["visible"].addressable_shards[0].data.shape == (2, DIM)
    assert_laid_out(descent.energies, mesh, P("data"))
    assert_laid_out(energy, mesh, P("data"))
    for p in (patterns(grads), patterns(new_memory)):
        assert_laid_out(p, mesh, P("model", None))
        assert p.addressable_shards[0].data.shape == (8, DIM)
    assert float(grads.synapses["patterns"].raw_beta) != 0
    assert_laid_out(grads.synapses["patterns"].raw_beta, mesh, P())
