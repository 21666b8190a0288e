r"""Lagrangian algebra: sums and positive multiples of Lagrangians are Lagrangians.

Convexity is closed under both, and the gradient is linear, so the activation of
$L_1 + L_2$ is $g_1 + g_2$ and that of $c L$ is $c\,g$, and so are the energies.
`L1 + L2` and `c * L` build these modules; their learnable leaves are those of the
terms, so optax trains them as before.
"""

import numbers

import equinox as eqx
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact

from ._functional import _prepare
from ._lagrangian import AbstractLagrangian
from ._misc import is_concrete


def _check_lagrangian(term) -> None:
    if not isinstance(term, AbstractLagrangian):
        raise TypeError(
            "The terms of a Lagrangian sum must be el.AbstractLagrangians (e.g. "
            f"el.Tanh()), got {term!r}."
        )


def _concrete_scale(scale) -> float:
    if isinstance(scale, bool) or not (
        isinstance(scale, numbers.Real) or hasattr(scale, "__array__")
    ):
        raise TypeError(
            f"A Lagrangian can be scaled by a real number c > 0, got {scale!r}."
        )
    if not is_concrete(scale):
        raise ValueError(
            "The scale c of `c * L` must be a concrete number (it is a static "
            "hyper-parameter, checked > 0 so that c·L stays convex), got a traced "
            "value. To learn a scale, use a Lagrangian's own β or γ."
        )
    array = np.asarray(scale)
    if array.shape != () or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"The scale c of `c * L` must be a scalar, got an array of shape "
            f"{array.shape}."
        )
    value = float(array)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(
            f"The scale c of `c * L` must be finite and > 0 (so that c·L stays "
            f"convex), got c={value}."
        )
    return value


class Sum(AbstractLagrangian):
    r"""The sum of Lagrangians,

    $$L(x) = \sum_k L_k(x), \qquad g(x) = \sum_k g_k(x), \qquad
    E(x) = \sum_k E_k(x),$$

    convex as each term is. Built by `L1 + L2` (sums of sums are flattened). Its
    learnable leaves are the terms' own. Its convex conjugate is the infimal
    convolution of the terms' conjugates, which has no closed form in general, so
    `conjugate` raises `NotImplementedError`.
    """

    terms: tuple[AbstractLagrangian, ...]

    def __init__(self, *terms: AbstractLagrangian):
        """**Arguments:**

        - `*terms`: two or more `el.AbstractLagrangian`s, acting on inputs of the same
            shape.
        """
        flat = []
        for term in terms:
            _check_lagrangian(term)
            flat.extend(term.terms if isinstance(term, Sum) else (term,))
        self.terms = tuple(flat)

    def __check_init__(self):
        if len(self.terms) < 2:
            raise ValueError(
                f"A Lagrangian sum needs at least two terms, got {len(self.terms)}."
            )

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        x, xc = _prepare(x)
        value = self.terms[0](xc)
        for term in self.terms[1:]:
            value = value + term(xc)
        return value.astype(x.dtype)


class Scaled(AbstractLagrangian):
    r"""A positive multiple of a Lagrangian,

    $$L(x) = c\,L_0(x), \qquad g(x) = c\,g_0(x), \qquad E(x) = c\,E_0(x), \qquad
    L^*(g) = c\,L_0^*(g/c),$$

    for a concrete number $c > 0$ (a static hyper-parameter; to learn a scale, learn
    the Lagrangian's own β or γ). Built by `c * L`. Its learnable leaves are those of
    $L_0$.
    """

    scale: float = eqx.field(static=True)
    lagrangian: AbstractLagrangian

    def __init__(self, scale: ArrayLike, lagrangian: AbstractLagrangian):
        """**Arguments:**

        - `scale`: the factor c, a concrete real number > 0 (a Python or numpy
            number, or a concrete 0-d array), stored as a Python float.
        - `lagrangian`: the `el.AbstractLagrangian` $L_0$ that is scaled.
        """
        _check_lagrangian(lagrangian)
        scale = _concrete_scale(scale)
        if isinstance(lagrangian, Scaled):
            scale, lagrangian = scale * lagrangian.scale, lagrangian.lagrangian
        self.scale = scale
        self.lagrangian = lagrangian

    def __check_init__(self):
        _concrete_scale(self.scale)

    def __call__(self, x: ArrayLike) -> Float[Array, ""]:
        x, xc = _prepare(x)
        return (self.scale * self.lagrangian(xc)).astype(x.dtype)

    def conjugate(self, g: ArrayLike) -> Float[Array, ""]:
        g, gc = _prepare(g)
        inner = self.lagrangian.conjugate(gc / self.scale)
        return (self.scale * inner).astype(g.dtype)

    def inverse_activation(self, g: ArrayLike) -> Inexact[Array, "*shape"]:
        g, gc = _prepare(g)
        return self.lagrangian.inverse_activation(gc / self.scale).astype(g.dtype)
