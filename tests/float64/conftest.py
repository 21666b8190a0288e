import jax


if not jax.config.read("jax_enable_x64"):
    raise RuntimeError(
        "tests/float64 needs x64 for its whole process: run it as "
        "`JAX_ENABLE_X64=1 pytest tests/float64` (as `make test` does)."
    )
