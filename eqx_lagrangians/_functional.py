r"""The Lagrangians as pure functions, and their custom differentiation rules.

Every function returns one scalar for an input of any shape. Inputs are computed in
at least float32 and the value is cast back to the input's dtype.

Each costly Lagrangian carries a `jax.custom_jvp` whose rule is its closed-form
gradient (the activation), written in `jnp` so that it can itself be differentiated
(Hessians, $\partial^2 L / \partial x \partial \beta$), and whose tangent includes the
tangents of the parameters, which are passed as arguments (never closed over) so that
the Lagrangian can be differentiated with respect to them.
"""

import functools as ft
import math
from collections.abc import Callable

import jax
import jax.lax as lax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jaxtyping import Array, ArrayLike, Float

from ._misc import (
    broadcast_param,
    check_positive,
    check_static_positive,
    compute_dtype,
    feature_param,
    normalise_axis,
    to_inexact,
)


def _is_zero(tangent) -> bool:
    return isinstance(tangent, SymbolicZero)


def _tangent_sum(value: Array, *terms: Array | None) -> Array:
    """Adds the tangent terms that are present (`None` stands for a zero tangent)."""
    out = jnp.zeros_like(value)
    for term in terms:
        if term is not None:
            out = out + term
    return out


def _weighted_sum(weight: Array, tangent) -> Array | None:
    """Σ weight·tangent, or `None` for a symbolic-zero tangent."""
    if _is_zero(tangent):
        return None
    if tangent.ndim == 0:
        return jnp.sum(weight) * tangent
    return jnp.sum(weight * tangent)


# ---------------------------------------------------------------------------------
# Elementwise Lagrangians of the form Σ φ(β u)/β, with u = x (or u = max(x, 0)).
# ---------------------------------------------------------------------------------


def _log_cosh(z):
    # log cosh z = |z| + log(1 + e^{-2|z|}) - log 2: no overflow at any |z|.
    a = jnp.abs(z)
    return a + jax.nn.softplus(-2 * a) - math.log(2.0)


def _exp_minus_identity(z):
    return jnp.exp(z) - z


def _expm1(z):
    return jnp.expm1(z)


def _scaled_lagrangian(
    phi: Callable[[Array], Array], psi: Callable[[Array], Array], rectify: bool
):
    r"""Builds $L(x; β) = Σ_i φ(β u_i)/β$ with $u = x$ or $u = \max(x, 0)$, whose
    gradient is $ψ(β u)$ (for the rectified form ψ(0) = 0, so the kink is handled) and
    whose β-derivative is $Σ_i (u_i ψ(β u_i) − φ(β u_i)/β)/β$."""

    def rectified(x):
        return jnp.where(x > 0, x, 0) if rectify else x

    @jax.custom_jvp
    def lagrangian(x, beta):
        return jnp.sum(phi(beta * rectified(x)) / beta)

    def lagrangian_jvp(primals, tangents):
        x, beta = primals
        x_dot, beta_dot = tangents
        u = rectified(x)
        z = beta * u
        terms = phi(z) / beta
        value = jnp.sum(terms)
        g = psi(z)
        t_x = None if _is_zero(x_dot) else jnp.sum(g * x_dot)
        t_beta = _weighted_sum((u * g - terms) / beta, beta_dot)
        return value, _tangent_sum(value, t_x, t_beta)

    lagrangian.defjvp(lagrangian_jvp, symbolic_zeros=True)
    return lagrangian


_exp = _scaled_lagrangian(jnp.exp, jnp.exp, rectify=False)
_rexp = _scaled_lagrangian(_exp_minus_identity, _expm1, rectify=True)
_tanh = _scaled_lagrangian(_log_cosh, jnp.tanh, rectify=False)
_sigmoid = _scaled_lagrangian(jax.nn.softplus, jax.nn.sigmoid, rectify=False)


@ft.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _repu(x, n):
    return jnp.sum(_repu_terms(x, n)[0])


def _repu_terms(x, n):
    # The double `where` keeps x**(n - 1) away from 0**negative, so that first and
    # second derivatives at the kink x = 0 are 0, not NaN.
    positive = x > 0
    safe = jnp.where(positive, x, 1)
    zero = jnp.zeros_like(x)
    power = n - 1
    if power == 0:
        g = jnp.where(positive, 1, zero)
    elif isinstance(power, int):
        # jax.nn.relu is max(x, 0), which XLA:CPU runs faster than compare + select,
        # with derivative 0 at the kink; integer powers of it are multiplications.
        g = jax.nn.relu(x) ** power
    else:
        g = jnp.where(positive, safe**power, zero)
    terms = jnp.where(positive, safe * g / n, zero)
    return terms, g


