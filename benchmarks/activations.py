"""Speed of `L.activation(x)` against the hand-written closed form (invariant 6).

For every Lagrangian module this times, on one `(rows, cols)` float32 input and
under `jax.jit`:

- **activation**: `L.activation(x)`, i.e. `eqx.filter_grad` of the module, which goes
  through the library's `jax.custom_jvp` rules; the module is a jit argument, so its
  parameters are runtime values;
- **closed form**: the activation written by hand in `jnp` (`jnp.tanh(beta * x)`,
  `jax.nn.softmax(beta * x, axis=-1)`, ...), with the parameters (β itself, not the
  module's unconstrained `raw_beta`) passed as jit arguments as well, never baked in
  as constants, and inside an `eqx.Module` so that both calls take the same path;
- **naive autodiff**: `jax.grad` of the Lagrangian written in plain `jnp`, with no
  custom rule (`jnp.sum(jnp.log(jnp.cosh(beta * x))) / beta`, ...), for reference.

Every function is compiled and warmed up first, and the activation is checked to
equal the closed form on the benchmark input (so that the comparison is like for
like). Each repetition then runs the three variants of every Lagrangian round-robin
(the starting variant rotating), so that machine noise hits all of them alike, and
`block_until_ready()` ends every timed call. The table reports the median time of
each variant and, as the ratios, the median over repetitions of the ratio of the times
measured within one repetition (pairing cancels the drift of a shared, noisy machine).
A last row times two copies of one closed form against each other: its ratio is the
noise floor. Invariant 6 asks for activation/closed <= 1.05.

Run it from the repository root with

```
.venv/bin/python benchmarks/activations.py
```

(`--repeats`, `--rows` and `--cols` change the number of repetitions and the shape).
"""

import argparse
import dataclasses
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import eqx_lagrangians as el


TARGET_RATIO = 1.05
CONTROL = "A/A control: Tanh closed form, jitted twice"


@dataclasses.dataclass(frozen=True)
class Case:
    """One row of the table: three jitted functions of `(params, x)`."""

    name: str
    module: el.AbstractLagrangian
    closed: Callable[[Any, jax.Array], jax.Array]
    naive: Callable[[Any, jax.Array], jax.Array]
    params: Any


class Params(eqx.Module):
    """The parameters of a closed form, handed to `jax.jit` inside an `eqx.Module`,
    as the Lagrangian's parameters are. The call path of a jitted function flattens a
    Module argument more slowly than a dict (about 2% of a 1 ms call here, measured),
    a cost that has nothing to do with the compiled code being compared."""

    values: dict[str, jax.Array]

    def __getitem__(self, name: str) -> jax.Array:
        return self.values[name]


def _activation(lagrangian, x):
    return lagrangian.activation(x)


def _naive_grad(lagrangian_fn):
    """`∇ₓ lagrangian_fn(params, x)` by plain reverse-mode autodiff."""

    def grad(params, x):
        return jax.grad(lagrangian_fn, argnums=1)(params, x)

    return grad


def _mean_var(x):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return mean, var


def _layernorm_closed(p, x):
    mean, var = _mean_var(x)
    return p["gamma"] * (x - mean) / jnp.sqrt(var + p["eps"]) + p["delta"]


def _layernorm_naive(p, x):
    _, var = _mean_var(x)
    base = x.shape[-1] * p["gamma"] * jnp.sqrt(var + p["eps"])
    return jnp.sum(base) + jnp.sum(p["delta"] * x)


def _spherical_closed(p, x):
    norm = jnp.sqrt(jnp.sum(x**2, axis=-1, keepdims=True) + p["eps"])
    return p["gamma"] * x / norm + p["delta"]


def _spherical_naive(p, x):
    norm = jnp.sqrt(jnp.sum(x**2, axis=-1) + p["eps"])
    return jnp.sum(p["gamma"] * norm) + jnp.sum(p["delta"] * x)


