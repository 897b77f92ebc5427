"""The README's example runs as written (offline), in a scratch directory."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_example_runs(tmp_path):
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("## Example"):readme.index("## Features")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
    code = code.replace("verbose=2", "verbose=0")
    env = dict(os.environ, PYTHONPATH=ROOT, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # No scary lines at its end (tf.data's "Error occurred when finalizing
    # GeneratorDataset iterator" came from the finder's generator once).
    assert "GeneratorDataset" not in result.stderr + result.stdout
    assert "LR finder sweep 3/3" in result.stdout  # the default: median of 3 sweeps
    closing = [line for line in result.stdout.splitlines() if line.startswith("LR finder: ")]
    assert len(closing) == 1 and "constant LR" in closing[0] and "range" in closing[0]
    assert (tmp_path / "digits.keras").exists()
