r"""Lagrangians that are sums of one function of each neuron: $L(x) = \sum_i \ell(x_i)$.

Their activations act neuron by neuron; `beta` may be a scalar or an array
broadcastable to the input (one inverse temperature per neuron).
"""

import equinox as eqx
from equinox import AbstractVar
from jaxtyping import Array, ArrayLike, Float, Inexact

from . import _conjugates
from ._functional import (
    _elu,
    _exp,
    _rexp,
    _sigmoid,
    _tanh,
    check_repu_power,
    elementwise,
    identity,
    repu,
)
from ._lagrangian import AbstractLagrangian
from ._misc import positive_to_raw, raw_to_positive, to_inexact


class Identity(AbstractLagrangian):
    r"""$$L(x) = \frac12 \sum_i x_i^2, \qquad g(x) = x.$$

    The Lagrangian of linear neurons; its energy is $\frac12 \|x\|^2$, and its
    convex conjugate is itself, $L^*(g) = \frac12 \|g\|^2$.
    """

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return identity(x)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        return _conjugates.identity(g)

    def inverse_activation(self, g: ArrayLike) -> Inexact[Array, "*shape"]:
        return to_inexact(g)


class RePU(AbstractLagrangian):
    r"""Rectified power unit:

    $$L(x) = \frac1n \sum_i \max(x_i, 0)^n, \qquad g(x) = \max(x, 0)^{n-1}.$$

    With $n = 1$ the activation is the step function (0 at $x \le 0$); with $n = 2$ it
    is ReLU. Large $n$ gives the sharply separating neurons of dense associative
    memories.

    ??? cite
        [Dense Associative Memory for Pattern Recognition](https://arxiv.org/abs/1606.01164)

        ```bibtex
        @inproceedings{krotov2016dense,
            title={Dense Associative Memory for Pattern Recognition},
            author={Dmitry Krotov and John J. Hopfield},
            booktitle={Advances in Neural Information Processing Systems},
            year={2016},
        }
        ```
    """

    n: int | float = eqx.field(static=True)

    def __init__(self, n: int | float):
        """**Arguments:**

        - `n`: the power, a Python number $\\ge 1$ (static: it shapes the computation).
        """
        self.n = n

    def __check_init__(self):
        check_repu_power(self.n)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return repu(x, self.n)


class ReLU(AbstractLagrangian):
    r"""$$L(x) = \frac12 \sum_i \max(x_i, 0)^2, \qquad g(x) = \max(x, 0).$$

    The same function as `RePU(2)`.
    """

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return repu(x, 2)


class _AbstractTemperature(AbstractLagrangian):
    """An elementwise Lagrangian with a learnable inverse temperature β > 0, stored as
    the unconstrained leaf `raw_beta` with β = softplus(raw_beta) + 1e-6."""

    raw_beta: AbstractVar[Float[Array, "*beta"]]

    @property
    def beta(self) -> Float[Array, "*beta"]:
        """The effective inverse temperature β (positive; learnable via `raw_beta`)."""
        return raw_to_positive(self.raw_beta)


class Exp(_AbstractTemperature):
    r"""$$L(x) = \frac1β \sum_i e^{β x_i}, \qquad g(x) = e^{β x}.$$

    The exponential neurons of dense associative memories with exponential capacity.
    (Finite wherever $e^{β x}$ is: it overflows float32 near $β x ≈ 88.7$.) Its
    convex conjugate is $L^*(g) = \frac1β \sum_i g_i(\log g_i − 1)$ and its inverse
    activation $\log(g)/β$.

    ??? cite
        [On a Model of Associative Memory with Huge Storage Capacity](https://arxiv.org/abs/1702.01929)

        ```bibtex
        @article{demircigil2017model,
            title={On a Model of Associative Memory with Huge Storage Capacity},
            author={Mete Demircigil and Judith Heusel and Matthias L{\"o}we and
                    Sven Upgang and Franck Vermet},
            journal={Journal of Statistical Physics},
            year={2017},
        }
        ```
    """

    raw_beta: Float[Array, "*beta"]

    def __init__(self, beta: ArrayLike = 1.0):
        """**Arguments:**

        - `beta`: the inverse temperature β > 0 (at least 1e-6): a scalar, or an
            array broadcastable to the input, one β per neuron. Learnable: it is
            stored as the unconstrained leaf `raw_beta`, so that it stays positive
            under any optimiser update.
        """
        self.raw_beta = positive_to_raw("beta", beta)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return elementwise(_exp, x, self.beta)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        return _conjugates.exp(g, self.beta)

    def inverse_activation(self, g: ArrayLike) -> Inexact[Array, "*shape"]:
        return _conjugates.inverse_exp(g, self.beta)


class RExp(_AbstractTemperature):
    r"""Rectified exponential:

    $$L(x) = \sum_i \left[\frac{e^{β \max(x_i, 0)}}{β} - \max(x_i, 0)\right], \qquad
    g(x) = e^{β \max(x, 0)} - 1.$$

    Zero activation for $x \le 0$, exponential growth above.
    """

    raw_beta: Float[Array, "*beta"]

    def __init__(self, beta: ArrayLike = 1.0):
        """**Arguments:**

        - `beta`: the inverse temperature β > 0 (at least 1e-6): a scalar, or an
            array broadcastable to the input, one β per neuron. Learnable: it is
            stored as the unconstrained leaf `raw_beta`, so that it stays positive
            under any optimiser update.
        """
        self.raw_beta = positive_to_raw("beta", beta)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return elementwise(_rexp, x, self.beta)


