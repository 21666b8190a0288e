"""Beyond the seed (DESIGN.md): the specific claims of sparse and modern Lagrangians,
masked competition, Lagrangian algebra, convex conjugates and inverse activations.
(The property suite covers every new Lagrangian through tests/cases.py; the float64
finite-difference checks are in tests/float64/test_beyond.py.)"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import eqx_lagrangians as el

from .cases import np_entmax, np_sparsemax
from .helpers import assert_finite


_activation = eqx.filter_jit(lambda L, x: L.activation(x))
_value = eqx.filter_jit(lambda L, x: L(x))
_energy = eqx.filter_jit(lambda L, x: L.energy(x))
_conjugate = eqx.filter_jit(lambda L, g: L.conjugate(g))


# --- Ghostmax: stable at |x| = 1e4 in any dtype. ----------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16, jnp.bfloat16])
def test_ghostmax_stable_at_large_inputs_in_any_dtype(dtype):
    x = jnp.array([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, -1e4, -1e4]], dtype)
    module = el.Ghostmax(beta=1.5)
    g = module.activation(x)
    assert g.dtype == dtype
    assert_finite((module(x), g, module.energy(x)))
    expected = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(np.asarray(g, np.float64), expected, atol=1e-6)
    # log(1 + e^{1.5e4} + ...)/1.5 = 1e4, and log(1 + 4e^{-1.5e4})/1.5 = 0.
    np.testing.assert_allclose(float(module(x)), float(x[0, 0]), rtol=1e-3)
    np.testing.assert_allclose(float(module(x[1])), 0.0, atol=1e-6)


def test_ghostmax_leaves_room_for_the_ghost(getkey):
    x = jr.normal(getkey(), (5, 7))
    g = el.Ghostmax().activation(x)
    totals = jnp.sum(g, axis=-1)
    assert bool(jnp.all((totals > 0) & (totals < 1)))
    # With one more neuron of zero logit, it is softmax.
    padded = jnp.concatenate([x, jnp.zeros((5, 1))], axis=-1)
    np.testing.assert_allclose(g, jax.nn.softmax(padded)[:, :-1], rtol=1e-6)


# --- Sparsemax and Entmax. ---------------------------------------------------------


def test_sparsemax_is_exact_with_exact_zeros(getkey):
    x = 2 * jr.normal(getkey(), (6, 9))
    g = el.Sparsemax(beta=1.3).activation(x)
    np.testing.assert_allclose(
        g, np_sparsemax(1.3 * np.asarray(x, np.float64)), atol=1e-6
    )
    assert int(jnp.sum(g == 0)) > 0
    np.testing.assert_allclose(jnp.sum(g, axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("alpha", [1.001, 1.01, 1.1, 1.5, 2.0, 2.5, 3.0])
def test_entmax_matches_reference_to_1e_5(alpha, getkey):
    x = 3 * jr.normal(getkey(), (8, 12))
    g = _activation(el.Entmax(alpha=alpha), x)
    expected = np_entmax(np.asarray(x, np.float64), alpha)
    np.testing.assert_allclose(g, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(jnp.sum(g, axis=-1), 1.0, rtol=1e-6)


def test_entmax_at_two_is_sparsemax(getkey):
    x = 2 * jr.normal(getkey(), (4, 3, 9))
    entmax, sparsemax = el.Entmax(alpha=2.0, beta=1.3), el.Sparsemax(beta=1.3)
    np.testing.assert_allclose(
        _activation(entmax, x), _activation(sparsemax, x), atol=1e-6
    )
    # H²(p) = (1 − ‖p‖²)/2 against DESIGN's −‖p‖²/2: 1/(2β) more per slice.
    slices = 4 * 3
    np.testing.assert_allclose(
        _value(entmax, x) - _value(sparsemax, x), slices / (2 * 1.3), rtol=1e-5
    )
    np.testing.assert_allclose(
        _energy(entmax, x), _energy(sparsemax, x) - slices / 2.6, rtol=1e-5
    )


def test_entmax_approaches_softmax_as_alpha_goes_to_one(getkey):
    x = 2 * jr.normal(getkey(), (5, 10))
    softmax = jax.nn.softmax(1.3 * x)
    errors = [
        float(jnp.max(jnp.abs(_activation(el.Entmax(1 + eps, 1.3), x) - softmax)))
        for eps in (1e-1, 1e-2, 1e-3, 1e-4)
    ]
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 1e-4
    # And the value approaches (1/β) logsumexp(βx).
    value = _value(el.Entmax(1 + 1e-5, 1.3), x)
    np.testing.assert_allclose(value, _value(el.Softmax(1.3), x), rtol=1e-4)


def test_entmax_is_sparse(getkey):
    g = el.Entmax(alpha=1.5).activation(jr.normal(getkey(), (20,)))
    assert 0 < int(jnp.sum(g == 0)) < 19


def test_entmax_alpha_stays_above_one_under_sgd(getkey):
    # 200 SGD steps at learning rate 1e3 on a loss that pushes α toward 1 (and then
    # into the floor 1 + 1e-6) leave α > 1 and everything finite.
    module = el.Entmax(alpha=1.5, beta=1.2)
    x = 100 * jr.normal(getkey(), (3, 8))
    params, static = eqx.partition(module, eqx.is_inexact_array)
    optim = optax.sgd(1e3)

    @eqx.filter_jit
    def step(params, state):
        grads = eqx.filter_grad(lambda p: eqx.combine(p, static).alpha)(params)
        updates, state = optim.update(grads, state, params)
        return eqx.apply_updates(params, updates), state

    state = optim.init(params)
    for _ in range(200):
        params, state = step(params, state)
    trained = eqx.combine(params, static)
    assert 1 < float(trained.alpha) < 1 + 1e-5
    assert_finite((trained(x), trained.activation(x), trained.energy(x)))
    assert_finite(eqx.filter_grad(lambda m: m(x) + jnp.sum(m.activation(x)))(trained))


@pytest.mark.parametrize(
    "make",
    [
        el.ELU,
        el.Ghostmax,
        el.Sparsemax,
        el.RMSNorm,
        lambda b: el.Entmax(alpha=1 + b),
        lambda b: el.Entmax(beta=b),
    ],
)
def test_built_from_traced_values(make, getkey):
    x = jr.normal(getkey(), (5,))
    values = jnp.array([0.5, 1.0, 2.0])
    batched = jax.vmap(lambda b: make(b)(x))(values)
    expected = jnp.stack([make(float(b))(x) for b in values])
    np.testing.assert_allclose(batched, expected, rtol=1e-6)


# --- Masked competition. ----------------------------------------------------------


@pytest.mark.parametrize("cls", [el.Softmax, el.Ghostmax])
def test_masked_entries_get_zero_activation_and_finite_gradients(cls, getkey):
    x = jr.normal(getkey(), (3, 5))
    mask = jnp.array(
        [[True, False, True, True, False], [False] * 5, [True, True, True, True, True]]
    )
    masked = jnp.where(mask, x, -jnp.inf)
    module = cls(beta=1.5)
    g = module.activation(masked)
    assert bool(jnp.all(g[~mask] == 0))
    # The unmasked neurons compete as if the masked ones were absent.
    kept = x[0, mask[0]]
    np.testing.assert_allclose(g[0, mask[0]], cls(beta=1.5).activation(kept), rtol=1e-6)
    np.testing.assert_allclose(g[2], cls(beta=1.5).activation(x[2]), rtol=1e-6)
    # A wholly masked slice adds nothing to the value and the energy.
    np.testing.assert_allclose(module(masked), module(kept) + module(x[2]), rtol=1e-6)
    np.testing.assert_allclose(
        module.energy(masked),
        module.energy(kept) + module.energy(x[2]),
        rtol=1e-5,
        atol=1e-6,
    )
    functional = el.lagr_softmax if cls is el.Softmax else el.lagr_ghostmax
    v = jr.normal(getkey(), x.shape)
    assert_finite(
        (
            jax.grad(module)(masked),
            jax.grad(module.energy)(masked),
            jax.jacfwd(module.activation)(masked),
            jax.hessian(module)(masked[1]),
            jax.grad(functional, argnums=1)(masked, 1.5),
            jax.grad(lambda b: jnp.sum(v * jax.grad(functional)(masked, b)))(1.5),
            jax.jacfwd(lambda b: jax.grad(functional)(masked, b))(1.5),
            eqx.filter_grad(
                lambda m: (
                    m(masked) + jnp.sum(v * m.activation(masked)) + m.energy(masked)
                )
            )(module),
        )
    )


def test_plain_logsumexp_fails_where_masked_softmax_does_not():
    masked = jnp.full((4,), -jnp.inf)
    plain = jax.grad(lambda x: jax.nn.logsumexp(x))(masked)
    assert not bool(jnp.all(jnp.isfinite(plain)))
    assert float(el.Softmax()(masked)) == 0.0
    assert_finite(jax.grad(el.Softmax())(masked))


# --- Algebra. ----------------------------------------------------------------------


def test_sum_and_multiple_are_the_sums_and_multiples(getkey):
    x = jr.normal(getkey(), (3, 6))
    first, second = el.Tanh(1.3), el.Softmax(0.8)
    total = first + 2.5 * second
    assert isinstance(total, el.AbstractLagrangian) and isinstance(total, el.Sum)
    for method in ("__call__", "activation", "energy"):
        expected = getattr(first, method)(x) + 2.5 * getattr(second, method)(x)
        np.testing.assert_allclose(getattr(total, method)(x), expected, rtol=1e-5)
    scaled = second * 2.5
    assert isinstance(scaled, el.Scaled) and scaled.scale == 2.5
    np.testing.assert_allclose(scaled.activation(x), 2.5 * second.activation(x))
    # Sums flatten, multiples fold.
    assert len((first + second + el.Identity()).terms) == 3
    assert (2.0 * (3.0 * first)).scale == 6.0


def test_algebra_parameters_stay_trainable(getkey):
    x = jr.normal(getkey(), (4, 6))
    target = jr.normal(getkey(), (4, 6))
    model = el.LayerNorm(1.2, jnp.zeros(6)) + 0.5 * el.Entmax(1.5, 2.0)

    def loss(model):
        return jnp.mean((model.activation(x) - target) ** 2) + model.energy(x) / 100

    params = eqx.filter(model, eqx.is_inexact_array)
    assert len(jax.tree.leaves(params)) == 4  # raw_gamma, delta, raw_alpha, raw_beta
    grads = eqx.filter_grad(loss)(model)
    assert all(bool(jnp.all(leaf != 0)) for leaf in jax.tree.leaves(grads))
    optim = optax.adam(1e-2)
    updates, _ = optim.update(grads, optim.init(params), params)
    trained = eqx.apply_updates(model, updates)
    entmax = trained.terms[1].lagrangian
    assert float(entmax.alpha) != pytest.approx(1.5, abs=1e-4)
    assert float(trained.terms[0].gamma) != pytest.approx(1.2, abs=1e-4)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: 0.0 * el.Tanh(), ValueError, r"finite and > 0.*got c=0.0"),
        (lambda: -2 * el.Tanh(), ValueError, r"got c=-2.0"),
        (lambda: float("nan") * el.Tanh(), ValueError, r"got c=nan"),
        (lambda: jnp.ones(3) * el.Tanh(), ValueError, r"must be a scalar"),
        (lambda: jax.jit(lambda c: (c * el.Tanh()).scale)(2.0), ValueError, "concrete"),
        (lambda: "2" * el.Tanh(), TypeError, None),
        (lambda: el.Sum(el.Tanh()), ValueError, r"at least two terms, got 1"),
        (lambda: el.Sum(el.Tanh(), 3.0), TypeError, None),
    ],
)
def test_algebra_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_adding_a_non_lagrangian_is_a_type_error():
    with pytest.raises(TypeError):
        el.Tanh() + 1.0  # pyright: ignore[reportOperatorIssue]


# --- Convex conjugates and inverse activations. -----------------------------------

CONJUGATES = [
    el.Identity(),
    el.Exp(0.7),
    el.Exp(jnp.array([0.5, 1.0, 2.0, 0.7, 1.1, 1.3])),
    el.Sigmoid(1.7),
    el.Tanh(1.7),
    el.Softmax(1.7),
    el.Ghostmax(1.7),
    el.ELU(0.7),
    el.Sparsemax(1.7),
    el.Entmax(1.5, 1.7),
    el.Entmax(1.001, 1.7),
    el.Entmax(2.5, 1.7),
    3.0 * el.Tanh(1.7),
]


@pytest.mark.parametrize("module", CONJUGATES, ids=lambda m: type(m).__name__)
def test_conjugate_of_activation_is_energy(module, getkey):
    x = jr.normal(getkey(), (4, 6))
    if isinstance(module, el.Exp):
        x = jnp.clip(x, -3, 3)
    g = _activation(module, x)
    energy = _energy(module, x)
    scale = 1 + float(jnp.sum(jnp.abs(x * g)))
    np.testing.assert_allclose(
        _conjugate(module, g), energy, rtol=1e-5, atol=2e-6 * scale
    )
    assert _conjugate(module, g).dtype == x.dtype


@pytest.mark.parametrize(
    ("module", "g", "expected"),
    [
        (el.Sigmoid(2.0), [0.0, 1.0], 0.0),
        (el.Tanh(2.0), [1.0, -1.0], np.log(2.0) * 2 / 2.0),
        (el.Exp(2.0), [0.0], 0.0),
        (el.Softmax(2.0), [0.0, 1.0, 0.0], 0.0),
        (el.Ghostmax(2.0), [0.0, 0.0], 0.0),
        (el.Ghostmax(2.0), [0.0, 1.0], 0.0),
        (el.ELU(0.5), [-0.5], 0.5),
        (el.Entmax(1.5), [1.0, 0.0], 0.0),
        (el.Sparsemax(2.0), [1.0, 0.0], 0.25),
    ],
)
def test_conjugate_is_finite_on_the_boundary(module, g, expected):
    value = module.conjugate(jnp.array(g))
    np.testing.assert_allclose(value, expected, atol=1e-7)


@pytest.mark.parametrize(
    "module",
    [
        el.RePU(3),
        el.ReLU(),
        el.RExp(),
        el.LayerNorm(),
        el.SphericalNorm(),
        el.RMSNorm(),
        el.Tanh() + el.Identity(),
    ],
    ids=lambda m: type(m).__name__,
)
def test_no_closed_form_conjugate_raises(module):
    with pytest.raises(NotImplementedError, match=type(module).__name__):
        module.conjugate(jnp.ones(3) / 3)


INVERTIBLE = [
    el.Identity(),
    el.Exp(0.7),
    el.Sigmoid(1.7),
    el.Tanh(jnp.array([0.5, 1.0, 2.0, 0.7, 1.1, 1.3])),
    el.ELU(0.7),
    2.0 * el.ELU(0.7),
]


@pytest.mark.parametrize("module", INVERTIBLE, ids=lambda m: type(m).__name__)
def test_inverse_activation_round_trip(module, getkey):
    # Within |βx| <= 3, where σ and tanh are not yet flat in float32.
    x = jnp.clip(2 * jr.normal(getkey(), (4, 6)), -1.5, 1.5)
    g = module.activation(x)
    np.testing.assert_allclose(module.inverse_activation(g), x, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        module.activation(module.inverse_activation(g)), g, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "module",
    [el.Softmax(), el.Sparsemax(), el.Entmax(), el.ReLU(), el.LayerNorm()],
    ids=lambda m: type(m).__name__,
)
def test_non_invertible_activation_raises(module):
    with pytest.raises(NotImplementedError, match=type(module).__name__):
        module.inverse_activation(jnp.ones(3) / 3)


# --- Errors and the activations that have no Lagrangian. ---------------------------


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: el.ELU(alpha=0.0), r"`alpha` must be finite and >= 1e-06, got alpha"),
        (lambda: el.Ghostmax(beta=-1.0), r"`beta`.*got beta=-1.0"),
        (lambda: el.Ghostmax(beta=jnp.ones(2)), r"Ghostmax's `beta` must be a scalar"),
        (lambda: el.Sparsemax(beta=0.0), r"`beta`.*got beta=0.0"),
        (lambda: el.Sparsemax(beta=jnp.ones(2)), r"`beta` must be a scalar"),
        (lambda: el.RMSNorm(gamma=0.0), r"`gamma` must be finite and >= 1e-06"),
        (lambda: el.RMSNorm(eps=0.0), r"`eps` must be finite and > 0, got eps=0.0"),
        (lambda: el.Entmax(alpha=1.0), r"`alpha` must be finite and > 1.*alpha=1.0"),
        (lambda: el.Entmax(alpha=0.5), r"`alpha`.*got alpha=0.5"),
        (lambda: el.Entmax(alpha=float("inf")), r"`alpha`.*got alpha=inf"),
        (lambda: el.Entmax(beta=0.0), r"`beta`.*got beta=0.0"),
        (
            lambda: el.Entmax(alpha=jnp.ones(2) * 2),
            r"Entmax's `alpha` must be a scalar",
        ),
        (lambda: el.lagr_entmax(jnp.ones(3), alpha=1.0), r"`alpha`.*> 1"),
        (lambda: el.lagr_elu(jnp.ones(3), alpha=-1.0), r"`alpha`"),
        (lambda: el.lagr_ghostmax(jnp.ones(3), beta=0.0), r"`beta`"),
        (lambda: el.lagr_sparsemax(jnp.ones(3), beta=0.0), r"`beta`"),
        (lambda: el.lagr_rmsnorm(jnp.ones(3), gamma=0.0), r"`gamma`"),
        (lambda: el.Sparsemax()(jnp.array(1.0)), r"needs at least one dimension"),
        (lambda: el.Entmax(axis=2)(jnp.ones((3, 4))), r"`axis=2` is out of range"),
        (
            lambda: el.ELU(alpha=jnp.ones(3))(jnp.ones((2, 4))),
            r"`alpha` of shape \(3,\) does not broadcast",
        ),
    ],
)
def test_invalid_arguments_raise_value_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("activation", [jax.nn.gelu, jax.nn.silu])
def test_gelu_and_silu_are_not_monotone(activation):
    # The gradient of a convex function is monotone; GELU and SiLU dip below 0 and
    # come back up, so no convex Lagrangian has them as its gradient.
    x = jnp.linspace(-4, 0, 401)
    g = activation(x)
    assert float(jnp.min(jnp.diff(g))) < 0 < float(jnp.max(jnp.diff(g)))
