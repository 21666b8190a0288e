"""Bad input gets a clear error naming the argument, its value and what is allowed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_lagrangians as el


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: el.Tanh(beta=0.0),
            r"`beta` must be finite and >= 1e-06, got beta=0.0",
        ),
        (lambda: el.Sigmoid(beta=-1.0), r"`beta`.*got beta=-1.0"),
        (lambda: el.Exp(beta=float("nan")), r"`beta`.*got beta=nan"),
        (lambda: el.RExp(beta=np.array([1.0, -2.0])), r"`beta`.*-2"),
        (lambda: el.Softmax(beta=0.0), r"`beta`"),
        (lambda: el.LayerNorm(gamma=0.0), r"`gamma` must be finite and >= 1e-06"),
        (lambda: el.SphericalNorm(gamma=-3.0), r"`gamma`.*got gamma=-3.0"),
        (lambda: el.LayerNorm(eps=0.0), r"`eps` must be finite and > 0, got eps=0.0"),
        (lambda: el.SphericalNorm(eps=-1e-5), r"`eps`.*got eps=-1e-05"),
        (lambda: el.RePU(0.5), r"`n` must be finite and >= 1, got n=0.5"),
        (lambda: el.RePU(0), r"got n=0"),
        (lambda: el.Softmax(beta=jnp.ones(3)), r"`beta` must be a scalar"),
        (lambda: el.LayerNorm(gamma=jnp.ones(3)), r"`gamma` must be a scalar"),
        (lambda: el.LayerNorm(delta=jnp.ones((2, 3))), r"`delta` must be a scalar or"),
        (lambda: el.lagr_tanh(jnp.ones(3), beta=0.0), r"`beta`.*got beta=0.0"),
        (lambda: el.lagr_softmax(jnp.ones(3), beta=-1.0), r"`beta`"),
        (lambda: el.lagr_layernorm(jnp.ones(3), gamma=0.0), r"`gamma`"),
        (lambda: el.lagr_layernorm(jnp.ones(3), eps=0.0), r"`eps`"),
        (lambda: el.lagr_repu(jnp.ones(3), 0.9), r"`n`"),
    ],
)
def test_invalid_parameters_raise_value_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: el.Softmax()(jnp.array(1.0)), r"needs at least one dimension"),
        (lambda: el.LayerNorm(axis=2)(jnp.ones((3, 4))), r"`axis=2` is out of range"),
        (
            lambda: el.Tanh(beta=jnp.ones(3))(jnp.ones((2, 4))),
            r"`beta` of shape \(3,\) does not broadcast to the input's shape \(2, 4\)",
        ),
        (
            lambda: el.LayerNorm(delta=jnp.ones(3))(jnp.ones((2, 4))),
            r"`delta` has shape \(3,\).*vector of shape \(4,\)",
        ),
    ],
)
def test_shape_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_complex_input_is_rejected():
    with pytest.raises(TypeError, match=r"`x` must be a real array.*complex64"):
        el.Tanh()(jnp.ones(3, jnp.complex64))


def test_wrong_types_for_static_hyperparameters():
    # (Under the test suite's jaxtyping hook beartype catches these first.)
    with pytest.raises(TypeError, match=r"axis"):
        el.Softmax(axis=1.5)  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"\bn\b"):
        el.RePU("3")  # pyright: ignore[reportArgumentType]


def test_traced_invalid_parameters_raise_at_run_time():
    # Under jit the value is unknown at trace time: eqx.error_if checks it when run,
    # instead of returning a concave Lagrangian or a NaN.
    x = jnp.array([0.5, -1.0, 2.0])
    with pytest.raises(Exception, match=r"`beta` must be finite and > 0"):
        jax.block_until_ready(jax.jit(el.lagr_tanh)(x, -1.0))
    with pytest.raises(Exception, match=r"`gamma` must be finite and > 0"):
        jax.block_until_ready(jax.jit(el.lagr_layernorm)(x, -1.0))
    with pytest.raises(Exception, match=r"`beta` must be finite and >= 1e-06"):
        jax.block_until_ready(jax.jit(lambda b: el.Tanh(b)(x))(jnp.inf))


def test_bfloat16_parameters_are_accepted():
    beta = jnp.array(2.0, jnp.bfloat16)
    np.testing.assert_allclose(el.Tanh(beta).beta, 2.0, rtol=1e-6)
    np.testing.assert_allclose(
        el.lagr_tanh(jnp.ones(3), beta), el.Tanh(2.0)(jnp.ones(3)), rtol=1e-6
    )
    with pytest.raises(ValueError, match=r"`beta` must be finite and > 0"):
        el.lagr_tanh(jnp.ones(3), jnp.array(-2.0, jnp.bfloat16))
