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
    check_above_one,
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
    # log cosh z = |z| + log(1 + e^{-2|z|}) - log 2: no overflow at any |z|; below
    # |z| = 1 that cancels, so there log cosh z = log1p(2 sinh²(z/2)), accurate to
    # the last bits down to the smallest z (both branches finite: a safe `where`).
    a = jnp.abs(z)
    small = a < 1
    s = jnp.where(small, a, 0)
    large = jnp.where(small, 1, a)
    return jnp.where(
        small,
        jnp.log1p(2 * jnp.sinh(s / 2) ** 2),
        large + jax.nn.softplus(-2 * large) - math.log(2.0),
    )


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
        # `x <= 0`, not `x > 0`: a NaN input must stay NaN, not become 0.
        return jnp.where(x <= 0, 0, x) if rectify else x

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


def _elu_parts(x, alpha):
    # The double `where` keeps e^x of large positive x (inf) out of the derivatives;
    # at the kink x = 0 the second derivative is the one from the left (α), as for
    # RePU and RExp. (Selects, as `jax.nn.elu` has them: 4% faster than relu-based
    # arithmetic on CPU.)
    positive = x > 0
    negative = jnp.where(positive, 0, x)
    expm1 = jnp.expm1(negative)
    excess = expm1 - negative  # e^x − x − 1 ≥ 0 for x ≤ 0, and 0 for x > 0
    terms = jnp.where(positive, 0.5 * x**2, alpha * excess)
    return terms, jnp.where(positive, x, alpha * expm1), excess


@jax.custom_jvp
def _elu(x, alpha):
    return jnp.sum(_elu_parts(x, alpha)[0])


def _elu_jvp(primals, tangents):
    x, alpha = primals
    x_dot, alpha_dot = tangents
    terms, g, excess = _elu_parts(x, alpha)
    value = jnp.sum(terms)
    t_x = None if _is_zero(x_dot) else jnp.sum(g * x_dot)
    # ∂L/∂α = Σ_{x ≤ 0} (e^x − x − 1).
    t_alpha = _weighted_sum(excess, alpha_dot)
    return value, _tangent_sum(value, t_x, t_alpha)


_elu.defjvp(_elu_jvp, symbolic_zeros=True)


@ft.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _repu(x, n):
    return jnp.sum(_repu_terms(x, n)[0])


def _repu_terms(x, n):
    # The double `where` keeps x**(n - 1) away from 0**negative, so that first and
    # second derivatives at the kink x = 0 are 0, not NaN. (`~(x <= 0)`, not `x > 0`:
    # a NaN input must stay NaN, not become 0.)
    positive = ~(x <= 0)
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


@jax.custom_jvp
def _times(beta, x):
    """β·x, whose derivative in β is 0 at a masked x = −∞ (not −∞·0 = NaN)."""
    return beta * x


def _times_jvp(primals, tangents):
    beta, x = primals
    beta_dot, x_dot = tangents
    out = beta * x
    t_x = None if _is_zero(x_dot) else beta * x_dot
    t_beta = None
    if not _is_zero(beta_dot):
        t_beta = jnp.where(x == -jnp.inf, 0, x) * beta_dot
    return out, _tangent_sum(out, t_x, t_beta)


_times.defjvp(_times_jvp, symbolic_zeros=True)


@ft.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _masked_softmax(z, axis):
    """softmax(z) along `axis`, 0 at z = −∞ and in a wholly masked slice.

    Written as `jax.nn.softmax` is (β·x, max, exp(z − max) and the sum are the one
    pattern that XLA:CPU fuses into a single kernel; any extra use of the max breaks
    that fusion and costs ~10%), so a wholly masked slice is recognised after the
    sum, by its NaN normaliser (−∞ − (−∞)); its own rule keeps every derivative away
    from that NaN. (A slice holding a NaN reads as empty here too, but the Lagrangian's
    value and energy, guarded by the max instead, stay NaN: the error shows.)"""
    top = lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    unnormalised = jnp.exp(z - top)
    total = jnp.sum(unnormalised, axis=axis, keepdims=True)
    empty = jnp.isnan(total)
    return jnp.where(empty, 0, unnormalised / jnp.where(empty, 1, total))


