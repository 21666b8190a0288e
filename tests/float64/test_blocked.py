"""The blocked `el.LogSumExpSynapse` in float64: training through descent matches
finite differences, and the direct form to 1e-12."""

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import eqx_lagrangians as el

from ..helpers import finite_difference


def test_gradient_through_descent(getkey):
    key = getkey()
    direct = el.LogSumExpSynapse(12, 4, beta=3.0, key=key)
    blocked = el.LogSumExpSynapse(12, 4, beta=3.0, block_size=4, key=key)
    query = jr.normal(getkey(), (4,), jnp.float64)
    target = jr.normal(getkey(), (4,), jnp.float64)

    def loss_of(synapse):
        memory = el.AssociativeMemory(
            neurons={"v": el.NeuronLayer(el.Tanh(beta=0.7), 4)},
            synapses={"lse": synapse},
            connections=[(("v",), "lse")],
        )
        params, static = eqx.partition(memory, eqx.is_inexact_array)
        flat, unravel = jax.flatten_util.ravel_pytree(params)

        @jax.jit
        def loss(flat):
            model = eqx.combine(unravel(flat), static)
            states = el.descend(model, {"v": query}, steps=15, step_size=0.2).states
            return jnp.sum((states["v"] - target) ** 2)

        return loss, flat

    loss, flat = loss_of(blocked)
    assert flat.dtype == jnp.float64 and flat.shape == (12 * 4 + 2,)
    grad = jax.grad(loss)(flat)
    expected = finite_difference(loss, flat)
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6 * scale)
    assert int(jnp.sum(grad == 0)) == 0  # patterns, β (and Tanh's β) all move

    direct_loss, direct_flat = loss_of(direct)
    np.testing.assert_array_equal(direct_flat, flat)
    np.testing.assert_allclose(loss(flat), direct_loss(flat), rtol=1e-12)
    np.testing.assert_allclose(
        grad, jax.grad(direct_loss)(flat), rtol=1e-10, atol=1e-12
    )
