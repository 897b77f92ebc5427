"""The docs home's install block, in a fresh virtualenv, then its first run.

Reads `docs/index.md` itself, so the check follows the page: the `pip
install` line of its install block runs in a new virtualenv (nothing else
installed), then the "Your first run" block runs with that virtualenv's
Python in a scratch directory and must save `digits.keras`.

    python .ci/fresh_install.py            # from the repository root
"""

import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def page_commands(text):
    """`(pip_arguments, first_run_code)` from the docs home's text."""
    install = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    pip = [line.split("#")[0].split() for line in install.splitlines()
           if line.strip().startswith("pip install")]
    if len(pip) != 1:
        raise SystemExit(f"docs/index.md: expected one `pip install` line, found {len(pip)}")
    section = text[text.index("## Your first run"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return [arg.strip('"').strip("'") for arg in pip[0][2:]], code


def main():
    with open(os.path.join(ROOT, "docs", "index.md")) as f:
        pip_arguments, code = page_commands(f.read())
    scratch = tempfile.mkdtemp(prefix="keras_lr_fresh_")
    venv = os.path.join(scratch, "venv")
    python = os.path.join(venv, "bin", "python")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    print("pip install " + " ".join(pip_arguments), flush=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *pip_arguments], cwd=ROOT, check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    run = os.path.join(scratch, "run")
    os.makedirs(run)
    subprocess.run([python, "-c", code], cwd=run, env=env, check=True)
    if not os.path.getsize(os.path.join(run, "digits.keras")):
        raise SystemExit("the first run did not save digits.keras")
    print("fresh install and first run: OK")


if __name__ == "__main__":
    main()
