r"""The modern Hopfield memory over many patterns, in blocks: an online logsumexp.

For stored patterns $ξ_μ$ (the rows of $Ξ$), a query $g$ and β > 0, with logits
$y_μ = β\, ξ_μ \cdot g$ and $p = \operatorname{softmax}(y)$,

$$\ell = \log \sum_μ e^{y_μ}, \qquad u = Ξ^\top p = \sum_μ p_μ ξ_μ,$$

so that $\partial \ell / \partial g = β u$: $u$ is the retrieval update. Both come
from one pass over the patterns in blocks, carrying the running maximum of the
logits, the running sum of their exponentials and the running $\sum e^{y} ξ$
(rescaled when the maximum grows): one block of logits exists at a time.

Differentiation is blocked too: a `jax.custom_jvp` gives the tangents of $(\ell, u)$,

$$\dot\ell = \sum_μ p_μ \dot y_μ, \qquad
  \dot u = \sum_μ p_μ \dot y_μ\, ξ_μ + \sum_μ p_μ \dot ξ_μ - \dot\ell\, u,$$

with $\dot y_μ = \dot β\, ξ_μ \cdot g + β(\dot ξ_μ \cdot g + ξ_μ \cdot \dot g)$. In
$\dot\ell$, the $\dot β$ and $\dot g$ terms are closed forms in $u$
($\dot β\, u \cdot g + β\, u \cdot \dot g$), so the gradient in the query, what every
step of descent needs, costs nothing more than the forward pass. The other sums are
scans over the blocks whose bodies are checkpointed: they are linear in the tangents,
and reverse mode transposes them block by block, recomputing each block's $p$. So the
gradient in the patterns and β, and the gradient of the update $u$ (training through
descent), need memory for one block of logits, not for all of them.

Block $i$ holds the rows $i, i + n_b, i + 2 n_b, \dots$ ($n_b$ blocks): the reshape to
`(block_size, num_blocks, dim)` is free, and when the patterns are sharded by rows
over devices every device reads its own rows of every block, so the scans run on all
devices at once (contiguous blocks would make XLA gather the patterns onto every
device).

Logits of −∞ (an overflowing query) get weight 0, and when every logit is −∞ the
result is $\ell = 0$, $u = 0$, as for a wholly masked `el.Softmax` slice; a NaN
propagates.
"""

import functools as ft

import jax
import jax.core
import jax.lax as lax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._functional import _is_zero


