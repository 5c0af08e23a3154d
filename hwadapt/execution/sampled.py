"""A Sampler result as plain data: what a worker sends back and the driver stores."""

from __future__ import annotations


def compact_result(result) -> list[dict]:
    """Per PUB of a sampler ``result``: ``{"array": packed bits (bindings, shots, bytes),
    "num_bits": n}``, plus ``"aer_method"`` where the backend recorded its simulation method
    (:func:`hwadapt.execution.drive._store` reads it back)."""
    out = []
    for pub_result in result:
        bits = pub_result.join_data()
        meta = getattr(pub_result, "metadata", None) or {}
        method = (meta.get("circuit_metadata") or {}).get("aer_method")
        out.append({"array": bits.array, "num_bits": int(bits.num_bits),
                    **({} if method is None else {"aer_method": method})})
    return out