@_masked_softmax.defjvp
def _masked_softmax_jvp(axis, primals, tangents):
    (z,), (z_dot,) = primals, tangents
    g = _masked_softmax(z, axis)
    # z_dot is finite at masked entries (see `_times`), where g = 0.
    return g, g * (z_dot - jnp.sum(g * z_dot, axis=axis, keepdims=True))


def _competition_parts(x, beta, axis, ghost):
    r"""$Σ_\text{slices} \log(\text{ghost} + Σ_j e^{β x_j})/β$ and its gradient, where
    ghost is 1 (Ghostmax's extra zero logit) or 0 (Softmax), with −∞ entries of `x`
    masked: their activation is e^{−∞} = 0, and a Softmax slice that is wholly masked
    has value 0 and activation 0 (it has no neurons left to compete)."""
    z = _times(beta, x)
    # The value and the activation are invariant to the shift, hence stop_gradient.
    top = lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    if ghost:
        shift = jnp.maximum(top, 0)  # finite, even in a wholly masked slice
        unnormalised = jnp.exp(z - shift)
        total = jnp.sum(unnormalised, axis=axis, keepdims=True) + jnp.exp(-shift)
        return jnp.sum(shift + jnp.log(total)) / beta, unnormalised / total
    g = _masked_softmax(z, axis)
    empty = top == -jnp.inf
    shift = jnp.where(empty, 0, top)
    total = jnp.sum(jnp.exp(z - shift), axis=axis, keepdims=True)
    # An empty slice's value is 0 (its total, 0 here, is never taken).
    value = jnp.sum(jnp.where(empty, 0, shift + jnp.log(jnp.where(empty, 1, total))))
    return value / beta, g


def _competition_jvp(ghost, axis, primals, tangents):
    x, beta = primals
    x_dot, beta_dot = tangents
    value, g = _competition_parts(x, beta, axis, ghost)
    t_x = None if _is_zero(x_dot) else jnp.sum(g * x_dot)
    # ∂L/∂β = (Σ x·g − L)/β, β a scalar; a masked neuron adds 0, not −∞·0.
    t_beta = None
    if not _is_zero(beta_dot):
        safe_x = jnp.where(x == -jnp.inf, 0, x)
        t_beta = (jnp.sum(safe_x * g) - value) / beta * beta_dot
    return value, _tangent_sum(value, t_x, t_beta)


def _make_competition(ghost: bool):
    @ft.partial(jax.custom_jvp, nondiff_argnums=(2,))
    def lagrangian(x, beta, axis):
        return _competition_parts(x, beta, axis, ghost)[0]

    lagrangian.defjvp(ft.partial(_competition_jvp, ghost), symbolic_zeros=True)
    return lagrangian


_softmax = _make_competition(ghost=False)
_ghostmax = _make_competition(ghost=True)


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


def _rms_parts(x, axis, eps):
    """Σ_slices D·√(mean(x²) + ε), and its gradient x/√(mean(x²) + ε)."""
    mean_square = jnp.mean(x**2, axis=axis, keepdims=True) + eps
    base = x.shape[axis] * jnp.sum(jnp.sqrt(mean_square))
    return base, x * lax.rsqrt(mean_square)


_layernorm = _make_normalised(_layernorm_parts)
_spherical_norm = _make_normalised(_spherical_parts)
_rmsnorm = _make_normalised(_rms_parts)


# ---------------------------------------------------------------------------------
# Sparse competition: Lagrangians (1/β) max_{p ∈ Δ} [p·βx + H(p)] along an axis, whose
# activation is the maximiser p (Danskin), with exact zeros.
# ---------------------------------------------------------------------------------


def _axis_shape(ndim, axis, length):
    shape = [1] * ndim
    shape[axis] = length
    return tuple(shape)


