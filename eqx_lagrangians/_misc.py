"""Shared plumbing: dtypes, argument checks, broadcasting and positive parameters."""

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact


# β and γ are stored as an unconstrained leaf `raw` and read back as
# `softplus(raw) + MIN_POSITIVE`. Softplus (not exp) keeps large values linear in
# `raw`, so no optimiser step can overflow them; the floor keeps 1/β, and the
# ∂L/∂β ~ 1/β² that an optimiser sees, finite however hard a loss pushes toward 0.
MIN_POSITIVE = 1e-6


def default_floating_dtype():
    """JAX's default float dtype: float64 when x64 is on, else float32."""
    return jnp.result_type(float)


def to_inexact(x: ArrayLike, name: str = "x") -> Inexact[Array, "..."]:
    """`x` as a floating JAX array: integers and booleans are promoted to JAX's
    default float dtype; complex numbers are rejected (a Lagrangian is real)."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(
            f"`{name}` must be a real array, but it has dtype {x.dtype}; Lagrangians "
            "are real-valued functions of real inputs."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(default_floating_dtype())
    return x


def compute_dtype(dtype) -> np.dtype:
    """At least float32: float16 and bfloat16 inputs are computed in float32."""
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(dtype, jnp.float32)


def is_concrete(value) -> bool:
    """Whether `value` can be inspected now (it is not being traced)."""
    return not any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves(value))


def check_positive(name: str, value, minimum: float = 0.0):
    """Check that `value` is finite and > 0 (or >= `minimum` when that is > 0, a
    floor), and return it. A concrete value that is not raises `ValueError` now; a
    traced one is checked at run time with `eqx.error_if` (never a silent NaN or a
    concave Lagrangian under `jit`)."""
    allowed = f">= {minimum:g}" if minimum > 0 else "> 0"
    if not is_concrete(value):
        array = jnp.asarray(value)
        too_small = array < minimum if minimum > 0 else array <= 0
        return eqx.error_if(
            array,
            ~jnp.isfinite(array) | too_small,
            f"`{name}` must be finite and {allowed}.",
        )
    array = np.asarray(value)
    # jnp.issubdtype knows bfloat16 (an ml_dtypes type numpy does not call a number).
    real = jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(
        array.dtype, jnp.integer
    )
    if not real:
        raise TypeError(f"`{name}` must be a real number or array, got {value!r}.")
    array = array.astype(np.float64)
    too_small = array < minimum if minimum > 0 else array <= 0
    bad = ~np.isfinite(array) | too_small
    if np.any(bad):
        shown = value if array.size <= 8 else f"an array containing {array[bad][0]}"
        if isinstance(shown, (np.ndarray, jax.Array)):
            shown = np.asarray(shown)
        raise ValueError(f"`{name}` must be finite and {allowed}, got {name}={shown}.")
    return value


def check_static_positive(name: str, value) -> None:
    """For static hyper-parameters (`eps`, ...): a Python number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a Python float, got {value!r}.")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be finite and > 0, got {name}={value}.")


def normalise_axis(axis: int, ndim: int, who: str) -> int:
    if ndim == 0:
        raise ValueError(
            f"{who} acts along `axis` of its input, so the input needs at least one "
            "dimension, but it is a scalar (shape ())."
        )
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{who}: `axis={axis}` is out of range for an input with {ndim} "
            f"dimension(s); allowed are {-ndim} to {ndim - 1}."
        )
    return axis % ndim


def broadcast_param(name: str, value: Array, shape: tuple[int, ...]) -> Array:
    """A per-neuron parameter broadcast explicitly to `shape` (explicitly, so that
    numpy-style rank promotion is never relied on); scalars stay scalars."""
    if value.ndim == 0:
        return value
    try:
        target = jnp.broadcast_shapes(value.shape, shape)
    except ValueError:
        target = None
    if target != tuple(shape):
        raise ValueError(
            f"`{name}` of shape {value.shape} does not broadcast to the input's shape "
            f"{shape}; allowed are a scalar or an array broadcastable to {shape}."
        )
    return jnp.broadcast_to(value, shape)