def _rms_closed(p, x):
    rms = jnp.sqrt(jnp.mean(x**2, axis=-1, keepdims=True) + p["eps"])
    return p["gamma"] * x / rms + p["delta"]


def _rms_naive(p, x):
    rms = jnp.sqrt(jnp.mean(x**2, axis=-1) + p["eps"])
    return x.shape[-1] * p["gamma"] * jnp.sum(rms) + jnp.sum(p["delta"] * x)


def _ghostmax_closed(p, x):
    z = p["beta"] * x
    top = jnp.maximum(jnp.max(z, axis=-1, keepdims=True), 0)
    e = jnp.exp(z - top)
    return e / (jnp.exp(-top) + jnp.sum(e, axis=-1, keepdims=True))


def _ghostmax_naive(p, x):
    lse = jax.nn.logsumexp(p["beta"] * x, axis=-1)
    return jnp.sum(jnp.logaddexp(0, lse)) / p["beta"]


def _sparsemax(z):
    """Sparsemax along the last axis by sorting (Martins and Astudillo 2016)."""
    sorted_z = jnp.flip(jnp.sort(z, axis=-1), axis=-1)
    cumulative = jnp.cumsum(sorted_z, axis=-1)
    rank = jnp.arange(1, z.shape[-1] + 1, dtype=z.dtype).reshape(1, -1)
    size = jnp.sum(1 + rank * sorted_z > cumulative, axis=-1, keepdims=True)
    tau = (jnp.take_along_axis(cumulative, size - 1, axis=-1) - 1) / size
    return jnp.maximum(z - tau, 0)


def _sparsemax_naive(p, x):
    z = p["beta"] * x
    q = _sparsemax(z)
    return jnp.sum(q * z - 0.5 * q**2) / p["beta"]


def _entmax_bisect(z, alpha, iterations=50):
    """α-entmax along the last axis as `entmax_bisect` computes it (Peters, Niculae
    and Martins 2019; the entmax package's defaults: 50 bisection steps on τ in
    [(α−1)z − τ]_+^{1/(α−1)}, then a normalisation)."""
    a = alpha - 1
    scaled = a * z
    top = jnp.max(scaled, axis=-1, keepdims=True)
    low, width = top - 1, 1 - z.shape[-1] ** -a

    def power(t):
        return jnp.maximum(scaled - t, 0) ** (1 / a)

    def step(_, carry):
        low, width = carry
        width = width / 2
        middle = low + width
        mass = jnp.sum(power(middle), axis=-1, keepdims=True)
        return jnp.where(mass >= 1, middle, low), width

    low, width = jax.lax.fori_loop(0, iterations, step, (low, width))
    q = power(low + width / 2)
    return q / jnp.sum(q, axis=-1, keepdims=True)


def _entmax_closed(p, x):
    return _entmax_bisect(p["beta"] * x, p["alpha"])


def _entmax_naive(p, x):
    a = p["alpha"] - 1
    z = p["beta"] * x
    q = _entmax_bisect(z, p["alpha"])
    entropy = jnp.sum(q - q ** p["alpha"]) / (p["alpha"] * a)
    return (jnp.sum(q * z) + entropy) / p["beta"]


