"""Shared by the sharding tests: meshes, the memories they shard, and the checks that
a sharded result equals the unsharded one and is really spread over the devices."""

import math
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import eqx_lagrangians as el


# float32 precision. A sharded reduction (a dot product over the pattern axis, a
# softmax's sum, a gradient summed over the batch) adds per-device partial sums, so
# its rounding differs from the unsharded one in the last bits, and 20 steps of
# descent carry that on: the largest differences seen are 1.4e-6 on energies of
# order 5 (3e-7 relative) and 1.6e-7 on gradients of order 0.1.
RTOL, ATOL = 1e-5, 1e-6
STEPS, STEP_SIZE = 20, 0.1


def make_mesh(shape: tuple[int, ...], names: tuple[str, ...]) -> Mesh:
    """A mesh over the first `prod(shape)` devices."""
    devices = np.array(jax.devices()[: math.prod(shape)]).reshape(shape)
    return Mesh(devices, names)


def put(tree, mesh: Mesh, spec: P):
    """The arrays of `tree` placed on `mesh` as `spec` (outside `jit`: a copy)."""
    return eqx.filter_shard(tree, NamedSharding(mesh, spec))


def dense_memory(dim: int, num_patterns: int, *, key) -> el.AssociativeMemory:
    """A visible layer and a softmax hidden layer of `num_patterns` neurons, joined by
    a dense synapse whose columns are the stored patterns."""
    return el.AssociativeMemory(
        neurons={
            "visible": el.NeuronLayer(
                el.LayerNorm(1.5, jnp.linspace(-0.1, 0.1, dim)), dim
            ),
            "hidden": el.NeuronLayer(el.Softmax(beta=2.0), num_patterns, tau=0.5),
        },
        synapses={"patterns": el.DenseSynapse(dim, num_patterns, key=key)},
        connections=[(("visible", "hidden"), "patterns")],
    )


def lse_memory(
    dim: int, num_patterns: int, block_size: int | None, *, key
) -> el.AssociativeMemory:
    """One visible layer and a log-sum-exp synapse over `num_patterns` stored rows."""
    # `block_size` only when given: the default must work without the keyword.
    blocks = {} if block_size is None else {"block_size": block_size}
    synapse = el.LogSumExpSynapse(num_patterns, dim, 4.0, key=key, **blocks)
    return el.AssociativeMemory(
        neurons={"visible": el.NeuronLayer(el.Identity(), dim)},
        synapses={"patterns": synapse},
        connections=[(("visible",), "patterns")],
    )


def shard_leaf(tree, where, mesh: Mesh, spec: P):
    """`tree` with the array at `where` (a function of `tree`) placed as `spec`."""
    return eqx.tree_at(
        where, tree, jax.device_put(where(tree), NamedSharding(mesh, spec))
    )


def assert_close(sharded, unsharded) -> None:
    """The same tree structure, and every array equal to float32 precision."""
    sharded_arrays, sharded_def = jax.tree.flatten(eqx.filter(sharded, eqx.is_array))
    arrays, treedef = jax.tree.flatten(eqx.filter(unsharded, eqx.is_array))
    assert sharded_def == treedef
    for a, b in zip(sharded_arrays, arrays, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL)


def assert_laid_out(array: jax.Array, mesh: Mesh, spec: P) -> None:
    """`array` lives on every device of `mesh`, laid out as `spec`: split along the
    dimensions that `spec` names a mesh axis for (each device holds only its block,
    nothing was gathered onto one device), replicated along the rest."""
    assert len(array.sharding.device_set) == mesh.size, array.sharding
    expected = NamedSharding(mesh, spec)
    assert array.sharding.is_equivalent_to(expected, array.ndim), (
        array.sharding,
        expected,
    )
    block = expected.shard_shape(array.shape)
    assert {shard.data.shape for shard in array.addressable_shards} == {block}
    split = any(axis is not None for axis in spec)
    assert array.sharding.is_fully_replicated is not split, array.sharding


def assert_tree_replicated(tree, mesh: Mesh) -> None:
    """Every array of `tree` is a full copy on every device of `mesh`."""
    for leaf in jax.tree.leaves(eqx.filter(tree, eqx.is_array)):
        assert_laid_out(leaf, mesh, P())


_SHAPE = re.compile(r"\b[a-z]+\d*\[([\d,]*)\]")


def run_compiled(fn, *args):
    """Compile the `eqx.filter_jit`-ed `fn` for `args` and run it.

    **Returns:** its output and the largest number of elements of an array that the
    compiled program gathers across devices (all-gather, all-to-all; 0 if none)."""
    compiled = fn.lower(*args).compile()
    text = compiled.compiled.as_text()
    largest = 0
    for line in text.splitlines():
        match = re.search(r"=(.*?)\b(all-gather|all-gather-start|all-to-all)\(", line)
        if match:
            for dims in _SHAPE.findall(match.group(1)):
                size = math.prod(int(d) for d in dims.split(",") if d)
                largest = max(largest, size)
    return compiled(*args), largest