def feature_param(name: str, value: Array, shape: tuple[int, ...], axis: int) -> Array:
    """A scalar, or a per-feature vector of length `shape[axis]` laid along `axis` and
    broadcast to `shape`."""
    if value.ndim == 0:
        return value
    if value.shape != (shape[axis],):
        raise ValueError(
            f"`{name}` has shape {value.shape}, but the input has shape {shape} and "
            f"axis={axis}; allowed are a scalar or a vector of shape ({shape[axis]},)."
        )
    expanded = jnp.reshape(value, value.shape + (1,) * (len(shape) - axis - 1))
    return jnp.broadcast_to(expanded, shape)


def positive_to_raw(name: str, value: ArrayLike) -> Float[Array, "..."]:
    """The unconstrained leaf whose `raw_to_positive` is `value` (checked >= floor)."""
    value = check_positive(name, value, MIN_POSITIVE)
    dtype = default_floating_dtype()
    array = jnp.asarray(value, dtype=dtype)
    return _inverse_softplus(array - MIN_POSITIVE)


def _inverse_softplus(y: Array) -> Array:
    # y + log(-expm1(-y)), accurate for small and large y alike.
    shifted = jnp.maximum(y, jnp.finfo(y.dtype).tiny)
    return shifted + jnp.log(-jnp.expm1(-shifted))


def scalar_to_raw(who: str, name: str, value, to_raw=None) -> Float[Array, ""]:
    """A scalar parameter's unconstrained leaf (`positive_to_raw` unless `to_raw` is
    given), with a `ValueError` naming `who` for an array of any other shape."""
    if jnp.ndim(value) != 0:
        raise ValueError(
            f"{who}'s `{name}` must be a scalar, got shape {jnp.shape(value)}."
        )
    return (to_raw or positive_to_raw)(name, value)


def raw_to_positive(raw: Float[Array, "..."]) -> Float[Array, "..."]:
    """`softplus(raw) + MIN_POSITIVE`: positive and finite for every finite `raw`."""
    return jax.nn.softplus(raw) + MIN_POSITIVE


def check_above_one(name: str, value) -> None:
    """Raise `ValueError` if a concrete `value` is not finite and >= 1 + 1e-6.
    Traced values pass through."""
    if not is_concrete(value):
        return
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise TypeError(f"`{name}` must be a real number or array, got {value!r}.")
    if np.any(~np.isfinite(array) | (array < 1 + MIN_POSITIVE)):
        raise ValueError(
            f"`{name}` must be finite and > 1 (at least 1 + {MIN_POSITIVE:g}), got "
            f"{name}={array}."
        )


def above_one_to_raw(name: str, value: ArrayLike) -> Float[Array, "..."]:
    """The unconstrained leaf whose `raw_to_above_one` is `value`, for a parameter
    that must exceed 1 (Entmax's α): `value` is checked finite and >= 1 + 1e-6."""
    check_above_one(name, value)
    if is_concrete(value):
        array = np.asarray(value)
        # The excess over 1, computed before any rounding to float32.
        excess = jnp.asarray(array.astype(np.float64) - 1, default_floating_dtype())
    else:
        excess = jnp.asarray(value, default_floating_dtype()) - 1
        excess = eqx.error_if(
            excess,
            ~jnp.isfinite(excess) | (excess < MIN_POSITIVE),
            f"`{name}` must be finite and >= 1 + {MIN_POSITIVE:g}.",
        )
    return _inverse_softplus(excess - MIN_POSITIVE)


def raw_to_excess(raw: Float[Array, "..."]) -> Float[Array, "..."]:
    """The excess α − 1 of a parameter stored by `above_one_to_raw`: the same map as
    `raw_to_positive`. Computations that need α − 1 use it directly, which keeps its
    relative precision when α is close to 1 (1 + 1e-6 is 1 + 8 ulps in float32)."""
    return raw_to_positive(raw)


def raw_to_above_one(raw: Float[Array, "..."]) -> Float[Array, "..."]:
    """`1 + softplus(raw) + MIN_POSITIVE`: above 1 and finite for every finite `raw`."""
    return 1 + raw_to_excess(raw)
