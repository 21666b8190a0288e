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


def test_infinite_logits_as_the_direct_form(getkey):
    """A query that overflows gives logits of −∞ (weight 0), as in the direct form;
    when every logit is −∞, energy and input are 0 (a wholly masked softmax)."""
    direct, blocked = _pair(4, 2, 2, getkey(), beta=10.0)
    patterns = jnp.array([[-1.0, 1.0], [0.0, 1.0], [-1.0, 1.0], [0.0, 1.0]])

    def set_patterns(s):
        return eqx.tree_at(lambda s: s.patterns, s, patterns)

    direct, blocked = set_patterns(direct), set_patterns(blocked)
    # Logits [−∞, 10, −∞, 10]: the first block holds only −∞.
    query = jnp.array([3e38, 1.0])
    assert bool(jnp.isfinite(blocked(query)))
    np.testing.assert_allclose(blocked(query), direct(query), rtol=1e-6)
    np.testing.assert_allclose(
        jax.grad(blocked)(query), jax.grad(direct)(query), rtol=1e-6, atol=1e-6
    )
    # Every logit −∞.
    allneg = eqx.tree_at(lambda s: s.patterns, blocked, -jnp.ones((4, 2)))
    query = jnp.array([3e38, 3e38])
    assert float(allneg(query)) == 0.0
    assert bool(jnp.all(jax.grad(allneg)(query) == 0))


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


def _temp_mib(function, *args):
    compiled = jax.jit(function).lower(*args).compile()
    analysis = compiled.memory_analysis()
    assert analysis is not None
    return analysis.temp_size_in_bytes / 2**20


def _gradients(synapse):
    """Three gradients in the patterns and β of a batch of queries, each as a function
    of (the synapse's arrays, queries): of the energies; of the retrieval updates (a
    second-order gradient); of a loss through 3 steps of `el.descend`."""
    params, static = eqx.partition(synapse, eqx.is_array)

    def energies(params, queries):
        return _batch_energy(eqx.combine(params, static), queries)

    def updates(params, queries):
        update = jax.vmap(jax.grad(eqx.combine(params, static)))(queries)
        return jnp.sum(update**2)

    def through_descent(params, queries):
        memory = el.AssociativeMemory(
            neurons={"v": el.NeuronLayer(el.Identity(), queries.shape[-1])},
            synapses={"lse": eqx.combine(params, static)},
            connections=[(("v",), "lse")],
        )

        def one(query):
            return el.descend(memory, {"v": query}, steps=3, step_size=0.5).states

        return jnp.sum((jax.vmap(one)(queries)["v"] - queries) ** 2)

    return params, [jax.grad(f) for f in (energies, updates, through_descent)]


def test_memory_grows_with_block_size_not_batch_times_patterns(getkey):
    """XLA's account of the compiled gradients: the direct form's working memory grows
    with batch × patterns (all the logits); the blocked form's does not: it is a few
    blocks of logits and, for gradients in the patterns, buffers of the patterns'
    own size."""
    dim, block = 32, 500
    temps = {}
    for num_patterns, batch in [(2_000, 64), (16_000, 64), (16_000, 256)]:
        direct, blocked = _pair(num_patterns, dim, block, getkey())
        queries = jr.normal(getkey(), (batch, dim))
        for form, synapse in (("direct", direct), ("blocked", blocked)):
            params, gradients = _gradients(synapse)
            temps[form, num_patterns, batch] = [
                _temp_mib(gradient, params, queries) for gradient in gradients
            ]
    patterns_mib = 16_000 * dim * 4 / 2**20  # 1.95 MiB
    for k in range(3):
        direct = {key[1:]: temp[k] for key, temp in temps.items() if key[0] == "direct"}
        blocked = {
            key[1:]: temp[k] for key, temp in temps.items() if key[0] == "blocked"
        }
        # Direct: 8× the patterns, 4× the batch: ~8× and ~4× the memory.
        assert direct[16_000, 64] > 5 * direct[2_000, 64], (k, direct)
        assert direct[16_000, 256] > 3 * direct[16_000, 64], (k, direct)
        # Blocked: 4× the batch adds ~4 blocks of logits (4 × 64 × 500 × 4 B =
        # 0.5 MiB) at most; 8× the patterns adds at most 3 pattern-sized buffers.
        assert blocked[16_000, 256] < blocked[16_000, 64] + 1.5, (k, blocked)
        assert blocked[16_000, 64] < blocked[2_000, 64] + 3 * patterns_mib, (k, blocked)
        assert blocked[16_000, 256] < direct[16_000, 256] / 5, (k, blocked, direct)


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