class Tanh(_AbstractTemperature):
    r"""$$L(x) = \frac1β \sum_i \log\cosh(β x_i), \qquad g(x) = \tanh(β x).$$

    Computed as $(|z| + \log(1 + e^{-2|z|}) - \log 2)/β$ with $z = βx$, which never
    overflows. Its convex conjugate is $L^*(g) = \frac1{2β} \sum_i [(1 + g_i)\log(1 +
    g_i) + (1 − g_i)\log(1 − g_i)]$ and its inverse activation $\operatorname{artanh}
    (g)/β$.
    """

    raw_beta: Float[Array, "*beta"]

    def __init__(self, beta: ArrayLike = 1.0):
        """**Arguments:**

        - `beta`: the inverse temperature β > 0 (at least 1e-6): a scalar, or an
            array broadcastable to the input, one β per neuron. Learnable: it is
            stored as the unconstrained leaf `raw_beta`, so that it stays positive
            under any optimiser update.
        """
        self.raw_beta = positive_to_raw("beta", beta)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return elementwise(_tanh, x, self.beta)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        return _conjugates.tanh(g, self.beta)

    def inverse_activation(self, g: ArrayLike) -> Inexact[Array, "*shape"]:
        return _conjugates.inverse_tanh(g, self.beta)


class Sigmoid(_AbstractTemperature):
    r"""$$L(x) = \frac1β \sum_i \log(1 + e^{β x_i}), \qquad g(x) = σ(β x).$$

    Computed with `jax.nn.softplus`, which never overflows; the activation keeps its
    relative accuracy in the tails ($σ(-80) ≈ 1.8 \times 10^{-35}$ in float32). Its
    convex conjugate is the negative binary entropy $L^*(g) = \frac1β \sum_i [g_i
    \log g_i + (1 − g_i)\log(1 − g_i)]$ and its inverse activation
    $\operatorname{logit}(g)/β$.
    """

    raw_beta: Float[Array, "*beta"]

    def __init__(self, beta: ArrayLike = 1.0):
        """**Arguments:**

        - `beta`: the inverse temperature β > 0 (at least 1e-6): a scalar, or an
            array broadcastable to the input, one β per neuron. Learnable: it is
            stored as the unconstrained leaf `raw_beta`, so that it stays positive
            under any optimiser update.
        """
        self.raw_beta = positive_to_raw("beta", beta)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return elementwise(_sigmoid, x, self.beta)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        return _conjugates.sigmoid(g, self.beta)

    def inverse_activation(self, g: ArrayLike) -> Inexact[Array, "*shape"]:
        return _conjugates.inverse_sigmoid(g, self.beta)


class ELU(AbstractLagrangian):
    r"""Exponential linear unit:

    $$L(x) = \sum_i \begin{cases} \tfrac12 x_i^2 & x_i > 0 \\
    α(e^{x_i} − x_i − 1) & x_i \le 0 \end{cases}, \qquad
    g(x) = \begin{cases} x & x > 0 \\ α(e^x − 1) & x \le 0. \end{cases}$$

    Convex for α > 0 (its second derivative is 1, or $α e^x$); with α = 1 it is
    twice differentiable. Its convex conjugate is
    $L^*(g) = \sum_i [\tfrac12 g_i^2$ if $g_i > 0$ else $(g_i + α)\log(1 + g_i/α) −
    g_i]$ on $g ≥ −α$, and its activation is invertible on $g > −α$:
    $x = g$ if $g > 0$ else $\log(1 + g/α)$.

    ??? cite
        [Fast and Accurate Deep Network Learning by Exponential Linear Units (ELUs)](https://arxiv.org/abs/1511.07289)

        ```bibtex
        @inproceedings{clevert2016fast,
            title={Fast and Accurate Deep Network Learning by Exponential Linear
                   Units (ELUs)},
            author={Djork-Arn{\'e} Clevert and Thomas Unterthiner and Sepp
                    Hochreiter},
            booktitle={International Conference on Learning Representations},
            year={2016},
        }
        ```
    """

    raw_alpha: Float[Array, "*alpha"]

    def __init__(self, alpha: ArrayLike = 1.0):
        """**Arguments:**

        - `alpha`: the scale α > 0 (at least 1e-6) of the negative part, which
            saturates at −α: a scalar, or an array broadcastable to the input, one α
            per neuron. Learnable: it is stored as the unconstrained leaf
            `raw_alpha`, so that it stays positive under any optimiser update.
        """
        self.raw_alpha = positive_to_raw("alpha", alpha)

    @property
    def alpha(self) -> Float[Array, "*alpha"]:
        """The effective scale α = softplus(raw_alpha) + 1e-6 (positive)."""
        return raw_to_positive(self.raw_alpha)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return elementwise(_elu, x, self.alpha, name="alpha")

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        return _conjugates.elu(g, self.alpha)

    def inverse_activation(self, g: ArrayLike) -> Inexact[Array, "*shape"]:
        return _conjugates.inverse_elu(g, self.alpha)
