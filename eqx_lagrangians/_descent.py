r"""Energy descent: the dynamics $τ \dot x = -\partial E/\partial g$, discretised."""

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ._memory import AssociativeMemory
from ._misc import check_positive, default_floating_dtype
from ._synapses import LogSumExpSynapse


class DescentResult(eqx.Module):
    """What `el.descend` returns.

    - `states`: the final states, a dict with one array per layer.
    - `energies`: shape `(steps + 1,)`: the energy before each step and after the last.
        In tolerance mode, the entries after the last step taken repeat the final
        energy.
    - `num_steps`: how many steps ran (`steps`, or fewer in tolerance mode).
    """

    states: dict[str, Float[Array, "..."]]
    energies: Float[Array, " steps_plus_one"]
    num_steps: Int[Array, ""]


def _masks(memory: AssociativeMemory, clamp) -> dict[str, Bool[Array, "..."] | bool]:
    """For every layer: `True` (held whole), `False` (free) or a boolean mask of the
    entries held fixed."""
    if clamp is None:
        clamp = {}
    unknown = set(clamp) - set(memory.neurons)
    if unknown:
        raise ValueError(
            f"`clamp` names unknown layers {sorted(unknown)}; the layers are "
            f"{sorted(memory.neurons)}."
        )
    masks = {}
    for name, layer in memory.neurons.items():
        held = clamp.get(name, False)
        if held is True or held is False:
            masks[name] = held
        else:
            held = jnp.asarray(held)
            if held.dtype == jnp.bool_ and held.ndim == 0:
                held = jnp.broadcast_to(held, layer.shape)  # e.g. a traced flag
            if held.dtype != jnp.bool_ or held.shape != layer.shape:
                raise ValueError(
                    f"`clamp[{name!r}]` must be True, False or a boolean mask of shape "
                    f"{layer.shape}, got dtype {held.dtype} and shape {held.shape}."
                )
            masks[name] = held
    return masks


def _step(memory, masks, step_size):
    def step(xs):
        energy, grads = memory.energy_and_grad(xs)
        new = {}
        for name, layer in memory.neurons.items():
            mask = masks[name]
            if mask is True:
                new[name] = xs[name]
                continue
            rate = (step_size / layer.tau).astype(xs[name].dtype)
            moved = xs[name] - rate * grads[name].astype(xs[name].dtype)
            new[name] = moved if mask is False else jnp.where(mask, xs[name], moved)
        return energy, new

    return step


def descend(
    memory: AssociativeMemory,
    xs: Mapping[str, ArrayLike],
    *,
    steps: int,
    step_size: float | Float[ArrayLike, ""] = 0.1,
    clamp: Mapping[str, bool | Bool[ArrayLike, "..."]] | None = None,
    tol: float | None = None,
    checkpoint: bool = False,
) -> DescentResult:
    r"""Runs energy descent from the states `xs`:

    $$x \leftarrow x - \frac{\text{step\_size}}{τ} \frac{\partial E}{\partial g}
      = x - \frac{\text{step\_size}}{τ} (x - I)$$

    for every layer that is not clamped, compiled with `eqx.filter_jit` around a
    `lax.scan`. The continuous dynamics never increase the energy, since
    $dE/dt = -\sum (\partial E/\partial g)^\top H_L (\partial E/\partial g)/τ \le 0$;
    the discrete steps do not either as long as `step_size` is small against the
    curvature of the activations and the size of the weights.

    Works under `jax.vmap` (batch the states, not the memory) and `jax.jit`, and is
    differentiable with respect to the memory's parameters (synapse weights, β, γ, δ)
    and the initial states.

    **Arguments:**

    - `memory`: an `el.AssociativeMemory`.
    - `xs`: the initial states, one array per layer.
    - `steps`: the number of steps (in tolerance mode, the most that may run).
    - `step_size`: the step size > 0 (divided by each layer's τ); a float or a
        scalar array (it is traced: changing it does not recompile).
    - `clamp`: optional, maps layer names to `True` (the whole layer is held) or to a
        boolean mask of the layer's shape (`True` entries are held).
    - `tol`: optional, > 0; if given, stop as soon as the largest change of any
        state entry in one step is below `tol` (tolerance mode, a `lax.while_loop`:
        not reverse-mode differentiable, so train with a fixed number of steps). A
        NaN state is never taken for convergence: the loop then runs to `steps`.
    - `checkpoint`: if `True`, each step is wrapped in `jax.checkpoint`, so that
        reverse-mode differentiation stores only the states of each step rather
        than every intermediate (less memory, one more forward pass).

    **Returns:**

    An `el.DescentResult` with the final `states`, the `energies` (shape
    `(steps + 1,)`) and `num_steps`.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"`steps` must be an int >= 0, got steps={steps!r}.")
    step_size = check_positive("step_size", step_size)
    if tol is not None:
        check_positive("tol", tol)
    for synapse in memory.synapses.values():  # while the patterns are still concrete
        if isinstance(synapse, LogSumExpSynapse):
            synapse._check_blocks()
    # Arrays, not Python floats: a new step size or tolerance must not recompile.
    step_array = jnp.asarray(step_size, default_floating_dtype())
    tol_array = None if tol is None else jnp.asarray(tol, jnp.float32)
    return _descend(memory, xs, steps, step_array, clamp, tol_array, checkpoint)


@eqx.filter_jit
def _descend(memory, xs, steps, step_size, clamp, tol, checkpoint):
    memory._check_states(xs)
    states = {name: layer._check(xs[name]) for name, layer in memory.neurons.items()}
    masks = _masks(memory, clamp)
    step = _step(memory, masks, step_size)
    if checkpoint:
        step = jax.checkpoint(step)

    if tol is None:

        def body(carry, _):
            energy, carry = step(carry)
            return carry, energy

        final, energies = lax.scan(body, states, length=steps)
        energies = jnp.concatenate([energies, memory.energy(final)[None]])
        return DescentResult(final, energies, jnp.asarray(steps))

    def cond(carry):
        i, _, change, _ = carry
        # `~(change < tol)`, not `change >= tol`: a NaN must not pass for convergence.
        return (i < steps) & ~(change < tol)

    def while_body(carry):
        i, states, _, energies = carry
        energy, new = step(states)
        change = jnp.max(
            jnp.stack([jnp.max(jnp.abs(new[k] - states[k])) for k in states])
        ).astype(jnp.float32)
        return i + 1, new, change, energies.at[i].set(energy)

    energies = jnp.zeros((steps + 1,), jax.eval_shape(memory.energy, states).dtype)
    init = (jnp.asarray(0), states, jnp.asarray(jnp.inf, jnp.float32), energies)
    num_steps, final, _, energies = lax.while_loop(cond, while_body, init)
    final_energy = memory.energy(final)
    filled = jnp.arange(steps + 1) >= num_steps
    energies = jnp.where(filled, final_energy, energies)
    return DescentResult(final, energies, num_steps)
