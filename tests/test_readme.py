"""The README's Python examples run as written and do what they say."""

import pathlib
import re

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
