import jax
import jax.random as jr
import pytest
from hypothesis import HealthCheck, settings


# Implicit rank promotion hides shape bugs: make it an error throughout the suite.
jax.config.update("jax_numpy_rank_promotion", "raise")

settings.register_profile(
    "default",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("default")

# The float64 suite needs x64 for its whole process: `JAX_ENABLE_X64=1 pytest
# tests/float64` (as `make test` does). In a float32 run it is not collected.
collect_ignore = [] if jax.config.read("jax_enable_x64") else ["float64"]
# The sharding suite needs 4 devices, which XLA creates on CPU only when told so before
# JAX starts: `XLA_FLAGS=--xla_force_host_platform_device_count=4 pytest
# tests/sharded` (as `make test` does). With fewer devices it is not collected.
if jax.device_count() < 4:
    collect_ignore.append("sharded")


@pytest.fixture
def getkey():
    """A fresh PRNG key at every call, deterministic per test."""
    key = jr.key(0)

    def _getkey():
        nonlocal key
        key, subkey = jr.split(key)
        return subkey

    return _getkey
