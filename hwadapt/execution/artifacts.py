"""A run's stored files read back verified: each against the SHA-256 the ledger recorded
when it was written. No Qiskit, no torch, and numpy only where arrays are read (not for
``status``: :func:`family_meta` reads sizes from the ``.npy`` headers), so ``status`` stays
fast."""

from __future__ import annotations

import ast
import contextlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from hwadapt.errors import InputError
from hwadapt.execution.ledger import Ledger, sha256_file


def artifact(ledger: Ledger, run_id: str, name: str) -> Path:
    """The run-folder file ``name`` of ``run_id``, verified against the checksum the ledger
    recorded for it; :class:`InputError` if it is missing or altered."""
    path = ledger.runs_dir / run_id / name
    digest = json.loads(ledger.run(run_id)["artifacts"]).get(name)
    if not path.is_file() or (digest is not None and sha256_file(path) != digest):
        raise InputError(f"run {run_id}: {str(path)!r} is missing or altered (checksum "
                         "mismatch); restore it from a backup, the ledger is left untouched")
    return path


def family_meta(ledger: Ledger, run_id: str, values: bool = False
                ) -> tuple[list[dict], list[Any] | list[int]]:
    """``(meta, sizes)`` of a run's families from its verified ``families.npz``; with
    ``values`` the binding arrays ``(count, P)`` instead of their sizes."""
    path = artifact(ledger, run_id, "families.npz")
    if not values:
        with contextlib.suppress(Exception):  # anything unexpected: numpy decides below
            return _npz_meta(path)
    try:
        import numpy as np  # here only: status reads sizes without importing numpy

        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            arrays = [z[f"values{j}"] for j in range(len(meta))]
        return meta, arrays if values else [len(a) for a in arrays]
    except Exception as e:  # noqa: BLE001 - a file that verified but does not load
        raise InputError(f"run {run_id}: {str(path)!r} cannot be read ({type(e).__name__}); "
                         "restore it from a backup") from None


def _npy_header(f: IO[bytes]) -> dict:
    """The header dict (``descr``, ``fortran_order``, ``shape``) of an ``.npy`` stream
    (format versions 1-3: magic, version, header length, a Python literal), left at the
    array data."""
    magic = f.read(8)
    if magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
        raise ValueError("not an .npy array")
    size = int.from_bytes(f.read(2 if magic[6] == 1 else 4), "little")
    return ast.literal_eval(f.read(size).decode("latin1" if magic[6] < 3 else "utf8"))


def _npz_meta(path: Path) -> tuple[list[dict], list[int]]:
    """``families.npz``'s ``meta`` (a 0-d unicode array of JSON) and the row count of each
    ``values<j>``, read from the archive without numpy (what ``np.load`` would give)."""
    with zipfile.ZipFile(path) as z:
        with z.open("meta.npy") as f:
            head = _npy_header(f)
            order, kind = head["descr"][0], head["descr"][1:2]
            if head["shape"] != () or kind != "U":
                raise ValueError(f"meta is not a 0-d string array: {head}")
            raw = f.read()
        meta = json.loads(raw.decode("utf-32-be" if order == ">" else "utf-32-le")
                          .rstrip("\0"))
        sizes = []
        for j in range(len(meta)):
            with z.open(f"values{j}.npy") as f:
                sizes.append(int(_npy_header(f)["shape"][0]))
    return meta, sizes


def verify_results(ledger: Ledger, run_id: str) -> None:
    """Check every stored result file of ``run_id`` against its checksum
    (:meth:`Ledger.result_path` raises :class:`InputError` naming the bad file)."""
    for b in ledger.batches(run_id):
        row = ledger.result(b.id)
        if row is not None:
            ledger.result_path(row)


def verify_run(ledger: Ledger, run_id: str) -> None:
    """Check every file of a run (artifacts and results) against its checksum."""
    for name in json.loads(ledger.run(run_id)["artifacts"]):
        artifact(ledger, run_id, name)
    verify_results(ledger, run_id)


def run_files(ledger: Ledger, run_id: str) -> tuple[list, list[dict], list[Any]]:
    """``(circuits, meta, values)`` of a run: every artifact verified against its checksum,
    the ISA circuits of ``circuits.qpy`` (Qiskit imported here only) and ``families.npz``'s
    family meta and binding arrays."""
    from qiskit import qpy

    for name in json.loads(ledger.run(run_id)["artifacts"]):
        artifact(ledger, run_id, name)
    with open(artifact(ledger, run_id, "circuits.qpy"), "rb") as f:
        circuits = qpy.load(f)
    meta, values = family_meta(ledger, run_id, values=True)
    return circuits, meta, values


def stored_results(ledger: Ledger, run_id: str) -> Iterator[tuple]:
    """``(batch, arrays)`` for every batch of ``run_id`` with a stored result: its
    checksum-verified result file opened with ``np.load`` (valid until the next item)."""
    import numpy as np  # not at module level: status reads no arrays (family_meta)

    for b in ledger.batches(run_id):
        row = ledger.result(b.id)
        if row is None:
            continue
        with np.load(ledger.result_path(row)) as z:
            yield b, z
