"""Module-level task functions for the executor tests (workers import them by name)."""

import os
from pathlib import Path


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def worker_settings(_: object) -> dict:
    from hwadapt.threads import threads

    return {"threads": threads(), "omp": os.environ.get("OMP_NUM_THREADS"), "pid": os.getpid()}


def die_once(item: tuple[str, int]) -> int:
    """Kill the worker process the first time item ``x`` runs (a marker file remembers)."""
    folder, x = item
    marker = Path(folder) / f"ran-{x}"
    if x % 2 == 0 and not marker.exists():
        marker.write_text("")
        os._exit(137)
    return x + 100


def always_die(x: int) -> int:
    os._exit(137)


def chatty(x: int) -> int:
    """Writes to stdout and stderr (Python and C level) like a noisy library would."""
    print(f"stdout noise {x}", flush=True)
    os.write(2, f"stderr noise {x}\n".encode())
    return x
