"""``ray``: tasks on a Ray cluster (``--executor ray``); ``ray`` is imported only here.

Address: ``--ray-address auto|<host:port>``, else ``HWADAPT_RAY_ADDRESS``, else none: a
private Ray instance on this machine with ``workers`` CPUs (default: the cores available).
With an address, ``workers`` (default: the cluster's CPUs, capped by them) tasks are in
flight at a time. Each task takes 1 CPU and runs with 1
compute thread; worker output is not forwarded to the driver (``log_to_driver=False``). Ray
re-runs a task whose worker process died (``max_retries``), the same guarantee ``local``
gives. An address that does not answer is one :class:`~hwadapt.errors.InputError` within
:data:`CONNECT_TIMEOUT_S` seconds.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hwadapt.errors import InputError
from hwadapt.executors.base import RETRIES, Executor, WorkerLost, init_worker

ENV_ADDRESS = "HWADAPT_RAY_ADDRESS"
CONNECT_TIMEOUT_S = 10.0
RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
"""Logger of Ray's start-up notice about token authentication (Ray 2.5x-2.6x)."""
_remote: dict = {}  # fn -> its ray.remote wrapper (one per function per process)


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    """A task on a Ray worker: the worker set-up (once per process), then ``fn(item)``."""
    if not os.environ.get("_HWADAPT_RAY_WORKER"):
        os.environ["_HWADAPT_RAY_WORKER"] = "1"
        init_worker()
    return fn(item)


def _check_reachable(address: str) -> None:
    """One line naming the address unless something listens at ``host:port``."""
    host, _, port = address.rpartition(":")
    host = host.removeprefix("ray://") or "127.0.0.1"
    if not port.isdigit():
        raise InputError(f"--ray-address {address!r}: give auto or <host>:<port> (e.g. "
                         "10.0.0.5:6379, the head node's GCS address)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise InputError(f"no Ray cluster answers at {address!r} ({e.strerror or e}): start "
                         "one with `ray start --head` or fix --ray-address/"
                         f"{ENV_ADDRESS}") from None


class RayExecutor(Executor):
    """Tasks on Ray: a private local instance, or the cluster at ``address``."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise InputError("--executor ray needs Ray: pip install 'hwadapt[ray]' (or use "
                             "--executor local)") from None
        address = address or os.environ.get(ENV_ADDRESS) or None
        if address and address != "auto":
            _check_reachable(address)
        self._ray = ray
        self._owner = not ray.is_initialized()
        if self._owner:
            kwargs: dict = {"log_to_driver": False, "include_dashboard": False,
                            "configure_logging": False}
            if address:
                kwargs["address"] = address
            else:  # "local": a private instance even where a cluster runs (RAY_ADDRESS, or
                # the last one started here), which would refuse num_cpus
                from hwadapt.executors.local import machine_workers

                kwargs.update(address="local", num_cpus=workers or machine_workers())
            # Ray warns through Python's last-resort handler (stderr) that a local cluster
            # uses token authentication: a handler here keeps that line out of the CLI's
            # output, while an application's own logging configuration still receives it
            logging.getLogger(RAY_AUTH_LOGGER).addHandler(logging.NullHandler())
            try:
                ray.init(**kwargs)
            except ConnectionError as e:
                raise InputError(f"no Ray cluster at {address!r}: {str(e).splitlines()[0]} "
                                 f"(start one with `ray start --head`, or drop "
                                 f"--ray-address/{ENV_ADDRESS})") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = min(workers, cpus) if workers and address else cpus

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence,
                      retries: int = RETRIES) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(_call)
        fn_ref = ray.put(fn)
        queue = iter(enumerate(items))
        refs = {}

        def fill() -> None:  # at most `workers` tasks in flight
            for i, item in queue:
                refs[remote.remote(fn_ref, item)] = i
                if len(refs) >= self.workers:
                    return

        fill()
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    i = refs.pop(ref)
                    fill()
                    try:
                        result = ray.get(ref)
                    except (ray.exceptions.WorkerCrashedError,
                            ray.exceptions.NodeDiedError) as e:
                        raise WorkerLost(f"task {i} lost its worker {retries + 1} times: "
                                         f"{type(e).__name__}") from None
                    except ray.exceptions.RayTaskError as e:
                        raise e.as_instanceof_cause() from None
                    yield i, result
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owner and self._ray.is_initialized():
            self._ray.shutdown()
        self._owner = False
