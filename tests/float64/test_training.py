"""Training through descent: the gradient of a loss of the final states with respect
to the synapse weights and every Lagrangian parameter matches finite differences."""

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_lagrangians as el

from ..cases import CASES
from ..helpers import finite_difference


@pytest.mark.parametrize("case", [c for c in CASES if c.params], ids=repr)
@pytest.mark.parametrize("checkpoint", [False, True])
def test_gradient_through_descent(case, checkpoint, getkey):
    neurons = {
        "visible": el.NeuronLayer(el.LayerNorm(1.2, jnp.linspace(-0.2, 0.2, 5)), 5),
        "hidden": el.NeuronLayer(el.Softmax(beta=1.5), 4, tau=0.5),
        "other": el.NeuronLayer(case.module(), 3),
    }
    synapses = {
        "memories": el.DenseSynapse(5, 4, key=getkey()),
        "side": el.DenseSynapse(5, 3, key=getkey()),
    }
    connections = [(("visible", "hidden"), "memories"), (("visible", "other"), "side")]
    memory = el.AssociativeMemory(neurons, synapses, connections)
    xs = {
        "visible": jr.normal(getkey(), (5,), jnp.float64),
        "hidden": jnp.zeros(4),
        "other": jnp.zeros(3),
    }
    target = jr.normal(getkey(), (5,), jnp.float64)
    params, static = eqx.partition(memory, eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)

    @jax.jit
    def loss(flat):
        model = eqx.combine(unravel(flat), static)
        states = el.descend(
            model,
            xs,
            steps=25,
            step_size=0.1,
            checkpoint=checkpoint,
            clamp={"visible": jnp.arange(5) < 2},
        ).states
        return jnp.sum((states["visible"] - target) ** 2) + jnp.sum(
            states["other"] ** 2
        )

    grad = jax.grad(loss)(flat)
    expected = finite_difference(loss, flat)
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6 * scale)
    # Every parameter, weights and β, γ, δ alike, gets a gradient.
    assert int(jnp.sum(grad == 0)) == 0