def _cases(cols: int) -> list[Case]:
    beta, gamma, delta, n = 2.0, 1.5, 0.1, 3
    per_neuron_beta = jnp.linspace(0.5, 2.0, cols, dtype=jnp.float32)
    per_feature_delta = jnp.linspace(-0.1, 0.1, cols, dtype=jnp.float32)

    def along_last_axis(param):
        # A per-feature parameter as a (1, cols) row, so that `beta * x` broadcasts
        # without rank promotion (which the test suite makes an error).
        return jnp.reshape(param, (1, -1)) if jnp.ndim(param) == 1 else param

    def temperature(module):
        return {"beta": along_last_axis(module.beta)}

    def norm(module):
        # eps is a static hyper-parameter of the module, but a runtime argument here:
        # the closed form gets no advantage from constant folding.
        return {
            "gamma": module.gamma,
            "delta": along_last_axis(module.delta),
            "eps": module.eps,
        }

    def relu(x):
        return jnp.maximum(x, 0)

    tanh = el.Tanh(beta)
    tanh_per_neuron = el.Tanh(per_neuron_beta)
    sigmoid = el.Sigmoid(beta)
    exp = el.Exp(beta)
    rexp = el.RExp(beta)
    softmax = el.Softmax(beta)
    layernorm = el.LayerNorm(gamma, delta)
    layernorm_per_feature = el.LayerNorm(gamma, per_feature_delta)
    spherical = el.SphericalNorm(gamma, delta)
    alpha = 1.5
    elu = el.ELU(alpha)
    ghostmax = el.Ghostmax(beta)
    rmsnorm = el.RMSNorm(gamma, delta)
    sparsemax = el.Sparsemax(beta)
    entmax = el.Entmax(alpha, beta)
    return [
        Case(
            "Identity",
            el.Identity(),
            lambda p, x: x,
            _naive_grad(lambda p, x: 0.5 * jnp.sum(x**2)),
            {},
        ),
        Case(
            f"RePU({n})",
            el.RePU(n),
            lambda p, x: relu(x) ** (n - 1),
            _naive_grad(lambda p, x: jnp.sum(relu(x) ** n) / n),
            {},
        ),
        Case(
            "ReLU",
            el.ReLU(),
            lambda p, x: relu(x),
            _naive_grad(lambda p, x: 0.5 * jnp.sum(relu(x) ** 2)),
            {},
        ),
        Case(
            f"Exp(beta={beta})",
            exp,
            lambda p, x: jnp.exp(p["beta"] * x),
            _naive_grad(lambda p, x: jnp.sum(jnp.exp(p["beta"] * x)) / p["beta"]),
            temperature(exp),
        ),
        Case(
            f"RExp(beta={beta})",
            rexp,
            lambda p, x: jnp.expm1(p["beta"] * relu(x)),
            _naive_grad(
                lambda p, x: jnp.sum(jnp.exp(p["beta"] * relu(x)) / p["beta"] - relu(x))
            ),
            temperature(rexp),
        ),
        Case(
            f"Tanh(beta={beta})",
            tanh,
            lambda p, x: jnp.tanh(p["beta"] * x),
            _naive_grad(
                lambda p, x: jnp.sum(jnp.log(jnp.cosh(p["beta"] * x))) / p["beta"]
            ),
            temperature(tanh),
        ),
        Case(
            f"Tanh(beta of shape ({cols},))",
            tanh_per_neuron,
            lambda p, x: jnp.tanh(p["beta"] * x),
            _naive_grad(
                lambda p, x: jnp.sum(jnp.log(jnp.cosh(p["beta"] * x)) / p["beta"])
            ),
            temperature(tanh_per_neuron),
        ),
        Case(
            f"Sigmoid(beta={beta})",
            sigmoid,
            lambda p, x: jax.nn.sigmoid(p["beta"] * x),
            _naive_grad(
                lambda p, x: jnp.sum(jnp.log1p(jnp.exp(p["beta"] * x))) / p["beta"]
            ),
            temperature(sigmoid),
        ),
        Case(
            f"Softmax(beta={beta})",
            softmax,
            lambda p, x: jax.nn.softmax(p["beta"] * x, axis=-1),
            _naive_grad(
                lambda p, x: (
                    jnp.sum(jax.nn.logsumexp(p["beta"] * x, axis=-1)) / p["beta"]
                )
            ),
            temperature(softmax),
        ),
        Case(
            f"LayerNorm(gamma={gamma}, delta={delta})",
            layernorm,
            _layernorm_closed,
            _naive_grad(_layernorm_naive),
            norm(layernorm),
        ),
        Case(
            f"LayerNorm(gamma={gamma}, delta of shape ({cols},))",
            layernorm_per_feature,
            _layernorm_closed,
            _naive_grad(_layernorm_naive),
            norm(layernorm_per_feature),
        ),
        Case(
            f"SphericalNorm(gamma={gamma}, delta={delta})",
            spherical,
            _spherical_closed,
            _naive_grad(_spherical_naive),
            norm(spherical),
        ),
        Case(
            f"ELU(alpha={alpha})",
            elu,
            lambda p, x: jax.nn.elu(x, p["alpha"]),
            _naive_grad(
                lambda p, x: jnp.sum(
                    jnp.where(
                        x > 0,
                        0.5 * x**2,
                        p["alpha"] * (jnp.exp(jnp.minimum(x, 0)) - x - 1),
                    )
                )
            ),
            {"alpha": elu.alpha},
        ),
        Case(
            f"Ghostmax(beta={beta})",
            ghostmax,
            _ghostmax_closed,
            _naive_grad(_ghostmax_naive),
            temperature(ghostmax),
        ),
        Case(
            f"RMSNorm(gamma={gamma}, delta={delta})",
            rmsnorm,
            _rms_closed,
            _naive_grad(_rms_naive),
            norm(rmsnorm),
        ),
        Case(
            f"Sparsemax(beta={beta})",
            sparsemax,
            lambda p, x: _sparsemax(p["beta"] * x),
            _naive_grad(_sparsemax_naive),
            temperature(sparsemax),
        ),
        Case(
            f"Entmax(alpha={alpha}, beta={beta})",
            entmax,
            _entmax_closed,
            _naive_grad(_entmax_naive),
            {"alpha": entmax.alpha, "beta": entmax.beta},
        ),
    ]