@_repu.defjvp
def _repu_jvp(n, primals, tangents):
    (x,), (x_dot,) = primals, tangents
    terms, g = _repu_terms(x, n)
    return jnp.sum(terms), jnp.sum(g * x_dot)


# ---------------------------------------------------------------------------------
# Lagrangians that act along an axis.
# ---------------------------------------------------------------------------------


@ft.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _softmax(x, beta, axis):
    return _softmax_parts(x, beta, axis)[0]


def _softmax_parts(x, beta, axis):
    z = beta * x
    # Softmax and logsumexp are invariant to the shift, hence stop_gradient.
    shift = lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    unnormalised = jnp.exp(z - shift)
    total = jnp.sum(unnormalised, axis=axis, keepdims=True)
    value = jnp.sum(shift + jnp.log(total)) / beta
    return value, unnormalised / total


@_softmax.defjvp
def _softmax_jvp(axis, primals, tangents):
    x, beta = primals
    x_dot, beta_dot = tangents
    value, g = _softmax_parts(x, beta, axis)
    # ∂L/∂β = (Σ x·g − L)/β, β a scalar.
    t_beta = (jnp.sum(x * g) - value) / beta * beta_dot
    return value, jnp.sum(g * x_dot) + t_beta


def _normalised_jvp(parts, axis, eps, primals, tangents):
    """The rule shared by LayerNorm and SphericalNorm:
    L = γ·B(x) + Σ δ·x, with ∂L/∂γ = B(x), ∂L/∂δ = x, ∂L/∂x = γ·∇B(x) + δ."""
    x, gamma, delta = primals
    x_dot, gamma_dot, delta_dot = tangents
    base, direction = parts(x, axis, eps)
    value = gamma * base + jnp.sum(delta * x)
    g = gamma * direction + delta
    t_x = None if _is_zero(x_dot) else jnp.sum(g * x_dot)
    t_gamma = None if _is_zero(gamma_dot) else base * gamma_dot
    t_delta = _weighted_sum(x, delta_dot)
    return value, _tangent_sum(value, t_x, t_gamma, t_delta)


def _layernorm_parts(x, axis, eps):
    """Σ_slices D·√(Var + ε), and its gradient (x − mean)/√(Var + ε)."""
    centred = x - jnp.mean(x, axis=axis, keepdims=True)
    variance = jnp.mean(centred**2, axis=axis, keepdims=True)
    inverse_std = lax.rsqrt(variance + eps)
    base = x.shape[axis] * jnp.sum(jnp.sqrt(variance + eps))
    return base, centred * inverse_std


def _spherical_parts(x, axis, eps):
    """Σ_slices √(Σ x² + ε), and its gradient x/√(Σ x² + ε)."""
    squared_norm = jnp.sum(x**2, axis=axis, keepdims=True) + eps
    base = jnp.sum(jnp.sqrt(squared_norm))
    return base, x * lax.rsqrt(squared_norm)


def _make_normalised(parts):
    @ft.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
    def lagrangian(x, gamma, delta, axis, eps):
        base, _ = parts(x, axis, eps)
        return gamma * base + jnp.sum(delta * x)

    lagrangian.defjvp(ft.partial(_normalised_jvp, parts), symbolic_zeros=True)
    return lagrangian


_layernorm = _make_normalised(_layernorm_parts)
_spherical_norm = _make_normalised(_spherical_parts)


# ---------------------------------------------------------------------------------
# Unchecked entry points (used by the modules, whose parameters are valid by
# construction) and the checked public functions.
# ---------------------------------------------------------------------------------


def _prepare(x: ArrayLike):
    x = to_inexact(x)
    return x, x.astype(compute_dtype(x.dtype))


def identity(x):
    x, xc = _prepare(x)
    return (0.5 * jnp.sum(xc**2)).astype(x.dtype)


def repu(x, n):
    x, xc = _prepare(x)
    if float(n).is_integer():
        n = int(n)  # integer powers compile to multiplications
    return _repu(xc, n).astype(x.dtype)


def _materialise(param: Array) -> Array:
    """`param` (positive), computed once rather than once per element of a batch.

    A per-neuron β is itself computed (`softplus(raw_beta) + 1e-6`), and XLA fuses the
    cheap tail of that computation (max, add, select) into the elementwise loop over x
    behind the broadcast, redoing it for every row: 1.3-1.5x the time of `tanh(β x)`
    on CPU. Ending the computation with an expensive op (exp) makes XLA materialise it
    once; `lax.optimization_barrier` does not survive XLA:CPU's fusion passes. The
    round trip costs at most a few ulps of β.
    """
    return jnp.exp(jnp.log(param))


def elementwise(core, x, beta):
    x, xc = _prepare(x)
    beta = jnp.asarray(beta, xc.dtype)
    if beta.ndim != 0:
        beta = _materialise(beta)
    beta = broadcast_param("beta", beta, x.shape)
    return core(xc, beta).astype(x.dtype)


