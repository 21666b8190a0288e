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
        return (jnp.sum(xc * g) - value).astype(x.dtype)
