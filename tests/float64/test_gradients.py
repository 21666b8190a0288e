"""Invariant 5: gradients with respect to x and every parameter match central finite
differences in float64, including through the activation (∂²L/∂x∂β)."""

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_lagrangians as el

from ..cases import CASES
from ..helpers import finite_difference, finite_difference_jacobian


RTOL = 1e-6
WITH_PARAMS = [c for c in CASES if c.params]
cases = pytest.mark.parametrize("case", CASES, ids=repr)


def _point(case, key, shape=(2, 4)):
    x = jr.normal(key, shape, jnp.float64)
    if case.grows:
        x = jnp.clip(x, -3, 3)
    return x


def _close(actual, expected, rtol=RTOL):
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def test_parameters_are_float64():
    assert el.Tanh().raw_beta.dtype == jnp.float64
    assert el.LayerNorm().delta.dtype == jnp.float64


@cases
def test_gradient_in_x(case, getkey):
    x = _point(case, getkey())
    module = case.module()
    _close(jax.grad(module)(x), finite_difference(module, x))


@cases
def test_hessian_in_x_is_psd_and_matches_activation_differences(case, getkey):
    x = _point(case, getkey(), (5,))
    module = case.module()
    hessian = jax.hessian(module)(x)
    _close(hessian, finite_difference_jacobian(module.activation, x), rtol=1e-5)
    assert float(jnp.linalg.eigvalsh(hessian).min()) >= -1e-10


@pytest.mark.parametrize("case", WITH_PARAMS, ids=repr)
def test_gradient_in_parameters(case, getkey):
    x = _point(case, getkey())
    v = jr.normal(getkey(), x.shape, jnp.float64)
    for name, value in case.params.items():
        others = {k: w for k, w in case.params.items() if k != name}

        def lagrangian(p, name=name, others=others):
            return case.functional(x, **{name: p}, **others)

        def activation_along_v(p, name=name, others=others):
            g = jax.grad(case.functional)(x, **{name: p}, **others)
            return jnp.sum(g * v)

        p = jnp.asarray(value, jnp.float64)
        _close(jax.grad(lagrangian)(p), finite_difference(lagrangian, p))
        _close(
            jax.grad(activation_along_v)(p), finite_difference(activation_along_v, p)
        )
        _close(
            jax.jacfwd(activation_along_v)(p), finite_difference(activation_along_v, p)
        )


@pytest.mark.parametrize("case", WITH_PARAMS, ids=repr)
def test_gradient_through_module_leaves(case, getkey):
    # What optax sees: the gradient with respect to the module's inexact leaves.
    x = _point(case, getkey())
    v = jr.normal(getkey(), x.shape, jnp.float64)
    module = case.module()
    params, static = eqx.partition(module, eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)

    def loss(flat):
        model = eqx.combine(unravel(flat), static)
        return model(x) + jnp.sum(v * model.activation(x)) + model.energy(x)

    _close(jax.grad(loss)(flat), finite_difference(loss, flat))


@pytest.mark.parametrize("cls", [el.Exp, el.RExp, el.Tanh, el.Sigmoid])
def test_per_neuron_beta_gradients(cls, getkey):
    x = jnp.clip(jr.normal(getkey(), (3, 4), jnp.float64), -3, 3)
    v = jr.normal(getkey(), x.shape, jnp.float64)
    beta = jnp.array([0.5, 1.0, 2.0, 3.0])

    def loss(beta):
        module = cls(beta=beta)
        return module(x) + jnp.sum(v * module.activation(x))

    _close(jax.grad(loss)(beta), finite_difference(loss, beta))


@pytest.mark.parametrize("cls", [el.LayerNorm, el.SphericalNorm])
@pytest.mark.parametrize("axis", [0, -1])
def test_per_feature_delta_and_gamma_gradients(cls, axis, getkey):
    x = jr.normal(getkey(), (3, 4), jnp.float64)
    v = jr.normal(getkey(), x.shape, jnp.float64)

    def loss(p):
        module = cls(gamma=p[0], delta=p[1:], axis=axis)
        return module(x) + jnp.sum(v * module.activation(x))

    p = jnp.concatenate([jnp.array([1.3]), jr.normal(getkey(), (x.shape[axis],))])
    _close(jax.grad(loss)(p), finite_difference(loss, p))


@cases
def test_kink_second_derivatives_are_finite(case):
    x = jnp.zeros(3, jnp.float64)
    module = case.module()
    assert bool(jnp.all(jnp.isfinite(jax.hessian(module)(x))))