def softmax(x, beta, axis):
    x, xc = _prepare(x)
    axis = normalise_axis(axis, x.ndim, "Softmax")
    beta = jnp.asarray(beta, xc.dtype)
    if beta.ndim != 0:
        raise ValueError(f"Softmax's `beta` must be a scalar, got shape {beta.shape}.")
    return _softmax(xc, beta, axis).astype(x.dtype)


def normalised(core, who, x, gamma, delta, axis, eps):
    x, xc = _prepare(x)
    axis = normalise_axis(axis, x.ndim, who)
    gamma = jnp.asarray(gamma, xc.dtype)
    if gamma.ndim != 0:
        raise ValueError(f"{who}'s `gamma` must be a scalar, got shape {gamma.shape}.")
    delta = feature_param("delta", jnp.asarray(delta, xc.dtype), x.shape, axis)
    return core(xc, gamma, delta, axis, eps).astype(x.dtype)


def lagr_identity(x: ArrayLike) -> Float[Array, ""]:
    r"""$L(x) = \tfrac12 \sum_i x_i^2$, whose activation is the identity."""
    return identity(x)


def lagr_repu(x: ArrayLike, n: int | float) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1n \sum_i \max(x_i, 0)^n$ (rectified power), activation
    $\max(x, 0)^{n-1}$ ($n = 1$: the step function). Requires $n \ge 1$."""
    check_repu_power(n)
    return repu(x, n)


def lagr_relu(x: ArrayLike) -> Float[Array, ""]:
    r"""$L(x) = \tfrac12 \sum_i \max(x_i, 0)^2$, whose activation is ReLU."""
    return repu(x, 2)


def lagr_exp(x: ArrayLike, beta: ArrayLike = 1.0) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_i e^{β x_i}$, whose activation is $e^{β x}$."""
    check_positive("beta", beta)
    return elementwise(_exp, x, beta)


def lagr_rexp(x: ArrayLike, beta: ArrayLike = 1.0) -> Float[Array, ""]:
    r"""$L(x) = \sum_i e^{β \max(x_i, 0)}/β − \max(x_i, 0)$, whose activation is
    $e^{β \max(x, 0)} − 1$."""
    check_positive("beta", beta)
    return elementwise(_rexp, x, beta)


def lagr_tanh(x: ArrayLike, beta: ArrayLike = 1.0) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_i \log\cosh(β x_i)$, whose activation is $\tanh(β x)$."""
    check_positive("beta", beta)
    return elementwise(_tanh, x, beta)


def lagr_sigmoid(x: ArrayLike, beta: ArrayLike = 1.0) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_i \log(1 + e^{β x_i})$, whose activation is $σ(β x)$."""
    check_positive("beta", beta)
    return elementwise(_sigmoid, x, beta)


def lagr_softmax(
    x: ArrayLike, beta: ArrayLike = 1.0, axis: int = -1
) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_{\text{slices}} \operatorname{logsumexp}(β x)$ along
    `axis`, whose activation is $\operatorname{softmax}(β x)$ along `axis`."""
    check_positive("beta", beta)
    return softmax(x, beta, axis)


def lagr_layernorm(
    x: ArrayLike,
    gamma: ArrayLike = 1.0,
    delta: ArrayLike = 0.0,
    axis: int = -1,
    eps: float = 1e-5,
) -> Float[Array, ""]:
    r"""$L(x) = \sum_{\text{slices}} D γ \sqrt{\operatorname{Var}(x) + ε} + \sum_i δ
    x_i$ along `axis` ($D$ its length), whose activation is layer normalisation
    $γ (x − \bar x)/\sqrt{\operatorname{Var}(x) + ε} + δ$."""
    check_positive("gamma", gamma)
    check_static_positive("eps", eps)
    return normalised(_layernorm, "LayerNorm", x, gamma, delta, axis, eps)


def lagr_spherical_norm(
    x: ArrayLike,
    gamma: ArrayLike = 1.0,
    delta: ArrayLike = 0.0,
    axis: int = -1,
    eps: float = 1e-5,
) -> Float[Array, ""]:
    r"""$L(x) = \sum_{\text{slices}} γ \sqrt{\sum x^2 + ε} + \sum_i δ x_i$ along
    `axis`, whose activation is $γ x/\sqrt{\sum x^2 + ε} + δ$."""
    check_positive("gamma", gamma)
    check_static_positive("eps", eps)
    return normalised(_spherical_norm, "SphericalNorm", x, gamma, delta, axis, eps)


def check_repu_power(n) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise TypeError(f"RePU's power `n` must be a Python int or float, got {n!r}.")
    if not (math.isfinite(n) and n >= 1):
        raise ValueError(f"RePU's power `n` must be finite and >= 1, got n={n}.")
