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
]

# Lagrangians with a positive parameter that a loss can push toward 0.
POSITIVE = [
    (case, name) for case in CASES for name in ("beta", "gamma") if name in case.params
]
