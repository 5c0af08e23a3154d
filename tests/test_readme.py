"""The README's Python example runs as written (docs that drift are bugs)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md lost its Python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
