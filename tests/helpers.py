"""Shared test helpers: tree comparison and central finite differences."""

import importlib.util
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def load_script(path: pathlib.Path):
    """Import a script (an example, a benchmark) from its file, as a module."""
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8):
    """Same structure, same dtypes, and every leaf close (`eqx.tree_equal` answers a
    Python bool for structure and a JAX bool for values: both count)."""
    return bool(eqx.tree_equal(x, y, typematch=True, rtol=rtol, atol=atol))


def finite_difference(fn, x, step=1e-6):
    """Central finite differences of a scalar `fn` at the array `x` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = (float(fn(jnp.asarray(plus))) - float(fn(jnp.asarray(minus)))) / (
            2 * step
        )
    return grad


def finite_difference_jacobian(fn, x, step=1e-6):
    """Central finite differences of an array-valued `fn` at `x`: shape out + in."""
    x = np.asarray(x, dtype=np.float64)
    out_shape = np.shape(fn(jnp.asarray(x)))
    jac = np.zeros(out_shape + x.shape)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        diff = np.asarray(fn(jnp.asarray(plus))) - np.asarray(fn(jnp.asarray(minus)))
        jac[(...,) + index] = diff / (2 * step)
    return jac


def assert_finite(tree):
    for leaf in jax.tree.leaves(tree):
        assert bool(jnp.all(jnp.isfinite(leaf))), leaf
