"""Choosing an executor: names, worker counts, addresses; bad choices are one-line errors."""

import socket

import pytest

from hwadapt.errors import InputError
from hwadapt.executors import LocalExecutor, get_executor, machine_workers


def test_default_is_local_sized_to_the_machine(monkeypatch):
    monkeypatch.delenv("HWADAPT_EXECUTOR", raising=False)
    monkeypatch.delenv("HWADAPT_WORKERS", raising=False)
    ex = get_executor()
    assert isinstance(ex, LocalExecutor) and ex.workers == machine_workers()
    assert get_executor("local", 1).parallel is False
    monkeypatch.setenv("HWADAPT_WORKERS", "3")
    assert get_executor("local").workers == 3
    monkeypatch.setenv("HWADAPT_EXECUTOR", "spark")
    with pytest.raises(InputError, match="unknown executor 'spark'"):
        get_executor()


@pytest.mark.parametrize("name,workers,address,msg", [
    ("spark", None, None, "unknown executor 'spark': use one of local, ray"),
    ("local", "0", None, "--workers '0'"),
    ("local", "two", None, "--workers 'two'"),
    ("local", None, "auto", "--ray-address goes with --executor ray"),
    ("ray", None, "nohostport", "give auto or <host>:<port>"),
])
def test_bad_choices_are_one_line_errors(name, workers, address, msg):
    with pytest.raises(InputError, match=msg) as e:
        get_executor(name, workers, address)
    assert "\n" not in str(e.value)


def test_unreachable_ray_address_is_one_line_error(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HWADAPT_RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(InputError, match=f"no Ray cluster answers at '127.0.0.1:{port}'") as e:
        get_executor("ray")
    assert "\n" not in str(e.value)
