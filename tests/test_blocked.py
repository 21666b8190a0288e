"""`el.LogSumExpSynapse(..., block_size=...)`: the online logsumexp over blocks of
patterns gives the direct form's values and gradients, in less memory."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_lagrangians as el

from .helpers import tree_allclose


def _pair(num_patterns, dim, block_size, key, beta=2.0):
    """The same synapse (same patterns and β) in direct and blocked form."""
    direct = el.LogSumExpSynapse(num_patterns, dim, beta, key=key)
    blocked = el.LogSumExpSynapse(
        num_patterns, dim, beta, block_size=block_size, key=key
    )
    assert bool(jnp.all(direct.patterns == blocked.patterns))
    return direct, blocked


def _close(got, expected, rtol=1e-5, atol=1e-6):
    """Equal arrays (the static `block_size` of two synapses differs by design)."""

    def leaves(tree):
        return jax.tree.leaves(eqx.filter(tree, eqx.is_array))

    return tree_allclose(leaves(got), leaves(expected), rtol=rtol, atol=atol)


def _batch_energy(synapse, queries):
    return jnp.sum(jax.vmap(synapse)(queries) ** 2)


@pytest.mark.parametrize("block_size", [1, 3, 12])
def test_values_and_gradients_equal_direct(block_size, getkey):
    direct, blocked = _pair(12, 5, block_size, getkey())
    queries = 2 * jr.normal(getkey(), (7, 5))
    for function in (
        jax.vmap(lambda s, q: s(q), in_axes=(None, 0)),
        jax.vmap(jax.grad(lambda s, q: s(q), argnums=1), in_axes=(None, 0)),
        eqx.filter_grad(_batch_energy),
    ):
        expected, got = function(direct, queries), function(blocked, queries)
        if isinstance(got, el.LogSumExpSynapse):
            assert bool(jnp.all(got.raw_beta != 0)) and bool(jnp.all(got.patterns != 0))
        assert _close(got, expected, rtol=1e-5, atol=1e-6)


def test_second_order_equals_direct(getkey):
    """Forward-over-reverse (a Hessian) and reverse-over-reverse (a loss of the
    retrieval update, differentiated in the patterns and β), as training through
    descent needs."""
    direct, blocked = _pair(24, 4, 6, getkey())
    query = jr.normal(getkey(), (4,))
    assert _close(
        jax.hessian(blocked)(query), jax.hessian(direct)(query), rtol=1e-5, atol=1e-6
    )

    def loss(synapse):
        update = -jax.grad(synapse)(query)
        return jnp.sum((update - 1.0) ** 2)

    assert _close(
        eqx.filter_grad(loss)(blocked), eqx.filter_grad(loss)(direct), rtol=1e-5
    )


def test_descent_and_training_equal_direct(getkey):
    direct, blocked = _pair(16, 6, 4, getkey(), beta=4.0)
    queries = direct.patterns[:5] + 0.3 * jr.normal(getkey(), (5, 6))

    def memory(synapse):
        return el.AssociativeMemory(
            neurons={"v": el.NeuronLayer(el.Tanh(beta=0.5), 6)},
            synapses={"lse": synapse},
            connections=[(("v",), "lse")],
        )

    def retrieve(synapse, checkpoint=False):
        def run(q):
            return el.descend(
                memory(synapse),
                {"v": q},
                steps=20,
                step_size=0.2,
                checkpoint=checkpoint,
            )

        return jax.vmap(run)(queries)

    expected, got = retrieve(direct), retrieve(blocked)
    assert _close(got.states, expected.states, rtol=1e-5, atol=1e-6)
    assert _close(got.energies, expected.energies, rtol=1e-5, atol=1e-6)

    def loss(synapse, checkpoint):
        states = retrieve(synapse, checkpoint).states["v"]
        return jnp.mean((states - direct.patterns[:5]) ** 2)

    expected = eqx.filter_grad(loss)(direct, False)
    for checkpoint in (False, True):
        got = eqx.filter_grad(loss)(blocked, checkpoint)
        assert _close(got, expected, rtol=1e-4, atol=1e-7)


def test_no_overflow_and_nan_propagates(getkey):
    direct, blocked = _pair(20, 3, 5, getkey(), beta=50.0)
    query = jnp.array([1e4, -3e3, 2e4])
    energy = blocked(query)
    assert bool(jnp.isfinite(energy))
    np.testing.assert_allclose(energy, direct(query), rtol=1e-6)
    assert bool(jnp.all(jnp.isfinite(jax.grad(blocked)(query))))
    assert bool(jnp.isnan(blocked(jnp.array([0.0, jnp.nan, 1.0]))))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_queries(dtype, getkey):
    direct, blocked = _pair(30, 4, 10, getkey())
    query = jr.normal(getkey(), (4,)).astype(dtype)
    energy = blocked(query)
    assert energy.dtype == jnp.float32  # the patterns' dtype wins, as in `patterns @ g`
    np.testing.assert_allclose(energy, direct(query), rtol=1e-6, atol=1e-6)


def test_half_precision_patterns(getkey):
    """bfloat16 patterns: the logits are computed in float32 block by block, and the
    gradient in the patterns is bfloat16 like them."""
    direct, blocked = _pair(24, 8, 6, getkey())

    def half(s):
        return eqx.tree_at(lambda s: s.patterns, s, s.patterns.astype(jnp.bfloat16))

    exact = eqx.tree_at(  # the direct form, on the bfloat16 values held in float32
        lambda s: s.patterns, direct, half(direct).patterns.astype(jnp.float32)
    )
    query = jr.normal(getkey(), (8,))
    energy = half(blocked)(query)
    assert energy.dtype == jnp.float32
    np.testing.assert_allclose(energy, exact(query), rtol=1e-6, atol=1e-6)
    grads = eqx.filter_grad(lambda s: s(query))(half(blocked))
    assert grads.patterns.dtype == jnp.bfloat16
    expected = eqx.filter_grad(lambda s: s(query))(exact).patterns
    np.testing.assert_allclose(
        grads.patterns.astype(jnp.float32), expected, rtol=1e-2, atol=1e-3
    )


def test_memory_grows_with_block_size_not_patterns(getkey):
    """XLA's account of the compiled training gradient (energies of a batch of
    queries, differentiated in the patterns and β): the blocked form's working
    memory stays flat as the patterns grow eightfold, the direct form's does not."""

    def temp_bytes(synapse, queries):
        params, static = eqx.partition(synapse, eqx.is_array)
        fn = jax.jit(jax.grad(lambda p, q: _batch_energy(eqx.combine(p, static), q)))
        analysis = fn.lower(params, queries).compile().memory_analysis()
        assert analysis is not None
        return analysis.temp_size_in_bytes

    queries = jr.normal(getkey(), (64, 32))
    temps = {}
    for num_patterns in (2_000, 16_000):
        direct, blocked = _pair(num_patterns, 32, 500, getkey())
        temps[num_patterns] = (
            temp_bytes(direct, queries),
            temp_bytes(blocked, queries),
        )
    (direct_small, blocked_small), (direct_large, blocked_large) = temps.values()
    assert direct_large > 6 * direct_small
    assert blocked_large < 1.2 * blocked_small
    # The blocked working memory is about one block of logits per query, not more.
    assert blocked_large < 8 * 64 * 500 * 4


