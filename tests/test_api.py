"""The public Python API: the README's example runs as written, and the functions behave as documented."""

import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs(tmp_path):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    code = readme_example() + "\nprint('RUN', run)\nprint('FOLDER', folder)\nprint('MAPS', tuple(maps.shape))\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    keys = ("RUN", "FOLDER", "MAPS")
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.split(" ")[0] in keys)
    run = tmp_path / out["RUN"]
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "eval" / "metrics.json").is_file()
    assert (tmp_path / out["FOLDER"] / "report.html").is_file()
    assert out["MAPS"] == "(8, 1, 28, 28)"
    assert "saliency" in proc.stdout


def test_train_refuses_what_cannot_work_before_doing_anything(tmp_path):
    import xaicli

    with pytest.raises(xaicli.ConfigError, match="--resume"):
        xaicli.train(run_dir=tmp_path / "a")
    with pytest.raises(xaicli.ConfigError, match="cannot be used together"):
        xaicli.train(ROOT / "configs" / "smoke_cnn.yaml", run_dir=tmp_path / "b", resume=tmp_path / "c")
    assert list(tmp_path.iterdir()) == []
