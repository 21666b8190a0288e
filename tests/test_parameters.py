"""Learnable parameters: optax training, positivity, freezing, traced construction."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
import optax
import pytest

import eqx_lagrangians as el

from .cases import CASES, POSITIVE
from .helpers import assert_finite


@pytest.mark.parametrize("case", [c for c in CASES if c.params], ids=repr)
def test_one_optax_step_moves_every_parameter(case, getkey):
    module = case.module()
    x = jr.normal(getkey(), (4, 6))
    target = jr.normal(getkey(), (4, 6))

    def loss(model):
        return jnp.mean((model.activation(x) - target) ** 2) + model(x) / 100

    params, static = eqx.partition(module, eqx.is_inexact_array)
    optim = optax.adam(1e-2)
    state = optim.init(params)
    grads = eqx.filter_grad(lambda p: loss(eqx.combine(p, static)))(params)
    for leaf in jax.tree.leaves(grads):
        assert bool(jnp.all(leaf != 0))
    updates, state = optim.update(grads, state, params)
    updated = eqx.apply_updates(module, updates)
    for name in case.params:
        assert not np.allclose(getattr(updated, name), getattr(module, name))


@pytest.mark.parametrize(
    ("case", "name", "direction"),
    [(c, n, "to_zero") for c, n in POSITIVE]
    # e^{βx} for huge β exceeds float32 itself: only the bounded Lagrangians.
    + [(c, n, "to_infinity") for c, n in POSITIVE if not c.grows],
    ids=str,
)
def test_sgd_cannot_break_positivity(case, name, direction, getkey):
    # 200 SGD steps at learning rate 1e3, on a loss that pushes β (or γ) toward 0
    # (or toward infinity), leave it positive and everything finite.
    sign = 1.0 if direction == "to_zero" else -1.0
    module = case.module()
    x = 100 * jr.normal(getkey(), (3, 8))

    def loss(model):
        return sign * jnp.sum(getattr(model, name))

    optim = optax.sgd(1e3)
    params, static = eqx.partition(module, eqx.is_inexact_array)

    @eqx.filter_jit
    def step(params, state):
        grads = eqx.filter_grad(lambda p: loss(eqx.combine(p, static)))(params)
        updates, state = optim.update(grads, state, params)
        return eqx.apply_updates(params, updates), state

    state = optim.init(params)
    for _ in range(200):
        params, state = step(params, state)
    trained = eqx.combine(params, static)
    value = getattr(trained, name)
    assert bool(jnp.all(value > 0)) and bool(jnp.all(jnp.isfinite(value)))
    if direction == "to_zero":
        assert float(value) < 1e-5
    else:
        assert float(value) > 1e4
    assert_finite((trained(x), trained.activation(x), trained.energy(x)))
    assert_finite(eqx.filter_grad(lambda m: m(x))(trained))


def test_freezing_a_parameter_with_a_filter_spec(getkey):
    # The documented recipe: mark the frozen leaf False in the filter spec.
    module = el.LayerNorm(gamma=2.0, delta=jnp.zeros(6))
    filter_spec = jtu.tree_map(eqx.is_inexact_array, module)
    filter_spec = eqx.tree_at(lambda m: m.raw_gamma, filter_spec, replace=False)
    x = jr.normal(getkey(), (6,))
    target = jr.normal(getkey(), (6,))
    params, static = eqx.partition(module, filter_spec)
    optim = optax.sgd(0.1)
    state = optim.init(params)

    def loss(p):
        return jnp.sum((eqx.combine(p, static).activation(x) - target) ** 2)

    grads = jax.grad(loss)(params)
    updates, state = optim.update(grads, state, params)
    trained = eqx.combine(eqx.apply_updates(params, updates), static)
    assert float(trained.gamma) == float(module.gamma)
    assert not np.allclose(trained.delta, module.delta)


@pytest.mark.parametrize(
    "make",
    [el.Exp, el.RExp, el.Tanh, el.Sigmoid, el.Softmax, el.LayerNorm, el.SphericalNorm],
)
def test_built_from_traced_values(make, getkey):
    x = jr.normal(getkey(), (5,))
    values = jnp.array([0.5, 1.0, 2.0])
    batched = jax.vmap(lambda b: make(b)(x))(values)
    expected = jnp.stack([make(float(b))(x) for b in values])
    np.testing.assert_allclose(batched, expected, rtol=1e-6)
    jitted = jax.jit(lambda b: make(b).activation(x))(2.0)
    np.testing.assert_allclose(jitted, make(2.0).activation(x), rtol=1e-6)


def test_parameters_follow_default_dtype_and_round_trip():
    assert el.Tanh(2.0).raw_beta.dtype == jnp.float32
    assert el.LayerNorm(delta=np.zeros(3)).delta.dtype == jnp.float32
    for beta in [1e-6, 1e-3, 0.5, 1.0, 7.0, 1e3, 1e6]:
        np.testing.assert_allclose(el.Sigmoid(beta).beta, beta, rtol=1e-6)
    np.testing.assert_allclose(el.LayerNorm(gamma=3.0).gamma, 3.0, rtol=1e-6)


def test_module_equals_functional_with_effective_parameters(getkey):
    x = jr.normal(getkey(), (3, 4))
    module = el.LayerNorm(gamma=0.7, delta=jnp.arange(4.0))
    np.testing.assert_allclose(
        module(x), el.lagr_layernorm(x, module.gamma, module.delta), rtol=1e-6
    )
    assert el.lagr_layernorm(x).shape == ()