@pytest.mark.parametrize("block_size", [0, -4, True, 2.5, "4"])
def test_block_size_must_be_a_positive_int(block_size, getkey):
    # Under this suite's jaxtyping hook a float or string fails the `int` annotation
    # first (a TypeError naming `block_size`); without it, the library's own check.
    expected = ValueError if isinstance(block_size, int) else (ValueError, TypeError)
    with pytest.raises(expected, match=r"block_size"):
        el.LogSumExpSynapse(12, 3, block_size=block_size, key=getkey())
    if isinstance(block_size, int):
        with pytest.raises(ValueError, match=r"`block_size` must be a positive int"):
            el.LogSumExpSynapse(12, 3, block_size=block_size, key=getkey())


def test_block_size_must_divide_patterns(getkey):
    with pytest.raises(
        ValueError,
        match=r"`block_size` must divide the number of patterns \(1000\), got "
        r"block_size=300; the nearest divisors are \[200, 250\]",
    ):
        el.LogSumExpSynapse(1000, 3, block_size=300, key=getkey())
    synapse = el.LogSumExpSynapse(12, 3, block_size=4, key=getkey())
    # Patterns replaced by others, of a count the block size does not divide.
    other = eqx.tree_at(lambda s: s.patterns, synapse, jnp.ones((10, 3)))
    with pytest.raises(ValueError, match=r"must divide the number of patterns \(10\)"):
        other(jnp.ones(3))
