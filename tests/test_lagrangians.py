"""The property suite: every invariant of DESIGN.md for every Lagrangian in CASES."""

import functools as ft

import equinox as eqx
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, strategies as st

import eqx_lagrangians as el

from .cases import Case, CASES
from .helpers import assert_finite


SHAPES = [(7,), (3, 5), (2, 3, 4)]
cases = pytest.mark.parametrize("case", CASES, ids=repr)


@ft.cache
def _jitted(case: Case):
    """(value, activation, energy) of the case's module, jitted once per case."""
    module = case.module()
    value = eqx.filter_jit(lambda L, x: L(x))
    activation = eqx.filter_jit(lambda L, x: L.activation(x))
    energy = eqx.filter_jit(lambda L, x: L.energy(x))
    return (
        ft.partial(value, module),
        ft.partial(activation, module),
        ft.partial(energy, module),
    )


def _vectors(low, high, size=6):
    return hnp.arrays(
        np.float32,
        (size,),
        elements=st.floats(low, high, width=32, allow_nan=False, allow_infinity=False),
    )


# --- Invariant 1: the activation is the closed form, and is ∇L. -------------------


@cases
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_is_closed_form(case, shape, getkey):
    x = 2 * jr.normal(getkey(), shape)
    module = case.module()
    g = module.activation(x)
    assert g.shape == x.shape and g.dtype == x.dtype
    expected = case.closed(x, **case.params)
    np.testing.assert_allclose(g, expected, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(eqx.filter_grad(module)(x), g, rtol=1e-6, atol=1e-7)
    # The activation of the jitted module is the same.
    np.testing.assert_allclose(_jitted(case)[1](x), g, rtol=1e-6, atol=1e-7)


@cases
@pytest.mark.parametrize("shape", SHAPES)
def test_value_matches_reference_and_functional(case, shape, getkey):
    x = 2 * jr.normal(getkey(), shape)
    module = case.module()
    value = module(x)
    assert value.shape == () and value.dtype == x.dtype
    reference = case.reference(np.asarray(x, np.float64), **case.params)
    np.testing.assert_allclose(value, reference, rtol=2e-6, atol=1e-5)
    np.testing.assert_allclose(case.functional(x, **case.params), value, rtol=1e-6)


# --- Invariant 2: convexity and monotonicity (Hypothesis). ------------------------


@cases
@given(x=_vectors(-20, 20), y=_vectors(-20, 20), t=st.floats(0, 1))
def test_convex(case, x, y, t):
    value = _jitted(case)[0]
    mix = value(t * x + (1 - t) * y)
    chord = t * value(x) + (1 - t) * value(y)
    scale = 1 + abs(float(value(x))) + abs(float(value(y)))
    assert float(mix) <= float(chord) + 2e-6 * scale


@cases
@given(x=_vectors(-20, 20), y=_vectors(-20, 20))
def test_monotone(case, x, y):
    activation = _jitted(case)[1]
    gx, gy = activation(x), activation(y)
    inner = float(jnp.sum((gx - gy) * (x - y)))
    scale = float(jnp.sum(jnp.abs(gx - gy) * jnp.abs(x - y)))
    assert inner >= -1e-5 * (1 + scale)


# --- Invariant 3: the energy is the Legendre transform. ----------------------------


@cases
@pytest.mark.parametrize("shape", SHAPES)
def test_energy_is_legendre_transform(case, shape, getkey):
    x = 2 * jr.normal(getkey(), shape)
    module = case.module()
    products = x * module.activation(x)
    expected = jnp.sum(products) - module(x)
    # float32 rounding of the two terms: the energy of a normalising Lagrangian is
    # nearly 0 (−γDε/√(...)), a difference of two terms of size Σ x·g.
    atol = 1e-6 * (1 + float(jnp.sum(jnp.abs(products))) + abs(float(module(x))))
    np.testing.assert_allclose(module.energy(x), expected, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(_jitted(case)[2](x), expected, rtol=1e-5, atol=atol)


# --- Invariant 4: finite and accurate, at any magnitude and in any dtype. ---------


@pytest.mark.parametrize("case", [c for c in CASES if not c.grows], ids=repr)
@given(x=_vectors(-1e4, 1e4))
def test_finite_up_to_1e4(case, x):
    value, activation, energy = _jitted(case)
    assert_finite((value(x), activation(x), energy(x)))


@pytest.mark.parametrize("case", [c for c in CASES if not c.grows], ids=repr)
@pytest.mark.parametrize("magnitude", [1e2, 1e3, 1e4])
def test_accurate_at_large_inputs(case, magnitude, getkey):
    x = magnitude * jr.uniform(getkey(), (4, 6), minval=-1, maxval=1)
    x = x.at[0, 0].set(magnitude).at[0, 1].set(-magnitude)
    value, activation, _ = _jitted(case)
    reference = case.reference(np.asarray(x, np.float64), **case.params)
    np.testing.assert_allclose(value(x), reference, rtol=1e-6)
    expected = case.closed(jnp.asarray(x, jnp.float32), **case.params)
    np.testing.assert_allclose(activation(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c.grows], ids=repr)
def test_growing_lagrangians_finite_until_true_overflow(case):
    # e^{βx} itself exceeds float32 above βx ≈ 88.7: finite below, inf above.
    beta = case.params["beta"]
    module = case.module()
    below = jnp.array([-1e4, -100.0, 0.0, 80.0 / beta])
    assert_finite((module(below), module.activation(below), module.energy(below)))
    assert not bool(jnp.isfinite(module(jnp.array([100.0 / beta]))))


@cases
@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_low_precision_computed_in_float32(case, dtype, getkey):
    x = jr.normal(getkey(), (3, 16)).astype(dtype)
    module = case.module()
    g = module.activation(x)
    assert g.dtype == dtype and module(x).dtype == dtype
    assert module.energy(x).dtype == dtype
    expected = module.activation(x.astype(jnp.float32)).astype(dtype)
    np.testing.assert_array_equal(
        np.asarray(g, np.float32), np.asarray(expected, np.float32)
    )


def test_float16_layernorm_of_large_variance():
    # HAMUX computes the variance in float16, which overflows (300² · 768 > 65504)
    # and returns an activation of zeros.
    x = (300 * jr.normal(jr.key(0), (768,))).astype(jnp.float16)
    g = el.LayerNorm().activation(x)
    assert g.dtype == jnp.float16
    x64 = np.asarray(x, np.float64)
    expected = (x64 - x64.mean()) / np.sqrt(x64.var() + 1e-5)
    np.testing.assert_allclose(
        np.asarray(g, np.float64), expected, rtol=2e-3, atol=2e-3
    )
    assert float(jnp.std(g.astype(jnp.float32))) == pytest.approx(1.0, rel=1e-2)


def test_sigmoid_tails_keep_relative_accuracy():
    x = jnp.array([-80.0, -60.0, -30.0, 30.0], jnp.float32)
    g = el.Sigmoid().activation(x)
    expected = 1 / (1 + np.exp(-np.asarray(x, np.float64)))
    np.testing.assert_allclose(g, expected, rtol=1e-6)
    assert float(g[0]) == pytest.approx(1.8048513e-35, rel=1e-6)


@cases
def test_no_nan_derivatives_at_kink(case):
    x = jnp.zeros(4)
    module = case.module()
    assert_finite(jax.grad(module)(x))
    assert_finite(jax.hessian(module)(x))
    assert_finite(jax.jacfwd(module.activation)(x))


# --- Invariant 5 (transformations; finite differences are in tests/float64). ------


@cases
def test_transformations(case, getkey):
    x = jr.normal(getkey(), (3, 5))
    module = case.module()
    activation = jax.jit(lambda x: module.activation(x))(x)
    np.testing.assert_allclose(activation, module.activation(x), rtol=1e-6, atol=1e-7)
    batched = jax.vmap(module.activation)(x)
    rows = jnp.stack([module.activation(row) for row in x])
    np.testing.assert_allclose(batched, rows, rtol=1e-6, atol=1e-7)
    row = x[0]
    hessian = jax.hessian(module)(row)
    np.testing.assert_allclose(hessian, jax.jacfwd(module.activation)(row), atol=1e-6)
    np.testing.assert_allclose(hessian, jax.jacrev(module.activation)(row), atol=1e-6)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-6)
    assert float(jnp.linalg.eigvalsh(hessian).min()) >= -1e-5


# --- Shapes: one scalar for any rank; slices along `axis`; δ once per element. -----


@pytest.mark.parametrize("case", [c for c in CASES if c.along_axis], ids=repr)
def test_along_axis_sums_slices(case, getkey):
    x = jr.normal(getkey(), (2, 3, 4))
    value = case.make(**case.params)(x)
    flat = x.reshape(-1, 4)
    per_slice = sum(case.make(**case.params)(row) for row in flat)
    np.testing.assert_allclose(value, per_slice, rtol=1e-5)
    # axis=0 on the transposed input is the same Lagrangian.
    moved = jnp.moveaxis(x, -1, 0)
    along0 = case.make(**case.params, axis=0)
    np.testing.assert_allclose(along0(moved), value, rtol=1e-5)
    np.testing.assert_allclose(
        jnp.moveaxis(along0.activation(moved), 0, -1),
        case.make(**case.params).activation(x),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("cls", [el.LayerNorm, el.SphericalNorm])
def test_delta_counts_once_per_element(cls, getkey):
    x = jr.normal(getkey(), (5, 8))
    difference = cls(delta=0.3)(x) - cls(delta=0.0)(x)
    np.testing.assert_allclose(difference, 0.3 * jnp.sum(x), rtol=1e-5)


@pytest.mark.parametrize("cls", [el.LayerNorm, el.SphericalNorm])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_per_feature_delta(cls, axis, getkey):
    x = jr.normal(getkey(), (5, 6, 7))
    delta = jr.normal(getkey(), (x.shape[axis],))
    module = cls(gamma=1.2, delta=delta, axis=axis)
    shape = [1, 1, 1]
    shape[axis] = -1
    laid = delta.reshape(shape)
    without = cls(gamma=1.2, axis=axis)
    np.testing.assert_allclose(
        module(x), without(x) + jnp.sum(laid * x), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        module.activation(x), without.activation(x) + laid, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("cls", [el.Exp, el.RExp, el.Tanh, el.Sigmoid])
def test_per_neuron_beta(cls, getkey):
    x = jr.normal(getkey(), (3, 4))
    beta = jnp.array([0.5, 1.0, 2.0, 3.0])
    module = cls(beta=beta)
    assert module.beta.shape == (4,)
    value = sum(cls(beta=float(beta[j]))(x[i, j]) for i in range(3) for j in range(4))
    np.testing.assert_allclose(module(x), value, rtol=1e-5)
    columns = jnp.stack(
        [cls(beta=float(b)).activation(x[:, j]) for j, b in enumerate(beta)], 1
    )
    np.testing.assert_allclose(module.activation(x), columns, rtol=1e-5, atol=1e-7)


def test_scalar_input_of_elementwise_lagrangian():
    np.testing.assert_allclose(
        el.Tanh(2.0).activation(jnp.array(0.3)), np.tanh(0.6), rtol=1e-6
    )
    np.testing.assert_allclose(el.Identity()(3), 4.5)  # integers are promoted


def test_tanh_accurate_at_small_inputs():
    # log cosh z ≈ z²/2 must not cancel to 0 or below (|z| + softplus(-2|z|) - log 2
    # does, for |z| below ~1e-3 in float32).
    x = jnp.array([3e-5, 1e-4, 2e-4, 1e-2, 0.5], jnp.float32)
    values = jax.vmap(el.Tanh())(x[:, None])
    expected = np.log(np.cosh(np.asarray(x, np.float64)))
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    small = el.Tanh(beta=1e-3)
    z = np.array([1.0, -2.0, 0.5]) * 1e-3
    expected = np.sum(np.log(np.cosh(z))) / 1e-3
    np.testing.assert_allclose(small(jnp.array([1.0, -2.0, 0.5])), expected, rtol=1e-5)


@cases
def test_nan_inputs_are_not_swallowed(case):
    # A NaN state must show up as a NaN value, not be silently treated as 0.
    x = jnp.array([jnp.nan, 1.0, -0.5])
    assert not bool(jnp.isfinite(case.module()(x)))
