"""Model parallelism: the stored patterns split over a 'model' mesh axis of 4 devices,
each device holding a quarter of them. Descent, energies and the training gradient
equal the single-device results; the hidden states and the gradient with respect to
the patterns stay split along the pattern axis, and the patterns are never gathered.

(i) a visible layer and a softmax hidden layer joined by `el.DenseSynapse`, whose
weight (dim, num_patterns) is split by columns, with the hidden state split alike: the
softmax spans the devices; (ii) one layer with `el.LogSumExpSynapse`, whose patterns
(num_patterns, dim) are split by rows, with and without `block_size`."""

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


DIM, NUM_PATTERNS, BATCH = 8, 32, 2  # 8 patterns per device
# A divisor of NUM_PATTERNS, and a multiple of the 4 devices: each block of patterns
# has rows on every device.
BLOCK_SIZES = [None, 8]


def _dense_weight(memory):
    return memory.synapses["patterns"].weight


def _lse_patterns(memory):
    return memory.synapses["patterns"].patterns


def _training_step(memory, opt_state, xs, targets, optimiser):
    """One optax step on a loss of the descended visible states of a batch."""

    def loss(memory):
        def one(x):
            return el.descend(memory, x, steps=STEPS, step_size=STEP_SIZE).states

        return jnp.mean((jax.vmap(one)(xs)["visible"] - targets) ** 2)

    value, grads = eqx.filter_value_and_grad(loss)(memory)
    params = eqx.filter(memory, eqx.is_inexact_array)
    updates, opt_state = optimiser.update(grads, opt_state, params)
    return value, grads, eqx.apply_updates(memory, updates), opt_state


@pytest.fixture
def mesh():
    return make_mesh((4,), ("model",))


@pytest.fixture
def dense(mesh, getkey):
    memory = dense_memory(DIM, NUM_PATTERNS, key=getkey())
    # A copy of everything on every device, then the weight's columns split.
    sharded = shard_leaf(put(memory, mesh, P()), _dense_weight, mesh, P(None, "model"))
    return memory, sharded


def test_dense_descend_and_energy(mesh, dense, getkey):
    memory, sharded_memory = dense
    xs = {
        "visible": jr.normal(getkey(), (DIM,)),
        "hidden": 0.1 * jr.normal(getkey(), (NUM_PATTERNS,)),
    }
    sharded_xs = {
        "visible": put(xs["visible"], mesh, P()),
        "hidden": put(xs["hidden"], mesh, P("model")),
    }

    @eqx.filter_jit
    def run(memory, xs):
        result = el.descend(memory, xs, steps=STEPS, step_size=STEP_SIZE)
        return result, memory.energy(xs), memory.activations(result.states)

    expected = run(memory, xs)
    result, gathered = run_compiled(run, sharded_memory, sharded_xs)
    assert_close(result, expected)
    assert gathered == 0  # nothing, the weight least of all, is gathered
    descent, energy, activations = result
    assert_laid_out(descent.states["hidden"], mesh, P("model"))
    assert descent.states["hidden"].addressable_shards[0].data.shape == (8,)
    assert_laid_out(activations["hidden"], mesh, P("model"))  # the softmax, split
    assert_laid_out(descent.states["visible"], mesh, P())
    assert_laid_out(descent.energies, mesh, P())
    assert_laid_out(energy, mesh, P())


def test_dense_training_step(mesh, dense, getkey):
    memory, sharded_memory = dense
    xs = {
        "visible": jr.normal(getkey(), (BATCH, DIM)),
        "hidden": jnp.zeros((BATCH, NUM_PATTERNS)),
    }
    sharded_xs = {
        "visible": put(xs["visible"], mesh, P()),
        "hidden": put(xs["hidden"], mesh, P(None, "model")),
    }
    targets = jr.normal(getkey(), (BATCH, DIM))
    optimiser = optax.adam(1e-2)
    step = eqx.filter_jit(_training_step)

    opt_state = optimiser.init(eqx.filter(memory, eqx.is_inexact_array))
    expected = step(memory, opt_state, xs, targets, optimiser)
    sharded_state = optimiser.init(eqx.filter(sharded_memory, eqx.is_inexact_array))
    args = (sharded_memory, sharded_state, sharded_xs, put(targets, mesh, P()))
    result, gathered = run_compiled(step, *args, optimiser)
    assert_close(result, expected)
    assert gathered == 0
    _, grads, new_memory, new_state = result
    # The gradient, the updated weight and Adam's moments stay split by columns.
    for weight in (
        _dense_weight(grads),
        _dense_weight(new_memory),
        _dense_weight(new_state[0].mu),
        _dense_weight(new_state[0].nu),
    ):
        assert_laid_out(weight, mesh, P(None, "model"))
        assert weight.addressable_shards[0].data.shape == (DIM, 8)
    raw_beta = grads.neurons["hidden"].lagrangian.raw_beta
    assert float(raw_beta) != 0
    assert_laid_out(raw_beta, mesh, P())