def _time_call(fn, args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def _command(repeats: int, shape: tuple[int, int]) -> str:
    if sys.argv and sys.argv[0].endswith("activations.py"):
        return shlex.join([sys.executable, *sys.argv])
    rows, cols = shape
    return shlex.join(
        [
            sys.executable,
            "benchmarks/activations.py",
            f"--repeats={repeats}",
            f"--rows={rows}",
            f"--cols={cols}",
        ]
    )


def _jobs(cases: list[Case], x: jax.Array) -> dict[str, dict[str, tuple]]:
    """`{row: {variant: (jitted function, arguments)}}`, with the A/A control last."""
    jobs = {}
    for case in cases:
        params = Params(
            jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), case.params)
        )
        jobs[case.name] = {
            "activation": (jax.jit(_activation), (case.module, x)),
            "closed": (jax.jit(case.closed), (params, x)),
            "naive": (jax.jit(case.naive), (params, x)),
        }
    # Two separately jitted copies of one closed form: their ratio shows how much of a
    # ratio's distance from 1 is this machine's noise.
    params = Params({"beta": jnp.asarray(2.0, jnp.float32)})
    jobs[CONTROL] = {
        "activation": (jax.jit(lambda p, x: jnp.tanh(p["beta"] * x)), (params, x)),
        "closed": (jax.jit(lambda p, x: jnp.tanh(p["beta"] * x)), (params, x)),
    }
    return jobs


def _check(jobs, x) -> None:
    """Compiles and warms up every function, and checks that the variants of a row
    compute the same thing, so that the comparison is like for like."""
    for name, variants in jobs.items():
        out = {}
        for variant, (fn, args) in variants.items():
            for _ in range(3):
                out[variant] = jax.block_until_ready(fn(*args))
        assert out["activation"].shape == x.shape, name
        assert out["activation"].dtype == x.dtype, name
        np.testing.assert_allclose(
            out["activation"], out["closed"], rtol=1e-5, atol=1e-6, err_msg=name
        )
        if "naive" in out:
            np.testing.assert_allclose(
                out["naive"], out["closed"], rtol=1e-4, atol=1e-5, err_msg=name
            )


