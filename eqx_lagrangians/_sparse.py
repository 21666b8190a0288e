r"""Sparse competition: Lagrangians whose activations are sparse distributions.

Each is a regularised maximum over the simplex $Δ$ along `axis`,

$$L(x) = \frac1β \sum_{\text{slices}} \max_{p ∈ Δ} \big[p·βx − Ω(p)\big],$$

so by Danskin's theorem its activation is the maximiser $p$, which (unlike softmax)
has exact zeros, and its energy is $Ω(g)/β$: the convex conjugate is
$L^*(g) = Ω(g)/β$ on the simplex. These are the sparse modern Hopfield networks.

??? cite
    [Sparse and Structured Hopfield Networks](https://arxiv.org/abs/2402.13725)

    ```bibtex
    @inproceedings{santos2024sparse,
        title={Sparse and Structured Hopfield Networks},
        author={Saul Santos and Vlad Niculae and Daniel McNamee and Andr{\'e} F. T.
                Martins},
        booktitle={International Conference on Machine Learning},
        year={2024},
    }
    ```
"""

import equinox as eqx
from jaxtyping import Array, ArrayLike, Float

from . import _conjugates
from ._functional import _sparsemax, along_axis, entmax
from ._lagrangian import AbstractLagrangian
from ._misc import (
    above_one_to_raw,
    raw_to_above_one,
    raw_to_excess,
    raw_to_positive,
    scalar_to_raw,
)
from ._normalizing import _check_axis


class Sparsemax(AbstractLagrangian):
    r"""$$L(x) = \frac1β \sum_{\text{slices}} \max_{p ∈ Δ} \Big[p·βx −
    \tfrac12 \|p\|^2\Big], \qquad g(x) = \operatorname{sparsemax}(βx),$$

    along `axis`: the activation is the Euclidean projection of $βx$ onto the simplex,
    $[βx − τ]_+$, computed exactly (the threshold τ by Michelot's support iteration,
    no sort), with exact zeros. Its energy is
    $\|g\|^2/(2β)$, and so is its convex conjugate $L^*(g)$ on the simplex.

    (The entropy of `el.Entmax` at α = 2 is $(1 − \|p\|^2)/2$, so
    `el.Entmax(alpha=2.0)` has the same activation and a value larger by $1/(2β)$
    per slice.)

    ??? cite
        [From Softmax to Sparsemax: A Sparse Model of Attention and Multi-Label
        Classification](https://arxiv.org/abs/1602.02068)

        ```bibtex
        @inproceedings{martins2016softmax,
            title={From Softmax to Sparsemax: A Sparse Model of Attention and
                   Multi-Label Classification},
            author={Andr{\'e} F. T. Martins and Ram{\'o}n Fernandez Astudillo},
            booktitle={International Conference on Machine Learning},
            year={2016},
        }
        ```
    """

    raw_beta: Float[Array, ""]
    axis: int = eqx.field(static=True)

    def __init__(self, beta: ArrayLike = 1.0, axis: int = -1):
        """**Arguments:**

        - `beta`: the inverse temperature β > 0 (at least 1e-6), a scalar. Learnable:
            it is stored as the unconstrained leaf `raw_beta`. Larger β gives sparser
            activations.
        - `axis`: the axis along which the neurons compete.
        """
        self.raw_beta = scalar_to_raw("Sparsemax", "beta", beta)
        self.axis = axis

    def __check_init__(self):
        _check_axis(self.axis)

    @property
    def beta(self) -> Float[Array, ""]:
        """The effective inverse temperature β = softplus(raw_beta) + 1e-6."""
        return raw_to_positive(self.raw_beta)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return along_axis(_sparsemax, "Sparsemax", x, self.beta, self.axis)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        return _conjugates.sparsemax(g, self.beta)


class Entmax(AbstractLagrangian):
    r"""$$L(x) = \frac1β \sum_{\text{slices}} \max_{p ∈ Δ} \big[p·βx + H^α(p)\big],
    \qquad H^α(p) = \sum_j \frac{p_j − p_j^α}{α(α − 1)}, \qquad
    g(x) = α\text{-entmax}(βx),$$

    along `axis`, with the Tsallis entropy $H^α$: the activation is
    $p_j = [(α − 1)βx_j − τ]_+^{1/(α − 1)}$ with τ such that $\sum_j p_j = 1$. α = 2
    is sparsemax, α → 1 softmax (Shannon entropy); in between the activations are
    sparse yet smooth. Its energy, and its convex conjugate on the simplex, is
    $L^*(g) = −H^α(g)/β$.

    Both α > 1 and β > 0 are learnable. τ is found by bisection to the dtype's
    precision in a form that keeps softmax's relative accuracy however close α is to
    1, followed by one exact normalisation; the derivatives with respect to x, β and
    α are closed form (the implicit-function theorem for the activation, the
    envelope theorem for $L$, $∂L/∂α = (∂H^α/∂α)(g)/β$), so they are exact and
    cheap, including $∂g/∂α$ (which `entmax-jax` leaves unimplemented).

    ??? cite
        [Sparse Sequence-to-Sequence Models](https://arxiv.org/abs/1905.05702)

        ```bibtex
        @inproceedings{peters2019sparse,
            title={Sparse Sequence-to-Sequence Models},
            author={Ben Peters and Vlad Niculae and Andr{\'e} F. T. Martins},
            booktitle={Annual Meeting of the Association for Computational
                       Linguistics},
            year={2019},
        }
        ```

        [Adaptively Sparse Transformers](https://arxiv.org/abs/1909.00015)

        ```bibtex
        @inproceedings{correia2019adaptively,
            title={Adaptively Sparse Transformers},
            author={Gon{\c{c}}alo M. Correia and Vlad Niculae and Andr{\'e} F. T.
                    Martins},
            booktitle={Conference on Empirical Methods in Natural Language
                       Processing},
            year={2019},
        }
        ```
    """

    raw_alpha: Float[Array, ""]
    raw_beta: Float[Array, ""]
    axis: int = eqx.field(static=True)

    def __init__(self, alpha: ArrayLike = 1.5, beta: ArrayLike = 1.0, axis: int = -1):
        """**Arguments:**

        - `alpha`: the entropy's order α > 1 (at least 1 + 1e-6), a scalar.
            Learnable: it is stored as the unconstrained leaf `raw_alpha`, with
            α = 1 + softplus(raw_alpha) + 1e-6, so that it stays above 1 under any
            optimiser update.
        - `beta`: the inverse temperature β > 0 (at least 1e-6), a scalar. Learnable:
            it is stored as the unconstrained leaf `raw_beta`.
        - `axis`: the axis along which the neurons compete.
        """
        self.raw_alpha = scalar_to_raw("Entmax", "alpha", alpha, above_one_to_raw)
        self.raw_beta = scalar_to_raw("Entmax", "beta", beta)
        self.axis = axis

    def __check_init__(self):
        _check_axis(self.axis)

    @property
    def alpha(self) -> Float[Array, ""]:
        """The effective order α = 1 + softplus(raw_alpha) + 1e-6."""
        return raw_to_above_one(self.raw_alpha)

    @property
    def beta(self) -> Float[Array, ""]:
        """The effective inverse temperature β = softplus(raw_beta) + 1e-6."""
        return raw_to_positive(self.raw_beta)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        return entmax(x, self.beta, raw_to_excess(self.raw_alpha), self.axis)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        return _conjugates.entmax(g, self.beta, raw_to_excess(self.raw_alpha))
