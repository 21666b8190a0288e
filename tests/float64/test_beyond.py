"""Beyond the seed, in float64: Entmax's derivatives with respect to α (which
entmax-jax leaves as a FIXME) and x against finite differences, masked gradients, and
gradients through Lagrangian algebra."""

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_lagrangians as el

from ..cases import np_entmax
from ..helpers import finite_difference, finite_difference_jacobian


def _close(actual, expected, rtol=1e-6):
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("alpha", [1.05, 1.5, 2.0, 2.5])
def test_entmax_alpha_derivatives_match_finite_differences(alpha, getkey):
    x = jr.normal(getkey(), (3, 6), jnp.float64)
    v = jr.normal(getkey(), x.shape, jnp.float64)

    def value(a):
        return el.lagr_entmax(x, a, 1.3)

    def activation_along_v(a):
        return jnp.sum(v * jax.grad(el.lagr_entmax)(x, a, 1.3))

    a = jnp.asarray(alpha)
    _close(jax.grad(value)(a), finite_difference(value, a))
    _close(jax.grad(activation_along_v)(a), finite_difference(activation_along_v, a))
    _close(jax.jacfwd(activation_along_v)(a), finite_difference(activation_along_v, a))
    # ∂g/∂α in full, as a Jacobian.
    activation = jax.jit(lambda a: jax.grad(el.lagr_entmax)(x, a, 1.3))
    _close(jax.jacfwd(activation)(a), finite_difference_jacobian(activation, a))


def test_entmax_activation_is_the_reference_in_float64(getkey):
    x = 3 * jr.normal(getkey(), (4, 9), jnp.float64)
    for alpha in (1.001, 1.5, 3.0):
        g = el.Entmax(alpha).activation(x)
        np.testing.assert_allclose(g, np_entmax(np.asarray(x), alpha), atol=1e-12)


def test_entmax_alpha_derivative_near_one_is_the_softmax_limit(getkey):
    # As α → 1, ∂p/∂α → p (Σ p l² − l²)/2 with p = softmax(z), l = log p, and
    # ∂L/∂α → Σ p (l − l²/2)/β: the stable forms do not cancel catastrophically.
    x = jr.normal(getkey(), (7,), jnp.float64)
    alpha = 1 + 1e-7
    p = jax.nn.softmax(x)
    log_p = jnp.log(p)
    direction = jax.jacfwd(lambda a: jax.grad(el.lagr_entmax)(x, a, 1.0))(alpha)
    limit = p * (jnp.sum(p * log_p**2) - log_p**2) / 2
    np.testing.assert_allclose(direction, limit, rtol=1e-5, atol=1e-9)
    slope = jax.grad(el.lagr_entmax, argnums=1)(x, alpha, 1.0)
    np.testing.assert_allclose(slope, jnp.sum(p * (log_p - log_p**2 / 2)), rtol=1e-5)


@pytest.mark.parametrize("alpha", [1.2, 2.5])
def test_entmax_hessian_in_x(alpha, getkey):
    x = jr.normal(getkey(), (6,), jnp.float64)
    module = el.Entmax(alpha, 1.3)
    hessian = jax.hessian(module)(x)
    _close(hessian, finite_difference_jacobian(module.activation, x), rtol=1e-5)


@pytest.mark.parametrize("cls", [el.Softmax, el.Ghostmax])
def test_masked_gradients_match_finite_differences(cls, getkey):
    x = jr.normal(getkey(), (3, 4), jnp.float64)
    mask = jnp.array([[True, False, True, True], [False] * 4, [True] * 4])
    v = jr.normal(getkey(), x.shape, jnp.float64)

    def loss(p):
        # p = (β, the unmasked entries of x); masked entries stay −∞.
        module = cls(beta=p[0])
        xs = jnp.full(x.shape, -jnp.inf).at[mask].set(p[1:])
        g = module.activation(xs)
        return module(xs) + jnp.sum(jnp.where(mask, v * g, 0)) + module.energy(xs)

    p = jnp.concatenate([jnp.array([1.3]), x[mask]])
    _close(jax.grad(loss)(p), finite_difference(loss, p))


def test_gradients_through_algebra(getkey):
    x = jr.normal(getkey(), (3, 5), jnp.float64)
    v = jr.normal(getkey(), x.shape, jnp.float64)
    model = el.Sigmoid(0.8) + 1.7 * el.Entmax(1.6, 1.2) + el.RMSNorm(1.1, 0.3)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)

    def loss(flat):
        m = eqx.combine(unravel(flat), static)
        return m(x) + jnp.sum(v * m.activation(x)) + m.energy(x)

    _close(jax.grad(loss)(flat), finite_difference(loss, flat))
