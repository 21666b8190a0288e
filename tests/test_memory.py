"""Neuron layers, synapses and associative memories."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_lagrangians as el


def _memory(key, visible=None, dim=6, hidden=4, beta=1.0):
    synapse = el.DenseSynapse(dim, hidden, key=key)
    return el.AssociativeMemory(
        neurons={
            "visible": el.NeuronLayer(visible or el.LayerNorm(), dim),
            "hidden": el.NeuronLayer(el.Softmax(beta=beta), hidden, tau=0.5),
        },
        synapses={"dense": synapse, "bias": el.BiasSynapse(hidden)},
        connections=[(("visible", "hidden"), "dense"), (("hidden",), "bias")],
    )


def _random_states(memory, key):
    keys = jr.split(key, len(memory.neurons))
    return {
        name: jr.normal(k, layer.shape)
        for k, (name, layer) in zip(keys, memory.neurons.items())
    }


# --- NeuronLayer. -----------------------------------------------------------------


def test_neuron_layer(getkey):
    layer = el.NeuronLayer(el.Tanh(beta=2.0), (3, 4), tau=2.0)
    assert layer.init().shape == (3, 4) and not bool(jnp.any(layer.init()))
    x = jr.normal(getkey(), (3, 4))
    np.testing.assert_allclose(layer.activation(x), jnp.tanh(2 * x), rtol=1e-6)
    np.testing.assert_allclose(layer.energy(x), el.Tanh(2.0).energy(x), rtol=1e-6)
    assert el.NeuronLayer(el.Identity(), 5).shape == (5,)


def test_neuron_layer_errors():
    with pytest.raises(ValueError, match=r"shape \(3,\), got an array of shape \(4,\)"):
        el.NeuronLayer(el.Identity(), 3).activation(jnp.ones(4))
    with pytest.raises(ValueError, match=r"`tau` must be finite and > 0, got tau=0.0"):
        el.NeuronLayer(el.Identity(), 3, tau=0.0)
    with pytest.raises(ValueError, match=r"`shape` must be a tuple of positive ints"):
        el.NeuronLayer(el.Identity(), (3, 0))
    with pytest.raises(TypeError, match=r"lagrangian"):
        el.NeuronLayer(jnp.tanh, 3)  # pyright: ignore[reportArgumentType]


# --- Synapses. --------------------------------------------------------------------


def test_dense_synapse(getkey):
    synapse = el.DenseSynapse(5, 3, key=getkey())
    assert synapse.weight.shape == (5, 3)
    g1, g2 = jr.normal(getkey(), (5,)), jr.normal(getkey(), (3,))
    np.testing.assert_allclose(synapse(g1, g2), -g1 @ synapse.weight @ g2, rtol=1e-6)
    # Documented initialisation: N(0, 1/dim1).
    big = el.DenseSynapse(400, 300, key=getkey())
    assert float(jnp.std(big.weight)) == pytest.approx(1 / 20, rel=0.02)
    with pytest.raises(ValueError, match=r"activation 2 of shape \(3,\), got shape"):
        synapse(g1, jnp.ones(4))
    with pytest.raises(ValueError, match=r"`dim1` must be a positive int"):
        el.DenseSynapse(0, 3, key=getkey())


def test_bias_synapse(getkey):
    synapse = el.BiasSynapse(4, key=getkey())
    assert not bool(jnp.any(synapse.bias))
    synapse = eqx.tree_at(lambda s: s.bias, synapse, jnp.arange(4.0))
    g = jr.normal(getkey(), (4,))
    np.testing.assert_allclose(synapse(g), -jnp.arange(4.0) @ g, rtol=1e-6)


@pytest.mark.parametrize(("stride", "padding"), [(1, "VALID"), (2, "SAME")])
def test_conv_synapse(stride, padding, getkey):
    synapse = el.ConvSynapse(2, 3, (3, 2), stride=stride, padding=padding, key=getkey())
    g1 = jr.normal(getkey(), (7, 6, 2))
    conv = synapse.convolve(g1)
    # Compare with an explicit sum over the kernel window.
    kernel = np.asarray(synapse.kernel)
    padded = np.asarray(g1)
    if padding == "SAME":
        out_h, out_w = -(-7 // stride), -(-6 // stride)
        pad_h = max((out_h - 1) * stride + 3 - 7, 0)
        pad_w = max((out_w - 1) * stride + 2 - 6, 0)
        padded = np.pad(
            padded,
            (
                (pad_h // 2, pad_h - pad_h // 2),
                (pad_w // 2, pad_w - pad_w // 2),
                (0, 0),
            ),
        )
    expected = np.zeros(conv.shape)
    for i in range(conv.shape[0]):
        for j in range(conv.shape[1]):
            window = padded[i * stride : i * stride + 3, j * stride : j * stride + 2]
            expected[i, j] = np.einsum("hwc,hwcd->d", window, kernel)
    np.testing.assert_allclose(conv, expected, rtol=1e-5, atol=1e-5)
    g2 = jr.normal(getkey(), conv.shape)
    np.testing.assert_allclose(
        synapse(g1, g2), -np.sum(g2 * expected), rtol=1e-5, atol=1e-5
    )
    # Layer 1's input is the transposed convolution of g2: the adjoint identity.
    input1 = -jax.grad(synapse)(g1, g2)
    np.testing.assert_allclose(
        jnp.sum(input1 * g1), jnp.sum(g2 * conv), rtol=1e-5, atol=1e-5
    )


def test_log_sum_exp_synapse(getkey):
    synapse = el.LogSumExpSynapse(7, 5, beta=2.0, key=getkey())
    g = jr.normal(getkey(), (5,))
    scores = 2.0 * synapse.patterns @ g
    np.testing.assert_allclose(
        synapse(g), -jax.nn.logsumexp(scores) / 2.0, rtol=1e-5, atol=1e-6
    )
    expected = synapse.patterns.T @ jax.nn.softmax(scores)
    np.testing.assert_allclose(-jax.grad(synapse)(g), expected, rtol=1e-5, atol=1e-6)
    grads = eqx.filter_grad(lambda s: s(g))(synapse)
    assert bool(jnp.all(grads.patterns != 0)) and float(grads.raw_beta) != 0
    with pytest.raises(ValueError, match=r"`beta` must be finite and >= 1e-06"):
        el.LogSumExpSynapse(7, 5, beta=0.0, key=getkey())


# --- AssociativeMemory. -----------------------------------------------------------


def test_energy_is_sum_of_energy_tree(getkey):
    memory = _memory(getkey())
    xs = _random_states(memory, getkey())
    tree = memory.energy_tree(xs)
    assert set(tree["neurons"]) == {"visible", "hidden"}
    assert set(tree["synapses"]) == {"dense", "bias"}
    total = sum(jax.tree.leaves(tree))
    np.testing.assert_allclose(memory.energy(xs), total, rtol=1e-5, atol=1e-6)
    gs = memory.activations(xs)
    expected = -gs["visible"] @ memory.synapses["dense"].weight @ gs["hidden"]
    np.testing.assert_allclose(tree["synapses"]["dense"], expected, rtol=1e-5)
    layer = memory.neurons["visible"]
    np.testing.assert_allclose(tree["neurons"]["visible"], layer.energy(xs["visible"]))
    assert {k: v.shape for k, v in memory.init().items()} == {
        "visible": (6,),
        "hidden": (4,),
    }


def test_grad_activations(getkey):
    # ∂E/∂x = H_L ∂E/∂g for every layer, and ∂E/∂g = x − I.
    memory = _memory(getkey(), visible=el.Tanh(beta=1.5))
    xs = _random_states(memory, getkey())
    grads = memory.grad_activations(xs)
    dE_dx = jax.grad(memory.energy)(xs)
    for name, layer in memory.neurons.items():
        hessian = jax.hessian(layer.lagrangian)(xs[name])
        np.testing.assert_allclose(
            dE_dx[name], hessian @ grads[name], rtol=1e-4, atol=1e-6
        )
    gs = memory.activations(xs)
    synapse_grads = jax.grad(memory.synapse_energy)(gs)
    for name in xs:
        inputs = -synapse_grads[name]
        np.testing.assert_allclose(grads[name], xs[name] - inputs, rtol=1e-6)


def test_synapse_joining_three_layers(getkey):
    class Triple(eqx.Module):
        weight: jax.Array

        def __call__(self, a, b, c):
            return -jnp.einsum("i,j,k,ijk->", a, b, c, self.weight)

    neurons = {
        "a": el.NeuronLayer(el.Identity(), 2),
        "b": el.NeuronLayer(el.Tanh(), 3),
        "c": el.NeuronLayer(el.Sigmoid(), 4),
    }
    weight = jr.normal(getkey(), (2, 3, 4))
    memory = el.AssociativeMemory(
        neurons, {"t": Triple(weight)}, [(("a", "b", "c"), "t")]
    )
    xs = _random_states(memory, getkey())
    gs = memory.activations(xs)
    expected = -jnp.einsum("i,j,k,ijk->", gs["a"], gs["b"], gs["c"], weight)
    np.testing.assert_allclose(
        memory.energy_tree(xs)["synapses"]["t"], expected, rtol=1e-5
    )


@pytest.mark.parametrize(
    ("connections", "synapses", "match"),
    [
        ([(("visible", "nope"), "dense")], None, r"unknown layer 'nope'"),
        ([(("visible", "hidden"), "nope")], None, r"unknown synapse 'nope'"),
        (
            [(("hidden", "visible"), "dense")],
            None,
            r"synapse 'dense' does not fit layers \('hidden', 'visible'\) of shapes "
            r"\[\(4,\), \(6,\)\]: DenseSynapse expects activation 1 of shape \(6,\)",
        ),
        (
            [(("visible", "hidden"), "dense")],
            "extra",
            r"synapses \['extra'\] are not used",
        ),
    ],
)
def test_memory_construction_errors(connections, synapses, match, getkey):
    neurons = {
        "visible": el.NeuronLayer(el.Identity(), 6),
        "hidden": el.NeuronLayer(el.Softmax(), 4),
    }
    all_synapses = {"dense": el.DenseSynapse(6, 4, key=getkey())}
    if synapses == "extra":
        all_synapses["extra"] = el.BiasSynapse(4)
    with pytest.raises(ValueError, match=match):
        el.AssociativeMemory(neurons, all_synapses, connections)


def test_construction_pitfalls(getkey):
    neurons = {"hidden": el.NeuronLayer(el.Softmax(), 4)}
    # (Under the suite's jaxtyping hook, beartype catches the bare string first.)
    with pytest.raises((ValueError, TypeError), match=r"(?s)'hidden'.*tuple"):
        el.AssociativeMemory(neurons, {"b": el.BiasSynapse(4)}, [("hidden", "b")])
    with pytest.raises(ValueError, match=r"LayerNorm does not fit a layer of shape"):
        el.NeuronLayer(el.LayerNorm(delta=jnp.ones(5)), 6)
    with pytest.raises(ValueError, match=r"Softmax does not fit a layer of shape \(\)"):
        el.NeuronLayer(el.Softmax(), ())
    # numpy integers are integers.
    assert el.NeuronLayer(el.Identity(), np.int64(3)).shape == (3,)
    assert el.DenseSynapse(np.int64(3), 2, key=getkey()).weight.shape == (3, 2)


def test_conv_synapse_in_low_precision(getkey):
    synapse = el.ConvSynapse(2, 3, 3, key=getkey())
    g1 = jr.normal(getkey(), (8, 8, 2))
    g2 = jr.normal(getkey(), (6, 6, 3))
    low = synapse(g1.astype(jnp.float16), g2.astype(jnp.float16))
    high = synapse(
        g1.astype(jnp.float16).astype(jnp.float32),
        g2.astype(jnp.float16).astype(jnp.float32),
    )
    np.testing.assert_allclose(low, high, rtol=1e-5)


def test_states_must_match_layers(getkey):
    memory = _memory(getkey())
    with pytest.raises(
        ValueError, match=r"one entry per layer \['hidden', 'visible'\]"
    ):
        memory.energy({"visible": jnp.zeros(6)})
    with pytest.raises(ValueError, match=r"shape \(4,\), got an array of shape \(5,\)"):
        memory.energy({"visible": jnp.zeros(6), "hidden": jnp.zeros(5)})
