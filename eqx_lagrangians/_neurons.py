"""A layer of neurons: a Lagrangian, the shape of its state, and its time constant."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact

from ._lagrangian import AbstractLagrangian
from ._misc import check_static_positive, default_floating_dtype, to_inexact


class NeuronLayer(eqx.Module):
    r"""A layer of neurons with state $x$ of a fixed shape, whose activation is the
    gradient of its Lagrangian, $g = \nabla L(x)$, and whose energy is the Legendre
    transform $E(x) = \sum_i x_i g_i - L(x)$.

    Under descent its state moves as $τ \dot x = -\partial E / \partial g$: a larger
    time constant `tau` makes the layer slower.
    """

    lagrangian: AbstractLagrangian
    shape: tuple[int, ...] = eqx.field(static=True)
    tau: float = eqx.field(static=True)

    def __init__(
        self,
        lagrangian: AbstractLagrangian,
        shape: int | np.integer | tuple[int, ...],
        tau: float = 1.0,
    ):
        """**Arguments:**

        - `lagrangian`: the layer's Lagrangian, an `el.AbstractLagrangian`.
        - `shape`: the shape of one sample's state (an int for a vector).
        - `tau`: the time constant τ > 0, a Python float.
        """
        self.lagrangian = lagrangian
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        self.shape = tuple(int(d) if isinstance(d, np.integer) else d for d in dims)
        self.tau = float(tau) if isinstance(tau, np.floating) else tau

    def __check_init__(self):
        if not isinstance(self.lagrangian, AbstractLagrangian):
            raise TypeError(
                "`lagrangian` must be an el.AbstractLagrangian (e.g. el.Softmax()), "
                f"got {self.lagrangian!r}."
            )
        if not all(isinstance(d, int) and d > 0 for d in self.shape):
            raise ValueError(
                f"`shape` must be a tuple of positive ints, got shape={self.shape}."
            )
        check_static_positive("tau", self.tau)
        state = jax.ShapeDtypeStruct(self.shape, jnp.float32)
        try:
            jax.eval_shape(self.lagrangian, state)
        except Exception as error:  # the Lagrangian's own message says what failed
            raise ValueError(
                f"{type(self.lagrangian).__name__} does not fit a layer of shape "
                f"{self.shape}: {error}"
            ) from error

    def init(self, dtype=None) -> Float[Array, "*shape"]:
        """**Returns:** the resting state, zeros of `shape` (JAX's default float dtype
        unless `dtype` is given)."""
        return jnp.zeros(self.shape, dtype or default_floating_dtype())

    def _check(self, x: ArrayLike) -> Inexact[Array, "*shape"]:
        x = to_inexact(x)
        if x.shape != self.shape:
            raise ValueError(
                f"This layer's state has shape {self.shape}, got an array of shape "
                f"{x.shape}. (Layers act on one sample: batch with jax.vmap.)"
            )
        return x

    def activation(self, x: ArrayLike) -> Inexact[Array, "*shape"]:
        """**Returns:** the activation $g(x) = \\nabla L(x)$, same shape and dtype."""
        return self.lagrangian.activation(self._check(x))

    def energy(self, x: ArrayLike) -> Float[Array, ""]:
        """**Returns:** the layer's energy $\\sum_i x_i g_i - L(x)$, a scalar."""
        return self.lagrangian.energy(self._check(x))