def _simplex_projection(shifted, axis):
    """sparsemax along `axis`: the Euclidean projection [z − τ]_+ onto the simplex,
    for `shifted` = z − max(z) ≤ 0 (a shift keeps the top entries exact at any |z|).

    τ by Michelot's algorithm (1986): from τ₀ = (Σ z − 1)/d, τ ← (Σ_S z − 1)/|S| with
    S = {z > τ}, which increases to the exact threshold and stops, after a few steps,
    when S no longer changes; its fixed point is the KKT condition of the projection.
    No sort (which XLA:CPU runs 4x slower than sparsemax's closed form otherwise
    needs), and the last step, differentiated, is the sparsemax Jacobian: dτ is the
    mean of dz over the support."""
    d = shifted.shape[axis]

    def threshold(z, support):
        size = jnp.sum(support, axis=axis, keepdims=True, dtype=jnp.int32)
        total = jnp.sum(jnp.where(support, z, 0), axis=axis, keepdims=True)
        return (total - 1) / size.astype(z.dtype), size

    # The loop sees no tangents (it could not be reverse-differentiated).
    frozen = lax.stop_gradient(shifted)

    def changed(carry):
        step, _, size, previous = carry
        return (step < d) & jnp.any(size != previous)

    def michelot(carry):
        step, tau, size, _ = carry
        new_tau, new_size = threshold(frozen, frozen > tau)
        # max(): rounding must not let τ step back (the supports are nested).
        return step + 1, jnp.maximum(tau, new_tau), new_size, size

    tau0 = (jnp.sum(frozen, axis=axis, keepdims=True) - 1) / d
    full = jnp.full(tau0.shape, d, dtype=jnp.int32)
    start = (jnp.int32(0), tau0, full, full + 1)
    _, tau, _, _ = lax.while_loop(changed, michelot, start)
    tau, _ = threshold(shifted, frozen > tau)
    return jax.nn.relu(shifted - tau)


def _sparsemax_parts(x, beta, axis):
    z = beta * x
    top = lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    shifted = z - top
    p = _simplex_projection(shifted, axis)
    half_square = 0.5 * jnp.sum(p**2)
    # p·z − ½‖p‖², with p·z = max(z) + p·(z − max(z)) as Σ p = 1.
    value = (jnp.sum(top) + jnp.sum(p * shifted) - half_square) / beta
    return value, p, half_square


@ft.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _sparsemax(x, beta, axis):
    return _sparsemax_parts(x, beta, axis)[0]


def _sparsemax_jvp(axis, primals, tangents):
    x, beta = primals
    x_dot, beta_dot = tangents
    value, p, half_square = _sparsemax_parts(x, beta, axis)
    t_x = None if _is_zero(x_dot) else jnp.sum(p * x_dot)
    # L = x·p − ½‖p‖²/β at the maximiser p, so ∂L/∂β = ½‖p‖²/β² (envelope theorem).
    t_beta = None if _is_zero(beta_dot) else half_square / beta**2 * beta_dot
    return value, _tangent_sum(value, t_x, t_beta)


_sparsemax.defjvp(_sparsemax_jvp, symbolic_zeros=True)


