"""One of the processes of the multi-host check run by `test_multihost.py`: not a test.

Run as `python multihost_worker.py --process-id I --num-processes 2 --port PORT` once
per process, all on this machine, each with its own CPU devices (the launcher sets
`XLA_FLAGS=--xla_force_host_platform_device_count=2`): together they act as 2 hosts
of a multi-host job. Each process joins the distributed runtime, builds the same
memory from the same key, lays the stored patterns and a batch of queries out on a
global 2 × 2 mesh ('data', 'model') that spans both processes, runs batched descent
and the gradient of a loss through it, and compares both with the same computation
done unsharded on one of its own devices. It prints one line `RESULT {json}` with
the largest differences and the shardings, and exits 0 only if they match.

Two layouts of the same mesh shape: 'data' across the processes (each process holds
half the batch and all the patterns, split over its 2 devices), and 'model' across
the processes (each holds half the patterns and all the batch)."""

import argparse
import json
import sys
import time


DIM, NUM_PATTERNS, BATCH = 8, 16, 4
BLOCK_SIZES = [None, 4]  # 4: a divisor of NUM_PATTERNS, a multiple of 'model''s 2
STEPS, STEP_SIZE = 10, 0.5
# float32: a sharded reduction adds per-device partial sums, so it rounds
# differently in the last bits; differences are measured relative to max(1, |ref|).
TOLERANCE = 1e-5


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--process-id", type=int, required=True)
    parser.add_argument("--num-processes", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    start = time.perf_counter()

    import jax

    # Gloo is the default CPU collectives implementation in this JAX; set it anyway,
    # before `initialize` (the CPU client is created with it).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{args.port}",
        num_processes=args.num_processes,
        process_id=args.process_id,
        initialization_timeout=60,
    )

    import equinox as eqx
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    import eqx_lagrangians as el

    initialized = time.perf_counter() - start
    assert jax.process_count() == args.num_processes, jax.process_count()
    assert jax.process_index() == args.process_id, jax.process_index()
    assert jax.device_count() == args.num_processes * jax.local_device_count()
    assert jax.local_device_count() == 2, jax.local_devices()

    def memory_of(block_size):
        blocks = {} if block_size is None else {"block_size": block_size}
        return el.AssociativeMemory(
            neurons={"v": el.NeuronLayer(el.Identity(), DIM)},
            synapses={
                "lse": el.LogSumExpSynapse(
                    NUM_PATTERNS, DIM, beta=8.0, key=jr.key(0), **blocks
                )
            },
            connections=[(("v",), "lse")],
        )

    def patterns_of(memory):
        return memory.synapses["lse"].patterns

    def recall(memory, queries):
        def one(q):
            return el.descend(memory, {"v": q}, steps=STEPS, step_size=STEP_SIZE)

        return jax.vmap(one)(queries).states["v"]

    @eqx.filter_jit
    def step(memory, queries, targets):
        """The descended states of a batch, a loss of them, and its gradient with
        respect to the memory (one compiled program: compiling is most of the time)."""

        def loss(memory):
            states = recall(memory, queries)
            return jnp.mean((states - targets) ** 2), states

        (value, states), grads = eqx.filter_value_and_grad(loss, has_aux=True)(memory)
        return states, value, grads

    # The same values in every process (the same seeds): the full batch.
    rng = np.random.default_rng(0)
    full_patterns = np.asarray(patterns_of(memory_of(None)))
    queries = full_patterns[:BATCH] + 0.3 * rng.standard_normal((BATCH, DIM))
    queries = queries.astype(np.float32)
    targets = rng.standard_normal((BATCH, DIM)).astype(np.float32)

    # Every process's device ids, by process: [[0, 1], [2048, 2049]] here.
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    by_process = np.array(devices).reshape(args.num_processes, -1)
    meshes = {
        "data_across_processes": Mesh(by_process, ("data", "model")),
        "model_across_processes": Mesh(by_process.T, ("data", "model")),
    }

    def local_rows(sharding, global_shape):
        """The rows of a global (batch, dim) array that this process's devices hold."""
        rows = set()
        for index in sharding.addressable_devices_indices_map(global_shape).values():
            rows.update(range(*index[0].indices(global_shape[0])))
        rows = sorted(rows)
        assert rows == list(range(rows[0], rows[-1] + 1)), rows
        return slice(rows[0], rows[-1] + 1)

    def to_host(array):
        """The whole global array as numpy, in every process."""
        return np.asarray(multihost_utils.process_allgather(array, tiled=True))

    def difference(sharded, reference):
        sharded, reference = to_host(sharded), np.asarray(reference)
        assert sharded.shape == reference.shape, (sharded.shape, reference.shape)
        scale = max(1.0, float(np.max(np.abs(reference))))
        return float(np.max(np.abs(sharded - reference))) / scale

    local = jax.local_devices()[0]
    result = {
        "process_id": args.process_id,
        "init_seconds": round(initialized, 2),
        "cases": [],
    }
    worst = 0.0
    references = {}
    for layout, mesh in meshes.items():
        pattern_sharding = NamedSharding(mesh, P("model", None))
        batch_sharding = NamedSharding(mesh, P("data", None))
        for block_size in BLOCK_SIZES:
            memory = memory_of(block_size)
            # A global array from the full host copy that every process has: each
            # process fills only its own shards.
            patterns = jax.make_array_from_callback(
                full_patterns.shape, pattern_sharding, lambda idx: full_patterns[idx]
            )
            sharded_memory = eqx.tree_at(patterns_of, memory, patterns)
            # `jax.device_put` of the same host values in every process lays them
            # out alike (a committed single-device jax.Array cannot be put this way).
            put = jax.device_put(full_patterns, pattern_sharding)
            assert put.sharding == patterns.sharding
            assert np.array_equal(to_host(put), full_patterns)
            # A global array from each process's part of the batch only.
            rows = local_rows(batch_sharding, queries.shape)
            sharded_queries = jax.make_array_from_process_local_data(
                batch_sharding, queries[rows], queries.shape
            )
            sharded_targets = jax.make_array_from_process_local_data(
                batch_sharding, targets[rows], targets.shape
            )

            states, value, grads = step(
                sharded_memory, sharded_queries, sharded_targets
            )

            # The reference: unsharded, on one of this process's devices (the same
            # for both layouts: computed once per memory).
            if block_size not in references:
                ref_memory = eqx.combine(
                    jax.device_put(eqx.filter(memory, eqx.is_array), local),
                    eqx.filter(memory, eqx.is_array, inverse=True),
                )
                ref_queries = jax.device_put(queries, local)
                ref_targets = jax.device_put(targets, local)
                references[block_size] = step(ref_memory, ref_queries, ref_targets)
            ref_states, ref_value, ref_grads = references[block_size]

            diffs = {
                "states": difference(states, ref_states),
                "loss": difference(value, ref_value),
                "grad_patterns": difference(patterns_of(grads), patterns_of(ref_grads)),
                "grad_raw_beta": difference(
                    grads.synapses["lse"].raw_beta, ref_grads.synapses["lse"].raw_beta
                ),
            }
            worst = max(worst, *diffs.values())
            result["cases"].append(
                {
                    "layout": layout,
                    "seconds_so_far": round(time.perf_counter() - start, 2),
                    "block_size": block_size,
                    "max_diff": diffs,
                    "local_rows": [rows.start, rows.stop],
                    "shardings": {
                        "patterns": str(patterns.sharding.spec),
                        "queries": str(sharded_queries.sharding.spec),
                        "states": str(states.sharding.spec),
                        "grad_patterns": str(patterns_of(grads).sharding.spec),
                    },
                    "fully_addressable": {
                        "patterns": patterns.is_fully_addressable,
                        "states": states.is_fully_addressable,
                    },
                }
            )
    result["max_diff"] = worst
    result["tolerance"] = TOLERANCE
    result["seconds"] = round(time.perf_counter() - start, 2)
    print("RESULT " + json.dumps(result), flush=True)
    jax.distributed.shutdown()
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
