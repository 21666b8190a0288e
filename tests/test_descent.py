"""Energy descent: its guarantees, clamping, the modern Hopfield fixed point, and
transformations."""

import equinox as eqx
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, strategies as st

import eqx_lagrangians as el

from .cases import CASES


DIM, HIDDEN = 6, 4


def _memory(visible, weight, beta=1.0, tau_hidden=0.5):
    synapse = eqx.tree_at(
        lambda s: s.weight, el.DenseSynapse(*weight.shape, key=jr.key(0)), weight
    )
    return el.AssociativeMemory(
        neurons={
            "visible": el.NeuronLayer(visible, weight.shape[0]),
            "hidden": el.NeuronLayer(
                el.Softmax(beta=beta), weight.shape[1], tau_hidden
            ),
        },
        synapses={"dense": synapse},
        connections=[(("visible", "hidden"), "dense")],
    )


def _floats(low, high):
    return st.floats(low, high, width=32, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(
    weight=hnp.arrays(np.float32, (DIM, HIDDEN), elements=_floats(-1, 1)),
    visible=hnp.arrays(np.float32, (DIM,), elements=_floats(-3, 3)),
    hidden=hnp.arrays(np.float32, (HIDDEN,), elements=_floats(-3, 3)),
)
def test_energy_never_increases(case, weight, visible, hidden):
    memory = _memory(case.module(), jnp.asarray(weight) / np.sqrt(DIM))
    xs = {"visible": jnp.asarray(visible), "hidden": jnp.asarray(hidden)}
    energies = el.descend(memory, xs, steps=30, step_size=0.1).energies
    assert energies.shape == (31,)
    assert bool(jnp.all(jnp.isfinite(energies)))
    increase = jnp.diff(energies)
    scale = 1 + jnp.abs(energies[:-1])
    assert bool(jnp.all(increase <= 1e-5 * scale)), energies


def test_clamped_entries_never_move(getkey):
    memory = _memory(el.Tanh(), jr.normal(getkey(), (DIM, HIDDEN)))
    xs = {
        "visible": jr.normal(getkey(), (DIM,)),
        "hidden": jr.normal(getkey(), (HIDDEN,)),
    }
    mask = jnp.array([True, False, True, False, False, True])
    result = el.descend(memory, xs, steps=50, clamp={"visible": mask, "hidden": False})
    visible = result.states["visible"]
    np.testing.assert_array_equal(visible[mask], xs["visible"][mask])
    assert bool(jnp.all(visible[~mask] != xs["visible"][~mask]))
    assert not np.allclose(result.states["hidden"], xs["hidden"])
    whole = el.descend(memory, xs, steps=50, clamp={"hidden": True})
    np.testing.assert_array_equal(whole.states["hidden"], xs["hidden"])
    assert bool(jnp.all(jnp.diff(whole.energies) <= 1e-6))


def _hopfield(key, dim=16, num_patterns=5, beta=4.0):
    patterns = jr.normal(key, (dim, num_patterns))  # columns are stored patterns
    return patterns, _memory(el.Identity(), patterns, beta=beta)


def test_converges_to_modern_hopfield_fixed_point(getkey):
    beta = 4.0
    patterns, memory = _hopfield(getkey(), beta=beta)
    query = patterns[:, 2] + 0.5 * jr.normal(getkey(), (16,))
    xs = {"visible": query, "hidden": jnp.zeros(5)}
    result = el.descend(memory, xs, steps=400, step_size=0.1)
    xi = result.states["visible"]
    update = patterns @ jax.nn.softmax(beta * patterns.T @ xi)
    np.testing.assert_allclose(xi, update, atol=1e-4)
    # Retrieval: the corrupted query converges to the stored pattern.
    np.testing.assert_allclose(xi, patterns[:, 2], atol=1e-3)


def test_one_update_is_attention(getkey):
    # With the hidden layer at equilibrium (x_h = Wᵀ ξ) and held there, one step of
    # size 1 sets the visible state to its input W softmax(β Wᵀ ξ): attention of the
    # query ξ over keys and values Wᵀ, with scale β.
    beta = 0.7
    patterns, memory = _hopfield(getkey(), beta=beta)
    xi = jr.normal(getkey(), (16,))
    xs = {"visible": xi, "hidden": patterns.T @ xi}
    result = el.descend(memory, xs, steps=1, step_size=1.0, clamp={"hidden": True})
    keys = patterns.T[:, None, :]  # (num_patterns, heads=1, dim)
    attention = jax.nn.dot_product_attention(xi[None, None, :], keys, keys, scale=beta)
    np.testing.assert_allclose(result.states["visible"], attention[0, 0], rtol=1e-5)


def test_vmap_and_jit_equal_per_sample(getkey):
    patterns, memory = _hopfield(getkey())
    queries = jr.normal(getkey(), (8, 16))

    def run(query):
        return el.descend(memory, {"visible": query, "hidden": jnp.zeros(5)}, steps=20)

    batched = jax.vmap(run)(queries)
    assert batched.energies.shape == (8, 21)
    jitted = jax.jit(jax.vmap(run))(queries)
    for i, query in enumerate(queries):
        single = run(query)
        np.testing.assert_allclose(
            batched.states["visible"][i], single.states["visible"], rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(batched.energies[i], single.energies, rtol=1e-5)
        np.testing.assert_allclose(
            jitted.states["hidden"][i], single.states["hidden"], rtol=1e-5, atol=1e-6
        )


def test_per_layer_tau(getkey):
    # A layer with τ = 2 moves half as far per step as with τ = 1.
    patterns, memory = _hopfield(getkey())
    xs = {"visible": jr.normal(getkey(), (16,)), "hidden": jnp.zeros(5)}
    step = el.descend(memory, xs, steps=1, clamp={"visible": True})
    grads = memory.grad_activations(xs)
    np.testing.assert_allclose(
        step.states["hidden"], xs["hidden"] - 0.1 / 0.5 * grads["hidden"], rtol=1e-6
    )


def test_tolerance_mode(getkey):
    patterns, memory = _hopfield(getkey())
    xs = {"visible": patterns[:, 0] + 0.3, "hidden": jnp.zeros(5)}
    result = el.descend(memory, xs, steps=1000, tol=1e-4)
    num_steps = int(result.num_steps)
    assert 0 < num_steps < 1000
    assert result.energies.shape == (1001,)
    # The last step moved no entry by more than tol; the one before did.
    fixed = el.descend(memory, xs, steps=num_steps)
    np.testing.assert_allclose(
        result.states["visible"], fixed.states["visible"], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        result.energies[: num_steps + 1], fixed.energies, rtol=1e-6
    )
    np.testing.assert_allclose(
        result.energies[num_steps:], fixed.energies[-1], rtol=1e-6
    )
    before = el.descend(memory, xs, steps=num_steps - 1).states
    after = el.descend(memory, before, steps=1).states
    change = max(float(jnp.max(jnp.abs(after[k] - before[k]))) for k in xs)
    assert change < 1e-4
    earlier = el.descend(memory, xs, steps=num_steps - 2).states
    change = max(float(jnp.max(jnp.abs(before[k] - earlier[k]))) for k in xs)
    assert change >= 1e-4
    # Batched, each sample stops on its own.
    queries = jnp.stack([patterns[:, 0] + 0.3, patterns[:, 1]])
    batched = jax.vmap(
        lambda q: el.descend(
            memory, {"visible": q, "hidden": jnp.zeros(5)}, steps=1000, tol=1e-4
        )
    )(queries)
    assert int(batched.num_steps[0]) == num_steps
    for i, query in enumerate(queries):
        single = el.descend(
            memory, {"visible": query, "hidden": jnp.zeros(5)}, steps=1000, tol=1e-4
        )
        assert int(batched.num_steps[i]) == int(single.num_steps)
        np.testing.assert_allclose(
            batched.states["visible"][i], single.states["visible"], atol=1e-6
        )


def test_tolerance_mode_does_not_take_nan_for_convergence():
    # Exploding dynamics (huge weights, Exp neurons, big steps) reach NaN: the loop
    # must run to its cap rather than report convergence.
    weight = 30 * jnp.ones((3, 3))
    memory = _memory(el.Exp(), weight)
    memory = eqx.tree_at(lambda m: m.neurons["hidden"].lagrangian, memory, el.Exp())
    xs = {"visible": jnp.ones(3), "hidden": jnp.ones(3)}
    result = el.descend(memory, xs, steps=50, step_size=0.9, tol=1e-4)
    assert not bool(jnp.all(jnp.isfinite(result.states["visible"])))
    assert int(result.num_steps) == 50


def test_step_size_and_flags_as_arrays(getkey):
    # A traced step size and a traced (0-d) clamp flag, e.g. per sample under vmap.
    patterns, memory = _hopfield(getkey())
    xs = {"visible": jr.normal(getkey(), (16,)), "hidden": jnp.zeros(5)}

    def run(step_size, hold):
        return el.descend(
            memory, xs, steps=3, step_size=step_size, clamp={"visible": hold}
        ).states["visible"]

    out = jax.vmap(run)(jnp.array([0.1, 0.2]), jnp.array([True, False]))
    np.testing.assert_array_equal(out[0], xs["visible"])
    expected = el.descend(memory, xs, steps=3, step_size=0.2).states["visible"]
    np.testing.assert_allclose(out[1], expected, rtol=1e-6)


def test_low_precision_states(getkey):
    # float16 states: energies are computed in float32, not summed in float16.
    memory = _memory(el.LayerNorm(), jr.normal(getkey(), (768, 4)) / 28)
    x = (300 * jr.normal(getkey(), (768,))).astype(jnp.float16)
    xs16 = {"visible": x, "hidden": jnp.zeros(4, jnp.float16)}
    xs32 = jax.tree.map(lambda a: a.astype(jnp.float32), xs16)
    np.testing.assert_allclose(memory.energy(xs16), memory.energy(xs32), rtol=1e-5)
    result = el.descend(memory, xs16, steps=5)
    assert result.states["visible"].dtype == jnp.float16
    assert bool(jnp.all(jnp.isfinite(result.energies)))
    reference = el.descend(memory, xs32, steps=5).energies
    np.testing.assert_allclose(result.energies[0], reference[0], rtol=1e-5)
    # Later states are rounded to float16 (300 ± 0.1), which moves the energy a bit.
    np.testing.assert_allclose(result.energies, reference, atol=0.1)


def test_checkpointed_descent_has_the_same_gradient(getkey):
    patterns, memory = _hopfield(getkey())
    xs = {"visible": jr.normal(getkey(), (16,)), "hidden": jnp.zeros(5)}

    def loss(memory, checkpoint):
        result = el.descend(memory, xs, steps=30, checkpoint=checkpoint)
        return jnp.sum(result.states["visible"] ** 2)

    plain = eqx.filter_grad(loss)(memory, False)
    checkpointed = eqx.filter_grad(loss)(memory, True)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(checkpointed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": -1}, r"`steps` must be an int >= 0, got steps=-1"),
        ({"steps": 5, "tol": 0.0}, r"`tol` must be finite and > 0, got tol=0.0"),
        ({"steps": 5, "step_size": -0.5}, r"`step_size` must be finite and > 0"),
        ({"steps": 5, "clamp": {"nope": True}}, r"unknown layers \['nope'\]"),
        (
            {"steps": 5, "clamp": {"visible": jnp.ones(3, bool)}},
            r"`clamp\['visible'\]` must be True, False or a boolean mask of shape",
        ),
    ],
)
def test_descend_errors(kwargs, match, getkey):
    patterns, memory = _hopfield(getkey())
    with pytest.raises(ValueError, match=match):
        el.descend(memory, memory.init(), **kwargs)
