"""benchmarks/hybrid.py in miniature: every baseline (plain torch Givens, per gate and per
layer; a torch statevector of the circuit) computes the same outputs and gradients as the
exact surrogate (the script stops otherwise), and the JSON holds a ratio per variant."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_hybrid_benchmark_baselines_agree_and_are_recorded(tmp_path):
    out = tmp_path / "hybrid.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "hybrid.py"), "--rounds",
                        "1", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [row["n"] for row in rows] == [6, 8]
    for row in rows:
        assert {"ours", "torch_givens", "torch_givens_layers",
                "torch_statevector"} <= set(row["variants"])
        assert all(d < 1e-10 for d in row["max_abs_diff_vs_ours"].values())
        assert row["variants"]["ours"]["ratio_vs_ours"]["median"] == 1.0
        assert all(v["seconds"]["median"] > 0 for v in row["variants"].values())
