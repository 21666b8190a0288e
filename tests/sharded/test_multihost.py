"""Multi-host: 2 processes on this machine act as 2 hosts of one JAX job.

Each runs `multihost_worker.py`: it joins the distributed runtime through a
coordinator on localhost (CPU collectives over Gloo), sees 2 local and 4 global
devices, and runs descent and a training gradient with the stored patterns split over
'model' and the batch over 'data' of a 2 × 2 mesh that spans both processes, with
either axis across the processes. Both must print results equal to the unsharded ones
computed on one local device, and exit 0."""

import json
import os
import pathlib
import socket
import subprocess
import sys


WORKER = pathlib.Path(__file__).resolve().with_name("multihost_worker.py")
ROOT = WORKER.parents[2]
NUM_PROCESSES = 2
TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_workers() -> list[tuple[int, str, str]]:
    """Every worker's exit status, stdout and stderr."""
    port = _free_port()
    # Their own environment: 2 CPU devices each, whatever this process was given.
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                f"--process-id={i}",
                f"--num-processes={NUM_PROCESSES}",
                f"--port={port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(NUM_PROCESSES)
    ]
    results = []
    try:
        for process in processes:
            # One deadline for all: the workers run at the same time.
            out, err = process.communicate(timeout=TIMEOUT_S)
            results.append((process.returncode, out, err))
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        outputs = [process.communicate() for process in processes]
        raise AssertionError(
            f"the workers did not finish within {TIMEOUT_S} s:\n"
            + "\n".join(f"{out}\n{err[-3000:]}" for out, err in outputs)
        ) from None
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


def test_multihost():
    runs = _run_workers()
    reports = []
    for i, (returncode, out, err) in enumerate(runs):
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert returncode == 0 and len(lines) == 1, (
            f"worker {i} exited {returncode}\n{out}\n{err[-3000:]}"
        )
        reports.append(json.loads(lines[0].removeprefix("RESULT ")))

    for i, report in enumerate(reports):
        assert report["process_id"] == i
        assert report["max_diff"] <= report["tolerance"] <= 1e-5, report
        cases = {(case["layout"], case["block_size"]): case for case in report["cases"]}
        assert set(cases) == {
            (layout, block_size)
            for layout in ("data_across_processes", "model_across_processes")
            for block_size in (None, 4)
        }
        for (layout, _), case in cases.items():
            assert max(case["max_diff"].values()) <= 1e-5, case
            assert case["shardings"]["patterns"] == "P('model', None)"
            assert case["shardings"]["queries"] == "P('data', None)"
            assert case["shardings"]["grad_patterns"] == "P('model', None)"
            # The arrays span both processes: neither holds all their shards.
            assert case["fully_addressable"] == {"patterns": False, "states": False}
            # Each process passed only the rows of the batch its devices hold.
            expected_rows = (
                [2 * i, 2 * i + 2] if layout == "data_across_processes" else [0, 4]
            )
            assert case["local_rows"] == expected_rows
    # Both processes read back the same global results.
    assert [case["max_diff"] for case in reports[0]["cases"]] == [
        case["max_diff"] for case in reports[1]["cases"]
    ]
