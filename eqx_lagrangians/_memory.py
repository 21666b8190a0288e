r"""An associative memory: neuron layers joined by synapses, with one total energy."""

from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._misc import compute_dtype
from ._neurons import NeuronLayer


class AssociativeMemory(eqx.Module):
    r"""Neuron layers joined by synapses (a hierarchical associative memory).

    The total energy of states $x$ (one array per layer) is

    $$E = \sum_\text{layers} \Big(\sum_i x_i g_i - L(x)\Big)
        + \sum_\text{connections} E_\text{synapse}(g_{\ell_1}, g_{\ell_2}, \dots),$$

    and $\partial E / \partial g = x - I$ for each layer, where
    $I = -\partial E_\text{syn} / \partial g$ is its input. Descent along $-\partial E /
    \partial g$ (see `el.descend`) never increases $E$, because every Lagrangian is
    convex.

    ??? cite
        [A Universal Abstraction for Hierarchical Hopfield Networks](https://openreview.net/forum?id=SAv3nhzNWhw)
    """

    neurons: dict[str, NeuronLayer]
    synapses: dict[str, Callable[..., Array]]
    connections: tuple[tuple[tuple[str, ...], str], ...] = eqx.field(static=True)

    def __init__(
        self,
        neurons: dict[str, NeuronLayer],
        synapses: dict[str, Callable[..., Array]],
        connections: list[tuple[tuple[str, ...], str]],
    ):
        """**Arguments:**

        - `neurons`: layers by name.
        - `synapses`: synapses by name: `eqx.Module`s whose `__call__(*activations)`
            returns a scalar energy.
        - `connections`: `(layer_names, synapse_name)` pairs: the synapse is called
            with the activations of those layers, in that order. A synapse may be
            used by several connections (shared weights); a layer may have none.

        Unknown layer or synapse names, unused synapses, and synapses whose shapes do
        not fit their layers raise a `ValueError` naming them.
        """
        self.neurons = dict(neurons)
        self.synapses = dict(synapses)
        for layers, synapse in connections:
            if isinstance(layers, str):
                raise ValueError(
                    f"connection ({layers!r}, {synapse!r}): the layers must be a tuple "
                    f"of names, e.g. ({layers!r},), not the string {layers!r}."
                )
        self.connections = tuple(
            (tuple(layers), synapse) for layers, synapse in connections
        )
        self._check()

    def _check(self):
        for name, layer in self.neurons.items():
            if not isinstance(layer, NeuronLayer):
                raise TypeError(
                    f"neuron {name!r} must be an el.NeuronLayer, got {layer!r}."
                )
        used = set()
        for layers, synapse in self.connections:
            if synapse not in self.synapses:
                raise ValueError(
                    f"connection {layers} -> {synapse!r}: unknown synapse {synapse!r}; "
                    f"the synapses are {sorted(self.synapses)}."
                )
            for layer in layers:
                if layer not in self.neurons:
                    raise ValueError(
                        f"connection {layers} -> {synapse!r}: unknown layer {layer!r}; "
                        f"the layers are {sorted(self.neurons)}."
                    )
            used.add(synapse)
            shapes = [self.neurons[layer].shape for layer in layers]
            args = [jax.ShapeDtypeStruct(shape, jnp.float32) for shape in shapes]
            try:
                out = jax.eval_shape(self.synapses[synapse], *args)
            except Exception as error:  # the synapse's own message says what failed
                raise ValueError(
                    f"synapse {synapse!r} does not fit layers {layers} of shapes "
                    f"{shapes}: {error}"
                ) from error
            if getattr(out, "shape", None) != ():
                raise ValueError(
                    f"synapse {synapse!r} must return a scalar energy, got "
                    f"{getattr(out, 'shape', out)} for layers {layers}."
                )
        unused = sorted(set(self.synapses) - used)
        if unused:
            raise ValueError(f"synapses {unused} are not used by any connection.")

    def _check_states(self, xs: Mapping[str, ArrayLike]) -> None:
        if not isinstance(xs, Mapping) or set(xs) != set(self.neurons):
            given = sorted(xs) if isinstance(xs, Mapping) else type(xs).__name__
            raise ValueError(
                "states must be a dict with one entry per layer "
                f"{sorted(self.neurons)}, got {given}."
            )

    def init(self) -> dict[str, Float[Array, "..."]]:
        """**Returns:** the resting states, a dict of zeros, one per layer."""
        return {name: layer.init() for name, layer in self.neurons.items()}

    def activations(
        self, xs: Mapping[str, ArrayLike]
    ) -> dict[str, Float[Array, "..."]]:
        """**Returns:** the activations $g = \\nabla L(x)$ of every layer."""
        self._check_states(xs)
        return {
            name: layer.activation(xs[name]) for name, layer in self.neurons.items()
        }

    def synapse_energy(self, gs: dict[str, Array]) -> Float[Array, ""]:
        """**Returns:** the total energy of the synapses, for the activations `gs`."""
        energy = 0.0  # a weakly typed zero: the sum takes the energies' dtype
        for layers, synapse in self.connections:
            energy = energy + self.synapses[synapse](*(gs[layer] for layer in layers))
        return jnp.asarray(energy)

    def energy_tree(self, xs: Mapping[str, ArrayLike]) -> dict[str, dict[str, Array]]:
        """**Returns:** `{"neurons": {layer: energy}, "synapses": {synapse: energy}}`,
        each synapse's energy summed over its connections."""
        self._check_states(xs)
        gs = self.activations(xs)
        synapses = {}
        for layers, synapse in self.connections:
            energy = self.synapses[synapse](*(gs[layer] for layer in layers))
            synapses[synapse] = synapses.get(synapse, 0.0) + energy
        neurons = {name: layer.energy(xs[name]) for name, layer in self.neurons.items()}
        return {"neurons": neurons, "synapses": synapses}

    def energy(self, xs: Mapping[str, ArrayLike]) -> Float[Array, ""]:
        """**Returns:** the total energy $E$, a scalar."""
        return self.energy_and_grad(xs)[0]

    def grad_activations(self, xs: Mapping[str, ArrayLike]) -> dict[str, Array]:
        r"""**Returns:** $\partial E / \partial g = x - I$ for every layer, where
        $I = -\partial E_\text{syn} / \partial g$ is the layer's input."""
        return self.energy_and_grad(xs)[1]

    def energy_and_grad(
        self, xs: Mapping[str, ArrayLike]
    ) -> tuple[Float[Array, ""], dict[str, Array]]:
        """**Returns:** the total energy and $\\partial E / \\partial g$ together, in
        one pass (what each step of descent needs). Both are computed in at least
        float32, whatever the states' dtype (float16 states are not summed in
        float16)."""
        self._check_states(xs)
        neuron_energy = 0.0
        states, gs = {}, {}
        for name, layer in self.neurons.items():
            x = layer._check(xs[name])
            x = x.astype(compute_dtype(x.dtype))
            value, g = eqx.filter_value_and_grad(layer.lagrangian)(x)
            states[name], gs[name] = x, g
            neuron_energy = neuron_energy + jnp.sum(x * g) - value
        synapse_energy, synapse_grads = jax.value_and_grad(self.synapse_energy)(gs)
        grads = {name: states[name] + synapse_grads[name] for name in self.neurons}
        return neuron_energy + synapse_energy, grads
