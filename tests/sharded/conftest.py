import jax


if jax.device_count() < 4:
    raise RuntimeError(
        f"tests/sharded needs 4 devices, but JAX sees {jax.device_count()}: run it as "
        "`XLA_FLAGS=--xla_force_host_platform_device_count=4 pytest tests/sharded` "
        "(as `make test` does), which splits the CPU into 4 devices. (That flag makes "
        "CPU devices only: where JAX's default backend is a single GPU, add "
        "`JAX_PLATFORMS=cpu`.)"
    )
