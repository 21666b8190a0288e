"""The table the property suite is parametrised over: one entry per Lagrangian.

A new Lagrangian is tested by adding one `Case`: its module, its functional form,
its closed-form activation (jnp) and an independent float64 reference of its value
(numpy).
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import eqx_lagrangians as el


def _np_lse(z, axis):
    m = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(z - m), axis=axis))


def _np_log_cosh(z):
    a = np.abs(z)
    return a + np.log1p(np.exp(-2 * a)) - np.log(2.0)


def _np_softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _layernorm_closed(x, gamma, delta, axis=-1, eps=1e-5):
    mean = jnp.mean(x, axis=axis, keepdims=True)
    var = jnp.var(x, axis=axis, keepdims=True)
    return gamma * (x - mean) / jnp.sqrt(var + eps) + delta


def _layernorm_value(x, gamma, delta, axis=-1, eps=1e-5):
    d = x.shape[axis]
    return d * gamma * np.sum(np.sqrt(np.var(x, axis=axis) + eps)) + np.sum(delta * x)


def _spherical_closed(x, gamma, delta, axis=-1, eps=1e-5):
    return gamma * x / jnp.sqrt(jnp.sum(x**2, axis=axis, keepdims=True) + eps) + delta


def _spherical_value(x, gamma, delta, axis=-1, eps=1e-5):
    return gamma * np.sum(np.sqrt(np.sum(x**2, axis=axis) + eps)) + np.sum(delta * x)


def _elu_value(x, alpha):
    negative = np.minimum(x, 0)
    return np.sum(np.where(x > 0, 0.5 * x**2, alpha * (np.expm1(negative) - negative)))


def _ghostmax_closed(x, beta, axis=-1):
    z = beta * x
    top = jnp.maximum(jnp.max(z, axis=axis, keepdims=True), 0)
    e = jnp.exp(z - top)
    return e / (jnp.exp(-top) + jnp.sum(e, axis=axis, keepdims=True))


def _ghostmax_value(x, beta, axis=-1):
    return np.sum(np.logaddexp(0, _np_lse(beta * x, axis))) / beta


def _rms_closed(x, gamma, delta, axis=-1, eps=1e-5):
    return gamma * x / jnp.sqrt(jnp.mean(x**2, axis=axis, keepdims=True) + eps) + delta


def _rms_value(x, gamma, delta, axis=-1, eps=1e-5):
    d = x.shape[axis]
    rms = np.sqrt(np.mean(x**2, axis=axis) + eps)
    return d * gamma * np.sum(rms) + np.sum(delta * x)


def np_sparsemax(z, axis=-1):
    """The projection onto the simplex by sorting (Held, Wolfe and Crowder 1974)."""
    z = np.moveaxis(np.asarray(z, np.float64), axis, -1)
    descending = -np.sort(-z, axis=-1)
    cumulative = np.cumsum(descending, axis=-1)
    rank = np.arange(1, z.shape[-1] + 1)
    size = np.sum(1 + rank * descending > cumulative, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cumulative, size - 1, axis=-1) - 1) / size
    return np.moveaxis(np.maximum(z - tau, 0), -1, axis)


def np_entmax(z, alpha, axis=-1, iterations=200):
    """α-entmax by bisection on τ in [(α−1)z − τ]_+^{1/(α−1)} (entmax_bisect), in
    float64 with many more steps than it needs."""
    z = np.moveaxis(np.asarray(z, np.float64), axis, -1)
    a = alpha - 1
    scaled = a * z
    top = np.max(scaled, axis=-1, keepdims=True)
    low, high = top - 1, top - z.shape[-1] ** -a
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        mass = np.sum(np.maximum(scaled - middle, 0) ** (1 / a), axis=-1, keepdims=True)
        low, high = np.where(mass >= 1, middle, low), np.where(mass >= 1, high, middle)
    p = np.maximum(scaled - 0.5 * (low + high), 0) ** (1 / a)
    return np.moveaxis(p / np.sum(p, axis=-1, keepdims=True), -1, axis)


def np_tsallis(p, alpha):
    return np.sum(p - p**alpha) / (alpha * (alpha - 1))


def _sparsemax_closed(x, beta, axis=-1):
    p = np_sparsemax(beta * np.asarray(x, np.float64), axis)
    return jnp.asarray(p, x.dtype)


def _sparsemax_value(x, beta, axis=-1):
    p = np_sparsemax(beta * x, axis)
    return (np.sum(p * beta * x) - 0.5 * np.sum(p**2)) / beta


def _entmax_closed(x, alpha, beta, axis=-1):
    p = np_entmax(beta * np.asarray(x, np.float64), alpha, axis)
    return jnp.asarray(p, x.dtype)


def _entmax_value(x, alpha, beta, axis=-1):
    p = np_entmax(beta * x, alpha, axis)
    return (np.sum(p * beta * x) + np_tsallis(p, alpha)) / beta


@dataclasses.dataclass(frozen=True, eq=False)
class Case:
    name: str
    make: Callable[..., el.AbstractLagrangian]  # make(**params)
    functional: Callable[..., Any]  # functional(x, **params)
    closed: Callable[..., Any]  # closed-form activation(x, **params), in jnp
    reference: Callable[..., Any]  # float64 numpy value(x, **params)
    params: dict[str, float]  # the learnable parameters and test values
    along_axis: bool = False  # couples neurons along `axis`
    grows: bool = False  # overflows for large x (Exp, RExp)

    def __repr__(self):
        return self.name

    def module(self):
        return self.make(**self.params)


CASES = [
    Case(
        "Identity",
        lambda: el.Identity(),
        lambda x: el.lagr_identity(x),
        lambda x: x,
        lambda x: 0.5 * np.sum(x**2),
        {},
    ),
    Case(
        "RePU3",
        lambda: el.RePU(3),
        lambda x: el.lagr_repu(x, 3),
        lambda x: jnp.maximum(x, 0) ** 2,
        lambda x: np.sum(np.maximum(x, 0) ** 3) / 3,
        {},
    ),
    Case(
        "RePU1",
        lambda: el.RePU(1),
        lambda x: el.lagr_repu(x, 1),
        lambda x: jnp.where(x > 0, 1.0, 0.0).astype(x.dtype),
        lambda x: np.sum(np.maximum(x, 0)),
        {},
    ),
    Case(
        "ReLU",
        lambda: el.ReLU(),
        lambda x: el.lagr_relu(x),
        jax.nn.relu,
        lambda x: 0.5 * np.sum(np.maximum(x, 0) ** 2),
        {},
    ),
    Case(
        "Exp",
        el.Exp,
        el.lagr_exp,
        lambda x, beta: jnp.exp(beta * x),
        lambda x, beta: np.sum(np.exp(beta * x)) / beta,
        {"beta": 0.7},
        grows=True,
    ),
    Case(
        "RExp",
        el.RExp,
        el.lagr_rexp,
        lambda x, beta: jnp.expm1(beta * jnp.maximum(x, 0)),
        lambda x, beta: np.sum(
            np.exp(beta * np.maximum(x, 0)) / beta - np.maximum(x, 0)
        ),
        {"beta": 0.7},
        grows=True,
    ),
    Case(
        "Tanh",
        el.Tanh,
        el.lagr_tanh,
        lambda x, beta: jnp.tanh(beta * x),
        lambda x, beta: np.sum(_np_log_cosh(beta * x)) / beta,
        {"beta": 1.7},
    ),
    Case(
        "Sigmoid",
        el.Sigmoid,
        el.lagr_sigmoid,
        lambda x, beta: jax.nn.sigmoid(beta * x),
        lambda x, beta: np.sum(_np_softplus(beta * x)) / beta,
        {"beta": 1.7},
    ),
    Case(
        "Softmax",
        el.Softmax,
        el.lagr_softmax,
        lambda x, beta: jax.nn.softmax(beta * x, axis=-1),
        lambda x, beta: np.sum(_np_lse(beta * x, -1)) / beta,
        {"beta": 1.7},
        along_axis=True,
    ),
    Case(
        "LayerNorm",
        el.LayerNorm,
        el.lagr_layernorm,
        _layernorm_closed,
        _layernorm_value,
        {"gamma": 1.3, "delta": 0.2},
        along_axis=True,
    ),
    Case(
        "SphericalNorm",
        el.SphericalNorm,
        el.lagr_spherical_norm,
        _spherical_closed,
        _spherical_value,
        {"gamma": 1.3, "delta": 0.2},
        along_axis=True,
    ),
    # Beyond the seed (DESIGN.md).
    Case(
        "ELU",
        el.ELU,
        el.lagr_elu,
        lambda x, alpha: jax.nn.elu(x, alpha),
        _elu_value,
        {"alpha": 0.7},
    ),
    Case(
        "Ghostmax",
        el.Ghostmax,
        el.lagr_ghostmax,
        _ghostmax_closed,
        _ghostmax_value,
        {"beta": 1.7},
        along_axis=True,
    ),
    Case(
        "RMSNorm",
        el.RMSNorm,
        el.lagr_rmsnorm,
        _rms_closed,
        _rms_value,
        {"gamma": 1.3, "delta": 0.2},
        along_axis=True,
    ),
    Case(
        "Sparsemax",
        el.Sparsemax,
        el.lagr_sparsemax,
        _sparsemax_closed,
        _sparsemax_value,
        {"beta": 1.7},
        along_axis=True,
    ),
    Case(
        "Entmax",
        el.Entmax,
        el.lagr_entmax,
        _entmax_closed,
        _entmax_value,
        {"alpha": 1.5, "beta": 1.7},
        along_axis=True,
    ),
    Case(
        "Sum",
        # Terms whose activations never cancel (x and tanh have one sign).
        lambda: el.Identity() + 2.0 * el.Tanh(1.3),
        lambda x: el.lagr_identity(x) + 2.0 * el.lagr_tanh(x, 1.3),
        lambda x: x + 2.0 * jnp.tanh(1.3 * x),
        lambda x: 0.5 * np.sum(x**2) + 2.0 * np.sum(_np_log_cosh(1.3 * x)) / 1.3,
        {},
    ),
]

# Lagrangians with a positive parameter that a loss can push toward 0. (Entmax's α
# has the floor 1, not 0: tests/test_beyond.py pushes it.)
POSITIVE = [
    (case, name)
    for case in CASES
    for name in ("beta", "gamma", "alpha")
    if name in case.params and not (case.name == "Entmax" and name == "alpha")
]