def _polynomial(u, coefficients):
    out = jnp.full_like(u, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        out = out * u + c
    return out


# Taylor coefficients (enough for float64 at |u| < 1/2) of three functions that cancel
# catastrophically near u = 0: ψ(u) = (e^u − 1 − u)/u², φ₁(u) = ((1 − u)e^u − 1)/u²
# and φ₂(u) = (2(e^u − 1) − u e^u)/u.
_SERIES_TERMS = 16
_PSI = [1 / math.factorial(k + 2) for k in range(_SERIES_TERMS)]
_PHI1 = [-(k + 1) / math.factorial(k + 2) for k in range(_SERIES_TERMS)]
_PHI2 = [(1 - k) / math.factorial(k + 1) for k in range(_SERIES_TERMS)]
_SERIES_CUT = 0.5


def _series_or_direct(u, coefficients, direct):
    small = jnp.abs(u) < _SERIES_CUT
    # Double `where`s: neither branch sees the other's inputs.
    series = _polynomial(jnp.where(small, u, 0), coefficients)
    return jnp.where(small, series, direct(jnp.where(small, 1, u)))


def _log_support(p):
    """log p on the support and 0 off it (where p·log p and p^α vanish)."""
    return jnp.log(jnp.where(p > 0, p, 1))


def _tsallis(p, a):
    r"""$H^α(p) = Σ_j (p_j − p_j^α)/(α(α − 1))$ with $α = 1 + a$, computed as
    $−Σ p·\operatorname{expm1}(a \log p)/(α a)$, exact as $a → 0$ (Shannon)."""
    return -jnp.sum(p * jnp.expm1(a * _log_support(p))) / ((1 + a) * a)


def _tsallis_da(p, a):
    r"""$∂H^α(p)/∂α$ at fixed p: $Σ_j p_j (l_j^2 φ_1(a l_j) + l_j φ_2(a l_j))/α^2$ with
    $l = \log p$, which stays accurate as α → 1 (where it is Σ p (l − l²/2))."""
    log_p = _log_support(p)
    u = a * log_p
    phi1 = _series_or_direct(u, _PHI1, lambda v: ((1 - v) * jnp.exp(v) - 1) / v**2)
    phi2 = _series_or_direct(
        u, _PHI2, lambda v: (2 * jnp.expm1(v) - v * jnp.exp(v)) / v
    )
    return jnp.sum(p * (log_p**2 * phi1 + log_p * phi2)) / (1 + a) ** 2


def _entmax_iterations(dtype, d: int) -> int:
    """Bisection steps that pin log(aT) down to the dtype's precision over an
    interval of width a·log d (a ≤ 2, i.e. α ≤ 3, at full precision)."""
    return jnp.finfo(dtype).nmant + 4 + math.ceil(math.log2(max(math.log(d), 1.0)))


def _entmax_bisect(z, a, axis):
    r"""α-entmax(z) along `axis`, α = 1 + a: $p_j = [a(z_j − τ)]_+^{1/a}$ with τ such
    that Σ p = 1.

    Written with the gap $Δ_j = \max z − z_j$ and $T = \max z − τ$ as
    $p_j ∝ (1 − Δ_j/T)_+^{1/a} = \exp(\operatorname{log1p}(−Δ_j/T)/a)$, whose
    relative error is that of softmax however small a is (the textbook
    $[(α−1)z − τ]^{1/(α−1)}$ loses a factor 1/a). Bisection on $s = \log(aT) ∈
    [−a \log d, 0]$ (the largest p lies in [1/d, 1]) to the dtype's precision, then
    one exact normalisation (Peters, Niculae and Martins 2019, `entmax_bisect`)."""
    d = z.shape[axis]
    gap = jnp.max(z, axis=axis, keepdims=True) - z
    inverse_a = 1 / a

    def unnormalised(s):
        ratio = jnp.minimum(gap * (a * jnp.exp(-s)), 1)  # log1p(−1) = −∞: p = 0
        return jnp.exp(jnp.log1p(-ratio) * inverse_a)

    def step(_, bounds):
        low, high = bounds
        middle = 0.5 * (low + high)
        mass = jnp.sum(unnormalised(middle), axis=axis, keepdims=True)
        too_much = middle * inverse_a + jnp.log(mass) > 0
        return jnp.where(too_much, low, middle), jnp.where(too_much, middle, high)

    high = jnp.zeros_like(jnp.sum(gap, axis=axis, keepdims=True))
    low = high - a * math.log(d)
    low, high = lax.fori_loop(0, _entmax_iterations(z.dtype, d), step, (low, high))
    q = unnormalised(0.5 * (low + high))  # 1 at the largest entry
    return q / jnp.sum(q, axis=axis, keepdims=True)


@ft.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _entmax_probs(z, a, axis):
    return _entmax_bisect(z, a, axis)


def _entmax_probs_jvp(axis, primals, tangents):
    r"""The implicit-function rule. On the support $p_j^{a} = a(z_j − τ)$, so with
    $s = p^{2−α}$ (0 off the support)
    $dp = s ⊙ (dz − dτ) + w\,da$, $w_j = p_j(1 − a \log p_j)/a^2$, and Σ dp = 0 fixes
    dτ: $dp = s ⊙ dz − s\,(s·dz)/Σs + (w − s\,Σw/Σs)\,da$. The α-part, rewritten
    with $u = −a \log p$ and ψ above so that nothing cancels as a → 0, is
    $p_j[(1 + u_j) M − l_j^2 ψ(u_j)(1 + μ)]/Σs$ with $l = \log p$,
    $M = Σ p l^2 ψ(u)$, $μ = Σ p u$."""
    z, a = primals
    z_dot, a_dot = tangents
    p = _entmax_probs(z, a, axis)
    log_p = _log_support(p)
    s = jnp.where(p > 0, jnp.exp((1 - a) * log_p), 0)
    s_total = jnp.sum(s, axis=axis, keepdims=True)
    out = jnp.zeros_like(p)
    if not _is_zero(z_dot):
        out = out + s * (z_dot - jnp.sum(s * z_dot, axis=axis, keepdims=True) / s_total)
    if not _is_zero(a_dot):
        u = -a * log_p
        # p·ψ(u), with p·e^u = s, so that large u (tiny p, α > 2) cannot overflow.
        small = jnp.abs(u) < _SERIES_CUT
        series = p * _polynomial(jnp.where(small, u, 0), _PSI)
        large_u = jnp.where(small, 1, u)
        p_psi = jnp.where(small, series, (s - p - p * large_u) / large_u**2)
        moment = jnp.sum(log_p**2 * p_psi, axis=axis, keepdims=True)
        mean_u = jnp.sum(p * u, axis=axis, keepdims=True)
        direction = ((1 + u) * p * moment - log_p**2 * p_psi * (1 + mean_u)) / s_total
        out = out + direction * a_dot
    return p, out


_entmax_probs.defjvp(_entmax_probs_jvp, symbolic_zeros=True)


def _entmax_parts(x, beta, a, axis):
    z = beta * x
    top = lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    p = _entmax_probs(z, a, axis)
    entropy = _tsallis(p, a)
    value = (jnp.sum(top) + jnp.sum(p * (z - top)) + entropy) / beta
    return value, p, entropy


@ft.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _entmax(x, beta, a, axis):
    return _entmax_parts(x, beta, a, axis)[0]


def _entmax_jvp(axis, primals, tangents):
    x, beta, a = primals
    x_dot, beta_dot, a_dot = tangents
    value, p, entropy = _entmax_parts(x, beta, a, axis)
    t_x = None if _is_zero(x_dot) else jnp.sum(p * x_dot)
    # L = x·p + Hᵅ(p)/β at the maximiser p: ∂L/∂β = −Hᵅ(p)/β², ∂L/∂α = (∂Hᵅ/∂α)(p)/β.
    t_beta = None if _is_zero(beta_dot) else -entropy / beta**2 * beta_dot
    t_a = None if _is_zero(a_dot) else _tsallis_da(p, a) / beta * a_dot
    return value, _tangent_sum(value, t_x, t_beta, t_a)


_entmax.defjvp(_entmax_jvp, symbolic_zeros=True)


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


def elementwise(core, x, beta, name="beta"):
    x, xc = _prepare(x)
    beta = jnp.asarray(beta, xc.dtype)
    if beta.ndim != 0:
        beta = _materialise(beta)
    beta = broadcast_param(name, beta, x.shape)
    return core(xc, beta).astype(x.dtype)


def _scalar(who, name, value, dtype):
    value = jnp.asarray(value, dtype)
    if value.ndim != 0:
        raise ValueError(f"{who}'s `{name}` must be a scalar, got shape {value.shape}.")
    return value


def along_axis(core, who, x, beta, axis):
    """Softmax, Ghostmax and Sparsemax: a scalar β and a competition along `axis`."""
    x, xc = _prepare(x)
    axis = normalise_axis(axis, x.ndim, who)
    beta = _scalar(who, "beta", beta, xc.dtype)
    return core(xc, beta, axis).astype(x.dtype)


def softmax(x, beta, axis):
    return along_axis(_softmax, "Softmax", x, beta, axis)


def entmax(x, beta, excess, axis):
    """Entmax with α = 1 + `excess` (passed as the excess, which keeps its precision
    near α = 1)."""
    x, xc = _prepare(x)
    axis = normalise_axis(axis, x.ndim, "Entmax")
    beta = _scalar("Entmax", "beta", beta, xc.dtype)
    excess = _scalar("Entmax", "alpha", excess, xc.dtype)
    return _entmax(xc, beta, excess, axis).astype(x.dtype)


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
    beta = check_positive("beta", beta)
    return elementwise(_exp, x, beta)


def lagr_rexp(x: ArrayLike, beta: ArrayLike = 1.0) -> Float[Array, ""]:
    r"""$L(x) = \sum_i e^{β \max(x_i, 0)}/β − \max(x_i, 0)$, whose activation is
    $e^{β \max(x, 0)} − 1$."""
    beta = check_positive("beta", beta)
    return elementwise(_rexp, x, beta)


def lagr_tanh(x: ArrayLike, beta: ArrayLike = 1.0) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_i \log\cosh(β x_i)$, whose activation is $\tanh(β x)$."""
    beta = check_positive("beta", beta)
    return elementwise(_tanh, x, beta)


def lagr_sigmoid(x: ArrayLike, beta: ArrayLike = 1.0) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_i \log(1 + e^{β x_i})$, whose activation is $σ(β x)$."""
    beta = check_positive("beta", beta)
    return elementwise(_sigmoid, x, beta)


def lagr_softmax(
    x: ArrayLike, beta: ArrayLike = 1.0, axis: int = -1
) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_{\text{slices}} \operatorname{logsumexp}(β x)$ along
    `axis`, whose activation is $\operatorname{softmax}(β x)$ along `axis`."""
    beta = check_positive("beta", beta)
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
    gamma = check_positive("gamma", gamma)
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
    gamma = check_positive("gamma", gamma)
    check_static_positive("eps", eps)
    return normalised(_spherical_norm, "SphericalNorm", x, gamma, delta, axis, eps)


def lagr_elu(x: ArrayLike, alpha: ArrayLike = 1.0) -> Float[Array, ""]:
    r"""$L(x) = \sum_i [\tfrac12 x_i^2 \text{ if } x_i > 0 \text{ else }
    α(e^{x_i} − x_i − 1)]$, whose activation is ELU, $x$ if $x > 0$ else
    $α(e^x − 1)$."""
    alpha = check_positive("alpha", alpha)
    return elementwise(_elu, x, alpha, name="alpha")


def lagr_ghostmax(
    x: ArrayLike, beta: ArrayLike = 1.0, axis: int = -1
) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_{\text{slices}} \log(1 + \sum_j e^{β x_j})$ along
    `axis`, whose activation is softmax with an extra zero logit,
    $e^{β x_i}/(1 + \sum_j e^{β x_j})$."""
    beta = check_positive("beta", beta)
    return along_axis(_ghostmax, "Ghostmax", x, beta, axis)


def lagr_rmsnorm(
    x: ArrayLike,
    gamma: ArrayLike = 1.0,
    delta: ArrayLike = 0.0,
    axis: int = -1,
    eps: float = 1e-5,
) -> Float[Array, ""]:
    r"""$L(x) = \sum_{\text{slices}} D γ \sqrt{\operatorname{mean}(x^2) + ε} +
    \sum_i δ x_i$ along `axis` ($D$ its length), whose activation is RMS
    normalisation $γ x/\sqrt{\operatorname{mean}(x^2) + ε} + δ$."""
    gamma = check_positive("gamma", gamma)
    check_static_positive("eps", eps)
    return normalised(_rmsnorm, "RMSNorm", x, gamma, delta, axis, eps)


def lagr_sparsemax(
    x: ArrayLike, beta: ArrayLike = 1.0, axis: int = -1
) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_{\text{slices}} \max_{p ∈ Δ} [p·βx − \tfrac12
    \|p\|^2]$ along `axis`, whose activation is $\operatorname{sparsemax}(βx)$."""
    beta = check_positive("beta", beta)
    return along_axis(_sparsemax, "Sparsemax", x, beta, axis)


def lagr_entmax(
    x: ArrayLike, alpha: ArrayLike = 1.5, beta: ArrayLike = 1.0, axis: int = -1
) -> Float[Array, ""]:
    r"""$L(x) = \tfrac1β \sum_{\text{slices}} \max_{p ∈ Δ} [p·βx + H^α(p)]$ along
    `axis`, $H^α(p) = \sum_j (p_j − p_j^α)/(α(α − 1))$, whose activation is
    α-entmax(βx). Requires α > 1."""
    check_above_one("alpha", alpha)
    beta = check_positive("beta", beta)
    return entmax(x, beta, jnp.asarray(alpha) - 1, axis)


def check_repu_power(n) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise TypeError(f"RePU's power `n` must be a Python int or float, got {n!r}.")
    if not (math.isfinite(n) and n >= 1):
        raise ValueError(f"RePU's power `n` must be finite and >= 1, got n={n}.")