def _lse(mesh, block_size, key):
    memory = lse_memory(DIM, NUM_PATTERNS, block_size, key=key)
    sharded = shard_leaf(put(memory, mesh, P()), _lse_patterns, mesh, P("model", None))
    return memory, sharded


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_lse_descend_and_energy(mesh, block_size, getkey):
    memory, sharded_memory = _lse(mesh, block_size, getkey())
    xs = {"visible": jr.normal(getkey(), (BATCH, DIM))}
    sharded_xs = put(xs, mesh, P())

    @eqx.filter_jit
    def run(memory, xs):
        def one(x):
            return el.descend(memory, x, steps=STEPS, step_size=STEP_SIZE)

        return jax.vmap(one)(xs), jax.vmap(memory.energy)(xs)

    expected = run(memory, xs)
    result, gathered = run_compiled(run, sharded_memory, sharded_xs)
    assert_close(result, expected)
    assert gathered == 0  # nothing, the patterns least of all, is gathered
    descent, energy = result
    assert_laid_out(descent.states["visible"], mesh, P())
    assert_laid_out(descent.energies, mesh, P())
    assert_laid_out(energy, mesh, P())


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_lse_training_step(mesh, block_size, getkey):
    memory, sharded_memory = _lse(mesh, block_size, getkey())
    xs = {"visible": jr.normal(getkey(), (BATCH, DIM))}
    targets = jr.normal(getkey(), (BATCH, DIM))
    optimiser = optax.sgd(1e-1)
    step = eqx.filter_jit(_training_step)

    opt_state = optimiser.init(eqx.filter(memory, eqx.is_inexact_array))
    expected = step(memory, opt_state, xs, targets, optimiser)
    args = (sharded_memory, opt_state, put(xs, mesh, P()), put(targets, mesh, P()))
    result, gathered = run_compiled(step, *args, optimiser)
    assert_close(result, expected)
    assert gathered == 0
    _, grads, new_memory, _ = result
    for patterns in (_lse_patterns(grads), _lse_patterns(new_memory)):
        assert_laid_out(patterns, mesh, P("model", None))
        assert patterns.addressable_shards[0].data.shape == (8, DIM)
    raw_beta = grads.synapses["patterns"].raw_beta
    assert float(raw_beta) != 0
    assert_laid_out(raw_beta, mesh, P())


def test_lse_block_size_not_a_multiple_of_the_devices_raises(mesh, getkey):
    """Blocks of 2 rows cannot take rows from each of 4 devices: XLA would gather the
    patterns. Where the patterns are still concrete (the synapse called eagerly, the
    `descend` wrapper, also under `vmap`), that raises instead."""
    memory = lse_memory(DIM, NUM_PATTERNS, 2, key=getkey())
    sharded = shard_leaf(put(memory, mesh, P()), _lse_patterns, mesh, P("model", None))
    xs = jr.normal(getkey(), (BATCH, DIM))
    match = r"`block_size` must be a multiple of the number of devices .* \(4\), got "
    with pytest.raises(ValueError, match=match + "block_size=2"):
        sharded.synapses["patterns"](xs[0])
    with pytest.raises(ValueError, match=match):
        jax.vmap(lambda x: el.descend(sharded, {"visible": x}, steps=2))(xs)
    # Unsharded, or split over 2 devices, blocks of 2 are fine.
    el.descend(memory, {"visible": xs[0]}, steps=2)
    two = make_mesh((2,), ("model",))
    halves = shard_leaf(put(memory, two, P()), _lse_patterns, two, P("model", None))
    el.descend(halves, {"visible": xs[0]}, steps=2)
