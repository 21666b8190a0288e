import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Inexact

from ._misc import compute_dtype, to_inexact


class AbstractLagrangian(eqx.Module):
    r"""A convex, differentiable scalar function $L(x)$ of a layer's state $x$.

    Its gradient $g = \nabla L(x)$ is the layer's activation function, and its
    Legendre transform $E(x) = \sum_i x_i g_i - L(x)$ is the layer's energy. Because
    $L$ is convex its Hessian is positive semi-definite, which is what makes the
    energy of an associative memory decrease under its dynamics.

    Subclasses implement `__call__`; `activation` and `energy` follow from it.
    Every module acts on one sample of any shape (batches go through `jax.vmap`).

    ??? cite
        [Large Associative Memory Problem in Neurobiology and Machine Learning](https://arxiv.org/abs/2008.06996)

        ```bibtex
        @inproceedings{krotov2021large,
            title={Large Associative Memory Problem in Neurobiology and Machine
                   Learning},
            author={Dmitry Krotov and John J. Hopfield},
            booktitle={International Conference on Learning Representations},
            year={2021},
        }
        ```
    """

    @abc.abstractmethod
    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        """**Arguments:**

        - `x`: the layer's state, a real array of any shape.

        **Returns:**

        The Lagrangian $L(x)$, a scalar of `x`'s dtype (computed in at least float32).
        """

    def activation(self, x: ArrayLike) -> Inexact[Array, "*shape"]:
        r"""The activation $g(x) = \nabla_x L(x)$, computed with `eqx.filter_grad`.

        **Arguments:**

        - `x`: the layer's state, a real array of any shape.

        **Returns:**

        An array of the same shape and dtype as `x` (integers are first promoted to
        JAX's default float dtype).
        """
        return eqx.filter_grad(self.__call__)(to_inexact(x))

    def energy(self, x: ArrayLike) -> Float[Array, ""]:
        r"""The Legendre transform $E(x) = \sum_i x_i g_i(x) - L(x)$, the energy of a
        layer of neurons in state `x`.

        **Arguments:**

        - `x`: the layer's state, a real array of any shape.

        **Returns:**

        A scalar of `x`'s dtype, computed in at least float32.
        """
        x = to_inexact(x)
        xc = x.astype(compute_dtype(x.dtype))
        value, g = eqx.filter_value_and_grad(self.__call__)(xc)
        # A masked neuron (x = −∞, g = 0, in Softmax and Ghostmax) adds nothing, not
        # −∞·0 = NaN; the `where` comes first so that derivatives stay finite too.
        safe_x = jnp.where(xc == -jnp.inf, 0, xc)
        return (jnp.sum(safe_x * g) - value).astype(x.dtype)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        r"""The convex conjugate $L^*(g) = \sup_x [g·x − L(x)]$, in closed form.

        By Fenchel–Young, `L.conjugate(L.activation(x)) == L.energy(x)`: the energy of
        a layer as a function of its activation.

        **Arguments:**

        - `g`: an activation, an array of the input's shape in the activation's range
            (outside it $L^*$ is $+∞$; this is not checked).

        **Returns:**

        A scalar of `g`'s dtype, computed in at least float32.

        **Raises:**

        `NotImplementedError` for Lagrangians without a closed-form conjugate.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form convex conjugate in "
            "eqx_lagrangians; use `energy(x)` on a state x instead."
        )

    def inverse_activation(self, g: ArrayLike) -> Inexact[Array, "*shape"]:
        r"""The state $x$ whose activation is $g$, $x = (\nabla L)^{-1}(g)$, for
        Lagrangians whose activation is invertible: a way to set states from data.

        **Arguments:**

        - `g`: an activation, in the interior of the activation's range.

        **Returns:**

        An array of `g`'s shape and dtype.

        **Raises:**

        `NotImplementedError` where the activation is not invertible (it saturates,
        is zero on a half-line or normalises away a direction).
        """
        raise NotImplementedError(
            f"{type(self).__name__}'s activation is not invertible in "
            "eqx_lagrangians, so it has no `inverse_activation`."
        )

    def __add__(self, other):
        """`L1 + L2`: the Lagrangian `el.Sum(L1, L2)`."""
        from ._algebra import Sum

        if not isinstance(other, AbstractLagrangian):
            return NotImplemented
        return Sum(self, other)

    def __mul__(self, scale):
        """`L * c`: the Lagrangian `el.Scaled(c, L)`, for a concrete number c > 0."""
        from ._algebra import Scaled

        if isinstance(scale, AbstractLagrangian):
            return NotImplemented
        return Scaled(scale, self)

    __rmul__ = __mul__