def _time(jobs, repeats: int) -> dict[str, dict[str, list[float]]]:
    times = {name: {v: [] for v in variants} for name, variants in jobs.items()}
    for rep in range(repeats):
        for name, variants in jobs.items():
            # Round-robin, starting from a different variant each repetition.
            order = list(variants)
            shift = rep % len(order)
            for variant in order[shift:] + order[:shift]:
                fn, args = variants[variant]
                times[name][variant].append(_time_call(fn, args))
    return times


def _paired_ratios(times: list[float], baseline: list[float]) -> list[float]:
    return [t / b for t, b in zip(times, baseline)]


def _quartiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1:.3f}-{q3:.3f}"


def main(
    repeats: int = 200,
    shape: tuple[int, int] = (1024, 4096),
    only: tuple[str, ...] | None = None,
) -> dict:
    """Runs the benchmark and prints the table.

    **Arguments:**

    - `repeats`: the number of timed repetitions (each times every function once).
    - `shape`: the `(rows, cols)` of the float32 input; the normalising Lagrangians
        act along `cols`.
    - `only`: if given, the class names of the rows to time (the A/A control always
        runs), e.g. `("RMSNorm", "Ghostmax")`.

    **Returns:**

    The median times in seconds, `{row: {"activation": ..., "closed": ..., ...}}`.
    """
    rows, cols = shape
    x = jax.random.normal(jax.random.key(0), (rows, cols), dtype=jnp.float32)
    cases = _cases(cols)
    if only:
        cases = [case for case in cases if case.name.split("(")[0] in only]
    jobs = _jobs(cases, x)
    _check(jobs, x)
    times = _time(jobs, repeats)

    device = jax.devices()[0]
    print(f"command: {_command(repeats, shape)}")
    print(
        f"jax {jax.__version__}, jaxlib {jax.lib.__version__}, equinox "
        f"{eqx.__version__}, python {platform.python_version()}"
    )
    print(f"device: {device.platform} {device.device_kind} ({jax.device_count()})")
    print(
        f"input: float32 {rows}x{cols}; {repeats} repetitions, variants interleaved "
        "round-robin; times are medians, ratios are medians of the per-repetition "
        "ratios\n"
    )
    print(
        "| Lagrangian | activation (ms) | closed form (ms) | ratio activation/closed "
        "| naive autodiff (ms) | ratio naive/closed |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    medians = {}
    over = []
    for name, by_variant in times.items():
        medians[name] = {v: statistics.median(ts) for v, ts in by_variant.items()}
        activation = _paired_ratios(by_variant["activation"], by_variant["closed"])
        ratio = statistics.median(activation)
        if name == CONTROL:
            naive_ms = naive_ratio = "–"
            control = f"{ratio:.3f} (quartiles {_quartiles(activation)})"
        else:
            naive = _paired_ratios(by_variant["naive"], by_variant["closed"])
            naive_ms = f"{1e3 * medians[name]['naive']:.3f}"
            naive_ratio = f"{statistics.median(naive):.3f}"
        flag = ""
        if ratio > TARGET_RATIO and name != CONTROL:
            flag = " ⚠"
            over.append(f"{name} (quartiles {_quartiles(activation)})")
        print(
            f"| {name} | {1e3 * medians[name]['activation']:.3f} | "
            f"{1e3 * medians[name]['closed']:.3f} | {ratio:.3f}{flag} | {naive_ms} | "
            f"{naive_ratio} |"
        )
    print(f"\nnoise floor (A/A control ratio): {control}")
    if over:
        print(f"activation/closed above {TARGET_RATIO}: {'; '.join(over)}")
    else:
        print(f"every activation/closed ratio is <= {TARGET_RATIO}")
    return medians


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--cols", type=int, default=4096)
    parser.add_argument(
        "--only", nargs="+", help="class names of the rows to time, e.g. RMSNorm ELU"
    )
    args = parser.parse_args()
    main(repeats=args.repeats, shape=(args.rows, args.cols), only=args.only)
