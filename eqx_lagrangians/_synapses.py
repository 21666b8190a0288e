r"""Synapses: energies of the activations of the layers they join.

A synapse is any `eqx.Module` whose `__call__(*activations)` returns a scalar energy;
the input it sends to a layer is minus the gradient of that energy with respect to the
layer's activation. Lower synapse energy means the layers agree.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._blocked import blocked_logsumexp, check_block_sharding
from ._functional import softmax
from ._misc import (
    compute_dtype,
    default_floating_dtype,
    raw_to_positive,
    scalar_to_raw,
)


def _check_shape(who: str, index: int, g: Array, shape: tuple[int, ...]) -> None:
    if g.shape != shape:
        raise ValueError(
            f"{who} expects activation {index} of shape {shape}, got shape {g.shape}."
        )


def _check_dims(**dims) -> None:
    for name, value in dims.items():
        integer = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if not integer or value < 1:
            raise ValueError(f"`{name}` must be a positive int, got {name}={value!r}.")


class DenseSynapse(eqx.Module):
    r"""A dense synapse between two vector layers:

    $$E(g_1, g_2) = -g_1^\top W g_2.$$

    Layer 1 receives $W g_2$ and layer 2 receives $W^\top g_1$. With $g_2$ a softmax
    over hidden neurons, the columns of $W$ are stored patterns (modern Hopfield
    network).
    """

    weight: Float[Array, "dim1 dim2"]

    def __init__(
        self, dim1: int | np.integer, dim2: int | np.integer, *, key: PRNGKeyArray
    ):
        r"""**Arguments:**

        - `dim1`, `dim2`: the sizes of the two layers.
        - `key`: a PRNG key. The weight is drawn from $\mathcal N(0, 1/\text{dim1})$,
            so that a column (a stored pattern) has norm about 1 and each hidden
            input $W^\top g_1$ has the scale of $g_1$'s entries.
        """
        _check_dims(dim1=dim1, dim2=dim2)
        dim1, dim2 = int(dim1), int(dim2)
        self.weight = jr.normal(
            key, (dim1, dim2), default_floating_dtype()
        ) / math.sqrt(dim1)

    def __call__(self, g1: ArrayLike, g2: ArrayLike) -> Float[Array, ""]:
        r"""**Returns:** the energy $-g_1^\top W g_2$ of activations `g1`, `g2`."""
        g1, g2 = jnp.asarray(g1), jnp.asarray(g2)
        _check_shape("DenseSynapse", 1, g1, (self.weight.shape[0],))
        _check_shape("DenseSynapse", 2, g2, (self.weight.shape[1],))
        return -jnp.dot(g1, self.weight @ g2)


class BiasSynapse(eqx.Module):
    r"""A bias on one layer: $E(g) = -b^\top g$, a constant input $b$."""

    bias: Float[Array, " dim"]

    def __init__(self, dim: int, *, key: PRNGKeyArray | None = None):
        """**Arguments:**

        - `dim`: the size of the layer.
        - `key`: unused, accepted for a uniform signature: the bias starts at zero,
            the neutral input.
        """
        del key
        _check_dims(dim=dim)
        self.bias = jnp.zeros((dim,), default_floating_dtype())

    def __call__(self, g: ArrayLike) -> Float[Array, ""]:
        r"""**Returns:** the energy $-b^\top g$ of the activation `g`."""
        g = jnp.asarray(g)
        _check_shape("BiasSynapse", 1, g, self.bias.shape)
        return -jnp.dot(self.bias, g)


class ConvSynapse(eqx.Module):
    r"""A 2-D convolution between two image-shaped, channel-last layers:

    $$E(g_1, g_2) = -\langle g_2, K * g_1 \rangle,$$

    with $g_1$ of shape `(height, width, in_channels)` and $g_2$ the shape of the
    convolution's output, `(height', width', out_channels)`. Layer 2 receives
    $K * g_1$ and layer 1 the transposed convolution of $g_2$.
    """

    kernel: Float[Array, "kh kw cin cout"]
    stride: tuple[int, int] = eqx.field(static=True)
    padding: str = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: str = "VALID",
        key: PRNGKeyArray,
    ):
        r"""**Arguments:**

        - `in_channels`, `out_channels`: channels of layers 1 and 2.
        - `kernel_size`: an int or a (height, width) pair.
        - `stride`: an int or a pair.
        - `padding`: `"VALID"` or `"SAME"`, as in `jax.lax.conv_general_dilated`.
        - `key`: a PRNG key. The kernel is drawn from
            $\mathcal N(0, 1/(k_h k_w C_\text{in}))$.
        """
        kh, kw = (
            (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        )
        _check_dims(in_channels=in_channels, out_channels=out_channels, kh=kh, kw=kw)
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        self.stride = (sh, sw)
        if padding not in ("VALID", "SAME"):
            raise ValueError(f"`padding` must be 'VALID' or 'SAME', got {padding!r}.")
        self.padding = padding
        fan_in = kh * kw * in_channels
        shape = (kh, kw, in_channels, out_channels)
        self.kernel = jr.normal(key, shape, default_floating_dtype()) / math.sqrt(
            fan_in
        )

    def convolve(self, g1: ArrayLike) -> Float[Array, "h w cout"]:
        """**Returns:** the convolution $K * g_1$ of a `(height, width, in_channels)`
        activation."""
        g1 = jnp.asarray(g1)
        if g1.ndim != 3 or g1.shape[-1] != self.kernel.shape[2]:
            raise ValueError(
                "ConvSynapse expects activation 1 of shape (height, width, "
                f"{self.kernel.shape[2]}), got shape {g1.shape}."
            )
        # At least float32, as everywhere: a float16 convolution loses ~1%.
        dtype = compute_dtype(g1.dtype)
        out = jax.lax.conv_general_dilated(
            g1.astype(dtype)[None],
            self.kernel.astype(dtype),
            window_strides=self.stride,
            padding=self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return out[0]

    def __call__(self, g1: ArrayLike, g2: ArrayLike) -> Float[Array, ""]:
        r"""**Returns:** the energy $-\langle g_2, K * g_1 \rangle$ of `g1`, `g2`."""
        conv = self.convolve(g1)
        g2 = jnp.asarray(g2)
        _check_shape("ConvSynapse", 2, g2, conv.shape)
        return -jnp.sum(g2 * conv)


class LogSumExpSynapse(eqx.Module):
    r"""A dense associative memory in one synapse, on one layer:

    $$E(g) = -\frac1β \log \sum_μ e^{β\, ξ_μ \cdot g},$$

    with the stored patterns $ξ_μ$ the rows of `patterns`. The input it sends is
    $Ξ^\top \operatorname{softmax}(β Ξ g)$, the modern Hopfield update; the patterns
    and β > 0 are learnable.

    With `block_size`, the energy, the input and their derivatives (in the query, the
    patterns and β, to any order: gradients through `el.descend` included) are
    computed over the patterns in blocks of `block_size`, with an online logsumexp
    and a custom JVP whose sums are blocked scans. The working memory is then a few
    blocks of logits, plus buffers the size of the patterns for a gradient in them;
    the direct form holds every logit, a `(batch, num_patterns)` array under `vmap`,
    and its derivatives. The values and derivatives are those of the direct form, to
    float32 rounding.

    Patterns split by rows over devices (`PartitionSpec("model", None)`) stay split
    in both forms, and so does their gradient, if `block_size` is a multiple of the
    number of devices they are split over. Otherwise XLA would gather them onto every
    device: the synapse called outside `jit` and `el.descend` raise a `ValueError`
    instead (inside a `jit` of your own the layout cannot be seen).

    ??? cite
        [Hopfield Networks is All You Need](https://arxiv.org/abs/2008.02217)
    """

    patterns: Float[Array, "num_patterns dim"]
    raw_beta: Float[Array, ""]
    block_size: int | None = eqx.field(static=True)

    def __init__(
        self,
        num_patterns: int,
        dim: int,
        beta: ArrayLike = 1.0,
        *,
        block_size: int | None = None,
        key: PRNGKeyArray,
    ):
        r"""**Arguments:**

        - `num_patterns`: the number of stored patterns.
        - `dim`: the size of the layer (and of each pattern).
        - `beta`: the inverse temperature β > 0 (at least 1e-6), stored as the
            unconstrained `raw_beta`.
        - `block_size`: optional; if given, a divisor of `num_patterns`: the energy
            and its gradients are computed over blocks of this many patterns (see
            above). A few thousand suits CPUs and GPUs alike; with sharded patterns,
            a multiple of the number of devices they are split over.
        - `key`: a PRNG key. The patterns are drawn from $\mathcal N(0, 1/\text{dim})$
            (norm about 1); set them with `eqx.tree_at` to store given patterns.
        """
        _check_dims(num_patterns=num_patterns, dim=dim)
        if block_size is not None:
            _check_dims(block_size=block_size)
            _check_block_size(int(num_patterns), block_size)
            block_size = int(block_size)
        shape = (num_patterns, dim)
        self.patterns = jr.normal(key, shape, default_floating_dtype()) / math.sqrt(dim)
        self.raw_beta = scalar_to_raw("LogSumExpSynapse", "beta", beta)
        self.block_size = block_size

    @property
    def beta(self) -> Float[Array, ""]:
        """The effective inverse temperature β = softplus(raw_beta) + 1e-6."""
        return raw_to_positive(self.raw_beta)

    def _check_blocks(self) -> None:
        """With `block_size`: it divides the number of patterns (which `eqx.tree_at`
        may have changed) and fits their layout over devices, where that is visible."""
        if self.block_size is not None:
            _check_block_size(self.patterns.shape[0], self.block_size)
            check_block_sharding(self.patterns, self.block_size)

    def __call__(self, g: ArrayLike) -> Float[Array, ""]:
        r"""**Returns:** the energy $-\frac1β \log \sum_μ e^{β ξ_μ \cdot g}$ of `g`."""
        g = jnp.asarray(g)
        _check_shape("LogSumExpSynapse", 1, g, (self.patterns.shape[1],))
        if self.block_size is None:
            return -softmax(self.patterns @ g, self.beta, -1)
        self._check_blocks()
        out_dtype = jnp.result_type(self.patterns, g)
        dtype = compute_dtype(out_dtype)
        beta = self.beta.astype(dtype)
        gc = g.astype(dtype)
        lse, _ = blocked_logsumexp(gc, self.patterns, beta, self.block_size)
        energy = -lse / beta
        return energy.astype(out_dtype)


def _check_block_size(num_patterns: int, block_size: int) -> None:
    if num_patterns % block_size:
        small = [
            d for d in range(1, math.isqrt(num_patterns) + 1) if num_patterns % d == 0
        ]
        divisors = small + [num_patterns // d for d in small]
        near = sorted(set(divisors), key=lambda d: abs(d - block_size))[:2]
        raise ValueError(
            f"`block_size` must divide the number of patterns ({num_patterns}), got "
            f"block_size={block_size}; the nearest divisors are {sorted(near)}."
        )
