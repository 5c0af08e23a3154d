"""The fake devices qiskit-ibm-runtime ships: names and facts from their configuration files
(no ``qiskit_ibm_runtime`` import: listing them costs milliseconds), instances on demand.

Local simulation (``aer_noisy``) needs only a device's ``Target`` and readout errors:
:func:`device_backend` serves them from a per-user cache (:func:`cache_dir`), keyed by the
shipped files and the Qiskit version, so a submit neither imports ``qiskit_ibm_runtime``
(~1.5 s) nor parses the device's properties (~0.5 s); the first use builds the entry from
the fake device itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import warnings
from functools import cache
from pathlib import Path

from hwadapt.backends.base import BackendInfo
from hwadapt.errors import InputError
from hwadapt.fileio import atomic_write

CACHE_ENV = "HWADAPT_CACHE"
CACHE_FOLDER_MAX_BYTES = 128 << 20
"""Size past which a cache folder drops its least recently used entries (a noise model is
~0.25 MB per device, qubits and scale; a device Target ~0.1 MB per Qiskit version)."""

NON_GATES = frozenset({"measure", "reset", "delay", "barrier", "if_else", "switch_case",
                       "for_loop", "while_loop"})
"""Instructions of a device's basis that are not gates (left out of the listed basis)."""


@cache
def _conf_files() -> dict[str, Path]:
    """``fake_<device>`` -> its shipped ``conf_<device>.json``, sorted by name."""
    spec = importlib.util.find_spec("qiskit_ibm_runtime")
    root = Path(next(iter(spec.submodule_search_locations))) / "fake_provider" / "backends"
    found = {f"fake_{d.name}": d / f"conf_{d.name}.json" for d in root.iterdir()
             if (d / f"conf_{d.name}.json").is_file()}
    return dict(sorted(found.items()))


def fake_device_names() -> tuple[str, ...]:
    """Names (``fake_<device>``) of every fake device shipped by qiskit-ibm-runtime."""
    return tuple(_conf_files())


def fake_backend(name: str):
    """The fake device ``name`` (``fake_torino`` ...), or raise :class:`InputError`.

    Built once per process and shared (parsing a device's properties costs ~0.5 s; a submit
    needs the device twice): treat it as read-only."""
    _check_name(name)
    return _fake_instance(name)


def _check_name(name: str) -> None:
    if name not in _conf_files():
        raise InputError(
            f"unknown fake device {name!r}: run `hwadapt backends` for the list (e.g. fake_torino)"
        )


@cache
def _fake_instance(name: str):
    from qiskit_ibm_runtime import fake_provider

    cls = next(c for c in vars(fake_provider).values()
               if isinstance(c, type) and getattr(c, "backend_name", None) == name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return cls()


@cache
def device_conf(name: str) -> dict:
    """The shipped configuration JSON of fake device ``name`` (read once per process)."""
    return json.loads(_conf_files()[name].read_text())


def device_info(name: str, kind: str, note: str) -> BackendInfo:
    """Qubits and basis gates of a fake device from its shipped configuration (~50x faster
    than instantiating the backend, which also parses its properties)."""
    conf = device_conf(name)
    gates = sorted(set(conf["basis_gates"]) - NON_GATES)
    return BackendInfo(name, kind, True, note, conf["n_qubits"], gates)


def cache_dir() -> Path:
    """hwadapt's per-user cache: ``$HWADAPT_CACHE``, else ``$XDG_CACHE_HOME/hwadapt``, else
    ``~/.cache/hwadapt``. Only derived data lives there; deleting it is always safe."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hwadapt"


def device_key(name: str) -> str:
    """Digest of what a device's cached data derives from: its shipped files (size, mtime)
    and the Qiskit version (the ``Target`` is pickled)."""
    import qiskit

    conf = _conf_files()[name]
    files = [conf, conf.with_name(conf.name.replace("conf_", "props_", 1))]
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]
    return hashlib.sha256(repr((qiskit.__version__, stats)).encode()).hexdigest()[:16]


def cached_pickle(folder: str, key: str, build):
    """``build()``'s result, pickled under ``cache_dir()/folder/key.pickle``: read back when
    present and readable, else built and written atomically (silently not written where the
    cache is read-only). ``key`` must name everything the result depends on."""
    path = cache_dir() / folder / f"{key}.pickle"
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
        _touch(path)
        return data
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass  # absent or unreadable: rebuild
    data = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: pickle.dump(data, f))
        prune_cache(path.parent)
    except OSError:
        pass  # a read-only home: no cache, same data
    return data


def _touch(path: Path) -> None:
    """Mark a cache entry as just used (its mtime orders :func:`prune_cache`)."""
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only cache is still read


def prune_cache(folder: Path, max_bytes: int | None = None) -> list[Path]:
    """Delete the least recently used ``*.pickle`` of ``folder`` until it holds at most
    ``max_bytes`` (default :data:`CACHE_FOLDER_MAX_BYTES`); the newest entry always stays.
    Entries another process removes meanwhile are skipped. Returns the deleted paths."""
    limit = CACHE_FOLDER_MAX_BYTES if max_bytes is None else max_bytes
    entries = []
    for p in folder.glob("*.pickle"):
        try:
            st = p.stat()
        except OSError:
            continue
        entries.append((st.st_mtime_ns, st.st_size, p))
    entries.sort(reverse=True)  # newest first
    total, removed = sum(size for _, size, _ in entries), []
    for _, size, p in entries[1:][::-1]:  # oldest first, never the newest
        if total <= limit:
            break
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            continue
        total -= size
    return removed


@cache
def device_data(name: str) -> tuple:
    """``(target, readout)`` of fake device ``name``: its ``Target`` and per qubit the
    asymmetric readout flips ``[p(1|0), p(0|1)]`` (None where unknown), from the cache or,
    the first time, from the fake device (then cached). Read-only: shared per process."""
    _check_name(name)

    def build():
        from qiskit_aer.noise.device import readout_error_values

        fake = fake_backend(name)
        return (fake.target, [None if r is None else [float(v) for v in r]
                              for r in readout_error_values(fake.properties())])

    return cached_pickle("devices", f"{name}-{device_key(name)}", build)


def target_backend(target, name: str = "hwadapt_target", rep_delay: float | None = None):
    """Minimal ``BackendV2`` carrying ``target`` (and the device's ``default_rep_delay`` in
    seconds, when given): what transpiling, ``NoiseModel.from_backend`` and the QPU-time
    estimate read; it cannot run circuits."""
    from qiskit.providers import BackendV2, Options

    class TargetBackend(BackendV2):
        def __init__(self):
            super().__init__(name=name)

        @property
        def target(self):
            return target

        @property
        def max_circuits(self):
            return None

        @property
        def default_rep_delay(self):
            return rep_delay

        @classmethod
        def _default_options(cls):
            return Options()

        def run(self, run_input, **options):
            raise NotImplementedError(f"{name}: a target for transpiling and noise only")

    return TargetBackend()


@cache
def device_backend(name: str):
    """Fake device ``name`` as a :func:`target_backend` of its cached ``Target``
    (:func:`device_data`): transpiles exactly as the fake device does, without importing
    ``qiskit_ibm_runtime``. Its ``default_rep_delay`` comes from the shipped configuration
    (microseconds there, seconds here, as on the fake device)."""
    target = device_data(name)[0]  # an unknown name fails here, with its one-line error
    delay = device_conf(name).get("default_rep_delay")
    return target_backend(target, name, None if delay is None else delay * 1e-6)