def _view(patterns: Array, block_size: int) -> Array:
    num_patterns, dim = patterns.shape
    return patterns.reshape(block_size, num_patterns // block_size, dim)


def _block(view: Array, i: Array, dtype) -> Array:
    """Block `i` of the `(block_size, num_blocks, dim)` view, cast to `dtype` (so that
    half-precision patterns are never copied whole)."""
    return lax.dynamic_index_in_dim(view, i, axis=1, keepdims=False).astype(dtype)


def _scan_blocks(body, init, num_blocks: int):
    """`body(carry, i) -> carry` over the blocks, checkpointed: reverse mode stores
    the carries, not the blocks' intermediates."""
    body = jax.checkpoint(body, prevent_cse=False)
    carry, _ = lax.scan(lambda c, i: (body(c, i), None), init, jnp.arange(num_blocks))
    return carry


@ft.partial(jax.custom_jvp, nondiff_argnums=(3,))
def blocked_logsumexp(
    g: Float[Array, " dim"],
    patterns: Float[Array, "num_patterns dim"],
    beta: Float[Array, ""],
    block_size: int,
) -> tuple[Float[Array, ""], Float[Array, " dim"]]:
    r"""$(\ell, u)$ for the query `g` (see the module's docstring), in `g`'s dtype.
    `block_size` divides the number of patterns."""
    view = _view(patterns, block_size)

    def body(carry, i):
        top, total, acc = carry
        block = _block(view, i, g.dtype)
        logits = beta * (block @ g)
        new_top = jnp.maximum(top, jnp.max(logits))
        # While every logit so far is −∞ there is nothing to rescale: shift by 0.
        shift = jnp.where(new_top == -jnp.inf, 0, new_top)
        scale = jnp.exp(top - shift)
        weights = jnp.exp(logits - shift)
        return new_top, total * scale + jnp.sum(weights), acc * scale + weights @ block

    zero = jnp.zeros((), g.dtype)
    init = (zero - jnp.inf, zero, jnp.zeros_like(g))
    top, total, acc = _scan_blocks(body, init, view.shape[1])
    empty = top == -jnp.inf
    lse = jnp.where(empty, 0, top + jnp.log(jnp.where(empty, 1, total)))
    update = jnp.where(empty, 0, acc / jnp.where(empty, 1, total))
    return lse, update


def _blocked_logsumexp_jvp(block_size, primals, tangents):
    g, patterns, beta = primals
    g_dot, patterns_dot, beta_dot = tangents
    lse, update = blocked_logsumexp(g, patterns, beta, block_size)
    view = _view(patterns, block_size)
    num_blocks = view.shape[1]
    view_dot = None if _is_zero(patterns_dot) else _view(patterns_dot, block_size)

    def overlaps_and_probabilities(block):
        # z = ξ·g and p = exp(βz − ℓ): 0 at βz = −∞, and everywhere when every
        # logit is −∞ (then ℓ = 0).
        overlaps = block @ g
        return overlaps, jnp.exp(beta * overlaps - lse)

    def times(p, y_dot):
        # p·ẏ, with 0 where p = 0 (ẏ may be ±∞·0 = NaN at a logit of −∞).
        return jnp.where(p > 0, p * y_dot, 0)

    # ℓ̇ = Σ p ẏ: closed forms for the β̇ and ġ terms, a scan for the Ξ̇ term.
    lse_dot = jnp.zeros_like(lse)
    if not _is_zero(beta_dot):
        lse_dot = lse_dot + beta_dot * (update @ g)
    if not _is_zero(g_dot):
        lse_dot = lse_dot + beta * (update @ g_dot)
    if view_dot is not None:

        def pattern_term(acc, i):  # Σ p_μ (ξ̇_μ · g)
            _, p = overlaps_and_probabilities(_block(view, i, g.dtype))
            return acc + jnp.sum(times(p, _block(view_dot, i, g.dtype) @ g))

        lse_dot = lse_dot + beta * _scan_blocks(
            pattern_term, jnp.zeros_like(lse), num_blocks
        )

    # u̇ = Σ p ẏ ξ + Σ p ξ̇ − ℓ̇ u.
    def update_term(acc, i):
        block = _block(view, i, g.dtype)
        overlaps, p = overlaps_and_probabilities(block)
        y_dot = jnp.zeros_like(overlaps)
        if not _is_zero(beta_dot):
            y_dot = y_dot + beta_dot * overlaps
        if not _is_zero(g_dot):
            y_dot = y_dot + beta * (block @ g_dot)
        if view_dot is not None:
            block_dot = _block(view_dot, i, g.dtype)
            y_dot = y_dot + beta * (block_dot @ g)
            acc = acc + p @ block_dot
        return acc + times(p, y_dot) @ block

    update_dot = _scan_blocks(update_term, jnp.zeros_like(update), num_blocks)
    update_dot = update_dot - lse_dot * update
    return (lse, update), (lse_dot, update_dot)


blocked_logsumexp.defjvp(_blocked_logsumexp_jvp, symbolic_zeros=True)


def check_block_sharding(patterns: Array, block_size: int) -> None:
    """Raises if `patterns` are concrete, split by rows over devices, and `block_size`
    is not a multiple of the number of row shards: every block then has rows on only
    some devices, and XLA would gather the patterns onto every device. (Traced patterns,
    inside a `jit`, cannot be checked: their layout is XLA's to choose.)"""
    if isinstance(patterns, jax.core.Tracer) or not isinstance(patterns, jax.Array):
        return
    rows = patterns.sharding.shard_shape(patterns.shape)[0]
    shards = patterns.shape[0] // rows
    if block_size % shards:
        raise ValueError(
            f"`block_size` must be a multiple of the number of devices the patterns' "
            f"rows are split over ({shards}), got block_size={block_size}: each block "
            "takes rows from every device, and otherwise XLA gathers the patterns onto "
            "every device."
        )
