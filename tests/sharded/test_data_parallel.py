"""Data parallelism: a batch of states split over a 'data' mesh axis of 4 devices, the
memory replicated. Descent, energies and a training step equal the single-device
results, and the batched outputs stay split over the devices."""

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
    assert_tree_replicated,
    dense_memory,
    make_mesh,
    put,
    run_compiled,
    STEP_SIZE,
    STEPS,
)


DIM, NUM_PATTERNS, BATCH = 6, 8, 8  # 2 samples per device


@pytest.fixture
def setup(getkey):
    mesh = make_mesh((4,), ("data",))
    memory = dense_memory(DIM, NUM_PATTERNS, key=getkey())
    xs = {
        "visible": jr.normal(getkey(), (BATCH, DIM)),
        "hidden": 0.1 * jr.normal(getkey(), (BATCH, NUM_PATTERNS)),
    }
    # The batch split along its leading axis, the memory a copy on every device.
    return mesh, memory, xs, put(memory, mesh, P()), put(xs, mesh, P("data"))


def test_descend(setup):
    mesh, memory, xs, sharded_memory, sharded_xs = setup

    @eqx.filter_jit
    def run(memory, xs):
        return eqx.filter_vmap(
            lambda x: el.descend(memory, x, steps=STEPS, step_size=STEP_SIZE)
        )(xs)

    expected = run(memory, xs)
    result, gathered = run_compiled(run, sharded_memory, sharded_xs)
    assert_close(result, expected)
    assert gathered == 0  # the program gathers nothing across devices
    for name, state in result.states.items():
        assert_laid_out(state, mesh, P("data"))
        assert state.addressable_shards[0].data.shape == (2, xs[name].shape[1])
    assert_laid_out(result.energies, mesh, P("data"))
    assert result.energies.shape == (BATCH, STEPS + 1)
    # A fixed number of steps is a constant, the same for every sample.
    assert_laid_out(result.num_steps, mesh, P())


def test_descend_tolerance_clamp_traced_step(setup):
    """The `lax.while_loop` of tolerance mode, a clamped mask, and a step size that
    is traced (a `jit` argument, so `descend` checks it at run time with
    `eqx.error_if`), batched."""
    mesh, memory, xs, sharded_memory, sharded_xs = setup
    held = jnp.arange(DIM) < 2  # the first two visible entries are held

    @eqx.filter_jit
    def run(memory, xs, step_size):
        def one(x):
            return el.descend(
                memory,
                x,
                steps=200,
                step_size=step_size,
                tol=1e-3,
                clamp={"visible": held},
            )

        return jax.vmap(one)(xs)

    step_size = jnp.asarray(0.3)
    expected = run(memory, xs, step_size)
    assert int(expected.num_steps.max()) < 200  # it converged: the tolerance counted
    result, gathered = run_compiled(run, sharded_memory, sharded_xs, step_size)
    assert_close(result, expected)
    assert gathered == 0
    assert (result.num_steps == expected.num_steps).all()
    assert_laid_out(result.num_steps, mesh, P("data"))  # one count per sample
    for state in result.states.values():
        assert_laid_out(state, mesh, P("data"))
    assert (result.states["visible"][:, :2] == sharded_xs["visible"][:, :2]).all()


def test_energy(setup):
    mesh, memory, xs, sharded_memory, sharded_xs = setup

    @eqx.filter_jit
    def energies(memory, xs):
        return eqx.filter_vmap(memory.energy)(xs), jax.vmap(memory.grad_activations)(xs)

    expected = energies(memory, xs)
    result = energies(sharded_memory, sharded_xs)
    assert_close(result, expected)
    energy, grads = result
    assert_laid_out(energy, mesh, P("data"))
    assert energy.addressable_shards[0].data.shape == (2,)
    for grad in grads.values():
        assert_laid_out(grad, mesh, P("data"))


def test_training_step(setup, getkey):
    """One optax step on a loss of the descended states, through `descend`: the
    gradient with respect to the synapse weights and β, γ, δ sums over the batch
    across the devices and comes out as a full copy on each."""
    mesh, memory, xs, sharded_memory, sharded_xs = setup
    targets = jr.normal(getkey(), (BATCH, DIM))
    sharded_targets = put(targets, mesh, P("data"))
    optimiser = optax.adam(1e-2)

    def loss(memory, xs, targets):
        def one(x):
            return el.descend(memory, x, steps=STEPS, step_size=STEP_SIZE).states

        states = jax.vmap(one)(xs)
        return jnp.mean((states["visible"] - targets) ** 2)

    @eqx.filter_jit
    def step(memory, opt_state, xs, targets):
        value, grads = eqx.filter_value_and_grad(loss)(memory, xs, targets)
        params = eqx.filter(memory, eqx.is_inexact_array)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return value, grads, eqx.apply_updates(memory, updates), opt_state

    opt_state = optimiser.init(eqx.filter(memory, eqx.is_inexact_array))
    expected = step(memory, opt_state, xs, targets)
    sharded_state = put(opt_state, mesh, P())
    result = step(sharded_memory, sharded_state, sharded_xs, sharded_targets)
    assert_close(result, expected)
    value, grads, new_memory, new_state = result
    # Every learnable leaf has a gradient: weights, Softmax's β, LayerNorm's γ and δ.
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert len(leaves) == 4
    assert all(bool(jnp.any(leaf != 0)) for leaf in leaves)
    assert_tree_replicated((value, grads, new_memory, new_state), mesh)
