r"""Lagrangians that couple the neurons along one axis: their activations normalise
(softmax onto the simplex, Ghostmax into it, layer, RMS and spherical normalisation
onto a sphere).

For an input of any rank the Lagrangian is one scalar: the per-slice values (a slice
is every position along the other axes) summed, plus $\sum_i δ x_i$ counted once per
element.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from . import _conjugates
from ._functional import (
    _ghostmax,
    _layernorm,
    _rmsnorm,
    _spherical_norm,
    along_axis,
    normalised,
    softmax,
)
from ._lagrangian import AbstractLagrangian
from ._misc import (
    check_static_positive,
    default_floating_dtype,
    raw_to_positive,
    scalar_to_raw,
)


def _check_axis(axis) -> None:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"`axis` must be a Python int, got axis={axis!r}.")


class Softmax(AbstractLagrangian):
    r"""$$L(x) = \frac1β \sum_{\text{slices}} \log \sum_j e^{β x_j}, \qquad
    g(x) = \operatorname{softmax}(β x),$$

    along `axis`. The hidden neurons of modern Hopfield networks: with stored patterns
    $Ξ$, the update $ξ \leftarrow Ξ \operatorname{softmax}(β Ξ^\top ξ)$ is attention.

    **Masked neurons.** Entries $x_i = −∞$ are masked: their activation is 0 and
    every derivative stays finite. A slice whose entries are all masked has no
    neurons left: it contributes 0 to $L$ and to the energy and its activation is 0
    (plain `jax.nn.logsumexp` returns $−∞$ there, with NaN gradients).

    Its convex conjugate is the negative entropy $L^*(g) = \frac1β \sum_i g_i \log
    g_i$ on the simplex.

    ??? cite
        [Hopfield Networks is All You Need](https://arxiv.org/abs/2008.02217)

        ```bibtex
        @inproceedings{ramsauer2021hopfield,
            title={Hopfield Networks is All You Need},
            author={Hubert Ramsauer and Bernhard Sch{\"a}fl and Johannes Lehner and
                    Philipp Seidl and Michael Widrich and Lukas Gruber and
                    Markus Holzleitner and Thomas Adler and David Kreil and
                    Michael K Kopp and G{\"u}nter Klambauer and Johannes Brandstetter
                    and Sepp Hochreiter},
            booktitle={International Conference on Learning Representations},
            year={2021},
        }
        ```
    """

    raw_beta: Float[Array, ""]
    axis: int = eqx.field(static=True)

    def __init__(self, beta: ArrayLike = 1.0, axis: int = -1):
        """**Arguments:**

        - `beta`: the inverse temperature β > 0 (at least 1e-6), a scalar. Learnable:
            it is stored as the unconstrained leaf `raw_beta`.
        - `axis`: the axis along which the neurons compete.
        """
        self.raw_beta = scalar_to_raw("Softmax", "beta", beta)
        self.axis = axis

    def __check_init__(self):
        _check_axis(self.axis)

    @property
    def beta(self) -> Float[Array, ""]:
        """The effective inverse temperature β = softplus(raw_beta) + 1e-6."""
        return raw_to_positive(self.raw_beta)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return softmax(x, self.beta, self.axis)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        return _conjugates.softmax(g, self.beta)


class Ghostmax(AbstractLagrangian):
    r"""Softmax with an extra zero logit (a "ghost" neuron that is always there):

    $$L(x) = \frac1β \sum_{\text{slices}} \log\Big(1 + \sum_j e^{β x_j}\Big),
    \qquad g_i(x) = \frac{e^{β x_i}}{1 + \sum_j e^{β x_j}},$$

    along `axis`. The activations sum to less than 1, so a layer can attend to
    nothing (the ghost takes the rest): the "softmax plus one" / "quiet attention"
    that keeps outlier activations out of transformers. Computed with the shift
    $\max(0, \max_j β x_j)$, so it is finite and accurate at any |x|.

    Entries $x_i = −∞$ are masked (activation 0, finite derivatives); a wholly
    masked slice contributes $\log 1 = 0$. Its convex conjugate is
    $L^*(g) = \frac1β [\sum_i g_i \log g_i + g_0 \log g_0]$ per slice, with the
    ghost's share $g_0 = 1 − \sum_j g_j$.

    ??? cite
        [Quantizable Transformers: Removing Outliers by Helping Attention Heads Do
        Nothing](https://arxiv.org/abs/2306.12929)

        ```bibtex
        @inproceedings{bondarenko2023quantizable,
            title={Quantizable Transformers: Removing Outliers by Helping Attention
                   Heads Do Nothing},
            author={Yelysei Bondarenko and Markus Nagel and Tijmen Blankevoort},
            booktitle={Advances in Neural Information Processing Systems},
            year={2023},
        }
        ```
    """

    raw_beta: Float[Array, ""]
    axis: int = eqx.field(static=True)

    def __init__(self, beta: ArrayLike = 1.0, axis: int = -1):
        """**Arguments:**

        - `beta`: the inverse temperature β > 0 (at least 1e-6), a scalar. Learnable:
            it is stored as the unconstrained leaf `raw_beta`.
        - `axis`: the axis along which the neurons (and the ghost) compete.
        """
        self.raw_beta = scalar_to_raw("Ghostmax", "beta", beta)
        self.axis = axis

    def __check_init__(self):
        _check_axis(self.axis)

    @property
    def beta(self) -> Float[Array, ""]:
        """The effective inverse temperature β = softplus(raw_beta) + 1e-6."""
        return raw_to_positive(self.raw_beta)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return along_axis(_ghostmax, "Ghostmax", x, self.beta, self.axis)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        return _conjugates.ghostmax(g, self.beta, self.axis)


class _AbstractNorm(AbstractLagrangian):
    """Shared construction of LayerNorm and SphericalNorm: a positive scalar γ stored
    as `raw_gamma`, a scalar or per-feature δ, a static `axis` and `eps`."""

    raw_gamma: eqx.AbstractVar[Float[Array, ""]]
    delta: eqx.AbstractVar[Float[Array, "*features"]]
    axis: eqx.AbstractVar[int]
    eps: eqx.AbstractVar[float]

    @property
    def gamma(self) -> Float[Array, ""]:
        """The effective scale γ = softplus(raw_gamma) + 1e-6."""
        return raw_to_positive(self.raw_gamma)

    def __check_init__(self):
        _check_axis(self.axis)
        check_static_positive("eps", self.eps)
        if self.delta.ndim > 1:
            raise ValueError(
                "`delta` must be a scalar or a per-feature vector, got shape "
                f"{self.delta.shape}."
            )


def _gamma_delta(who, gamma, delta):
    raw_gamma = scalar_to_raw(who, "gamma", gamma)
    return raw_gamma, jnp.asarray(delta, dtype=default_floating_dtype())


class LayerNorm(_AbstractNorm):
    r"""$$L(x) = \sum_{\text{slices}} D γ \sqrt{\operatorname{Var}(x) + ε}
    + \sum_i δ x_i, \qquad g(x) = γ \frac{x - \bar x}{\sqrt{\operatorname{Var}(x) + ε}}
    + δ,$$

    along `axis`, where $D$ is the length of `axis`: the Lagrangian whose activation
    is layer normalisation. Computed in at least float32, so float16 inputs of large
    variance are normalised correctly.

    ??? cite
        [Energy Transformer](https://arxiv.org/abs/2302.07253)

        ```bibtex
        @inproceedings{hoover2023energy,
            title={Energy Transformer},
            author={Benjamin Hoover and Yuchen Liang and Bao Pham and Rameswar Panda
                    and Hendrik Strobelt and Duen Horng Chau and Mohammed J. Zaki and
                    Dmitry Krotov},
            booktitle={Advances in Neural Information Processing Systems},
            year={2023},
        }
        ```
    """

    raw_gamma: Float[Array, ""]
    delta: Float[Array, "*features"]
    axis: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(
        self,
        gamma: ArrayLike = 1.0,
        delta: ArrayLike = 0.0,
        axis: int = -1,
        eps: float = 1e-5,
    ):
        """**Arguments:**

        - `gamma`: the scale γ > 0 (at least 1e-6), a scalar. Learnable: it is stored
            as the unconstrained leaf `raw_gamma`.
        - `delta`: the shift δ, a scalar or a vector with one entry per feature along
            `axis`. Learnable.
        - `axis`: the axis that is normalised.
        - `eps`: added to the variance, > 0.
        """
        self.raw_gamma, self.delta = _gamma_delta("LayerNorm", gamma, delta)
        self.axis = axis
        self.eps = eps

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return normalised(
            _layernorm, "LayerNorm", x, self.gamma, self.delta, self.axis, self.eps
        )


class SphericalNorm(_AbstractNorm):
    r"""$$L(x) = \sum_{\text{slices}} γ \sqrt{\textstyle\sum_j x_j^2 + ε}
    + \sum_i δ x_i, \qquad g(x) = γ \frac{x}{\sqrt{\sum_j x_j^2 + ε}} + δ,$$

    along `axis`: the activation projects onto a sphere of radius γ (shifted by δ).
    """

    raw_gamma: Float[Array, ""]
    delta: Float[Array, "*features"]
    axis: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(
        self,
        gamma: ArrayLike = 1.0,
        delta: ArrayLike = 0.0,
        axis: int = -1,
        eps: float = 1e-5,
    ):
        """**Arguments:**

        - `gamma`: the radius γ > 0 (at least 1e-6), a scalar. Learnable: it is stored
            as the unconstrained leaf `raw_gamma`.
        - `delta`: the shift δ, a scalar or a vector with one entry per feature along
            `axis`. Learnable.
        - `axis`: the axis that is normalised.
        - `eps`: added to the squared norm, > 0.
        """
        self.raw_gamma, self.delta = _gamma_delta("SphericalNorm", gamma, delta)
        self.axis = axis
        self.eps = eps

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return normalised(
            _spherical_norm,
            "SphericalNorm",
            x,
            self.gamma,
            self.delta,
            self.axis,
            self.eps,
        )


class RMSNorm(_AbstractNorm):
    r"""$$L(x) = \sum_{\text{slices}} D γ \sqrt{\operatorname{mean}(x^2) + ε}
    + \sum_i δ x_i, \qquad g(x) = γ \frac{x}{\sqrt{\operatorname{mean}(x^2) + ε}}
    + δ,$$

    along `axis`, where $D$ is the length of `axis`: the Lagrangian whose activation
    is RMS normalisation, the normalisation of most modern transformers (layer
    normalisation without the centring).

    ??? cite
        [Root Mean Square Layer Normalization](https://arxiv.org/abs/1910.07467)

        ```bibtex
        @inproceedings{zhang2019root,
            title={Root Mean Square Layer Normalization},
            author={Biao Zhang and Rico Sennrich},
            booktitle={Advances in Neural Information Processing Systems},
            year={2019},
        }
        ```
    """

    raw_gamma: Float[Array, ""]
    delta: Float[Array, "*features"]
    axis: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(
        self,
        gamma: ArrayLike = 1.0,
        delta: ArrayLike = 0.0,
        axis: int = -1,
        eps: float = 1e-5,
    ):
        """**Arguments:**

        - `gamma`: the scale γ > 0 (at least 1e-6), a scalar. Learnable: it is stored
            as the unconstrained leaf `raw_gamma`.
        - `delta`: the shift δ, a scalar or a vector with one entry per feature along
            `axis`. Learnable.
        - `axis`: the axis that is normalised.
        - `eps`: added to the mean square, > 0.
        """
        self.raw_gamma, self.delta = _gamma_delta("RMSNorm", gamma, delta)
        self.axis = axis
        self.eps = eps

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return normalised(
            _rmsnorm, "RMSNorm", x, self.gamma, self.delta, self.axis, self.eps
        )
