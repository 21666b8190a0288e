"""The README's Python examples run as written and do what they say.

Every ```python block runs, in order, in one namespace. A ```py block is shown, not
run: the multi-host recipe needs several processes (tests/sharded/test_multihost.py
runs it)."""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest


README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_python_blocks_run():
    blocks = _blocks()
    assert len(blocks) >= 2
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    # The quick example's optax step moved β from 2 to 2.019.
    assert float(namespace["lagrangian"].beta) == pytest.approx(2.019, abs=1e-3)
    for block in blocks[1:]:
        exec(compile(block, str(README), "exec"), namespace)
    # The freezing recipe moved γ out of the trainable leaves.
    assert namespace["params"].raw_gamma is None
    assert namespace["static"].raw_gamma is not None
    # The retrieval example gets every entry of the stored pattern back.
    retrieved, patterns = namespace["retrieved"], namespace["patterns"]
    assert bool((retrieved == patterns[:, 3]).all())
    energies = namespace["result"].energies
    assert float(energies[-1]) < float(energies[0])
    # The blocked synapse's inputs are the modern Hopfield update, per query.
    big, queries = namespace["big"], namespace["queries"]
    scores = 16.0 * queries @ big.patterns.T
    expected = jax.nn.softmax(scores, axis=-1) @ big.patterns
    np.testing.assert_allclose(namespace["inputs"], expected, rtol=1e-5, atol=1e-6)
    # The sharded retrieval: laid out like the queries, each back at its pattern.
    states = namespace["states"]
    assert states.sharding.is_equivalent_to(queries.sharding, states.ndim)
    nearest = jnp.argmax(states @ big.patterns.T, axis=-1)
    np.testing.assert_array_equal(nearest, jnp.arange(8))


def test_readme_shown_blocks_parse():
    """The ```py blocks are not run here, but they are valid Python."""
    blocks = re.findall(r"```py\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks
    for block in blocks:
        compile(block, str(README), "exec")
