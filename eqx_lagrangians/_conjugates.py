r"""Convex conjugates $L^*(g) = \sup_x [g·x − L(x)]$ and inverse activations.

By Fenchel–Young, $L^*(∇L(x)) = x·∇L(x) − L(x)$: the conjugate of the activation is the
energy, so a state can be scored (or set) from its activation alone. Each function
takes the activation `g` (in the activation's range; outside it the conjugate is
$+∞$, which is not checked) and the effective parameters, computes in at least
float32 and casts back. Entropies use $g \log g → 0$ at $g = 0$, so the boundary of
the range (a one-hot softmax, σ = 0 or 1, tanh = ±1) is finite.
"""

import jax.numpy as jnp
from jax.scipy.special import xlogy

from ._functional import _prepare, _tsallis, broadcast_param, normalise_axis


def _xlogx(g):
    return xlogy(g, g)


def _per_neuron(name, param, g):
    return broadcast_param(name, jnp.asarray(param, g.dtype), g.shape)


def identity(g):
    g, gc = _prepare(g)
    return (0.5 * jnp.sum(gc**2)).astype(g.dtype)


def exp(g, beta):
    r"""$\frac1β \sum_i (g_i \log g_i − g_i)$ for $g ≥ 0$."""
    g, gc = _prepare(g)
    beta = _per_neuron("beta", beta, gc)
    return jnp.sum((_xlogx(gc) - gc) / beta).astype(g.dtype)


def sigmoid(g, beta):
    r"""$\frac1β \sum_i [g_i \log g_i + (1 − g_i) \log(1 − g_i)]$ for $0 ≤ g ≤ 1$."""
    g, gc = _prepare(g)
    beta = _per_neuron("beta", beta, gc)
    return jnp.sum((_xlogx(gc) + _xlogx(1 - gc)) / beta).astype(g.dtype)


def tanh(g, beta):
    r"""$\frac1{2β} \sum_i [(1 + g_i) \log(1 + g_i) + (1 − g_i) \log(1 − g_i)]$ for
    $|g| ≤ 1$."""
    g, gc = _prepare(g)
    beta = _per_neuron("beta", beta, gc)
    return jnp.sum((_xlogx(1 + gc) + _xlogx(1 - gc)) / (2 * beta)).astype(g.dtype)


def elu(g, alpha):
    r"""$\sum_i [\tfrac12 g_i^2 \text{ if } g_i > 0 \text{ else } (g_i + α)
    \log(1 + g_i/α) − g_i]$ for $g ≥ −α$ (the supremum is at $x = g$, or at
    $x = \log(1 + g/α)$)."""
    g, gc = _prepare(g)
    alpha = _per_neuron("alpha", alpha, gc)
    positive = gc > 0
    inside = gc + alpha > 0
    # Double `where`s keep log1p(−1) (g = −α, where (g + α) log(...) → 0) away.
    ratio = jnp.where(inside & ~positive, gc / alpha, 0)
    negative = jnp.where(inside, (gc + alpha) * jnp.log1p(ratio), 0) - gc
    return jnp.sum(jnp.where(positive, 0.5 * gc**2, negative)).astype(g.dtype)


def softmax(g, beta):
    r"""$\frac1β \sum_i g_i \log g_i$ for g on the simplex along the axis (a wholly
    masked slice, g = 0, contributes 0 as its Lagrangian does)."""
    g, gc = _prepare(g)
    return (jnp.sum(_xlogx(gc)) / beta).astype(g.dtype)


def ghostmax(g, beta, axis):
    r"""$\frac1β [\sum_i g_i \log g_i + \sum_\text{slices} g_0 \log g_0]$, $g_0 = 1 −
    \sum_j g_j$ the ghost's share, for $g ≥ 0$ with $\sum_j g_j ≤ 1$ along `axis`."""
    g, gc = _prepare(g)
    axis = normalise_axis(axis, g.ndim, "Ghostmax")
    ghost = 1 - jnp.sum(gc, axis=axis)
    return ((jnp.sum(_xlogx(gc)) + jnp.sum(_xlogx(ghost))) / beta).astype(g.dtype)


def sparsemax(g, beta):
    r"""$\frac1{2β} \|g\|^2$ for g on the simplex along the axis."""
    g, gc = _prepare(g)
    return (0.5 * jnp.sum(gc**2) / beta).astype(g.dtype)


def entmax(g, beta, excess):
    r"""$−H^α(g)/β = \frac1β \sum_i (g_i^α − g_i)/(α(α − 1))$ for g on the simplex,
    α = 1 + `excess`."""
    g, gc = _prepare(g)
    return (-_tsallis(gc, jnp.asarray(excess, gc.dtype)) / beta).astype(g.dtype)


# Inverse activations x = (∇L)⁻¹(g), on the interior of the activation's range.


def inverse_exp(g, beta):
    g, gc = _prepare(g)
    return (jnp.log(gc) / _per_neuron("beta", beta, gc)).astype(g.dtype)


def inverse_sigmoid(g, beta):
    g, gc = _prepare(g)
    logit = jnp.log(gc) - jnp.log1p(-gc)
    return (logit / _per_neuron("beta", beta, gc)).astype(g.dtype)


def inverse_tanh(g, beta):
    g, gc = _prepare(g)
    return (jnp.arctanh(gc) / _per_neuron("beta", beta, gc)).astype(g.dtype)


def inverse_elu(g, alpha):
    g, gc = _prepare(g)
    alpha = _per_neuron("alpha", alpha, gc)
    positive = gc > 0
    negative = jnp.log1p(jnp.where(positive, 0, gc / alpha))
    return jnp.where(positive, gc, negative).astype(g.dtype)
