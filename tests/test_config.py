import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, SMOKE, xai

from xaicli import config as cfgmod
from xaicli.errors import ConfigError


def write(tmp_path, text, name="c.yaml", binary=False):
    p = tmp_path / name
    (p.write_bytes if binary else p.write_text)(text)
    return p


def test_defaults_file_overrides_precedence(tmp_path):
    p = write(tmp_path, "train:\n  epochs: 4\noptim:\n  lr: 0.01\n")
    cfg = cfgmod.load(p, ["optim.lr=2e-4", "model.args.width=16"])
    assert cfg.train.epochs == 4            # file beats default
    assert cfg.optim.lr == pytest.approx(2e-4)  # override beats file
    assert cfg.data.batch_size == cfgmod.DataConfig().batch_size  # default kept
    assert cfg.model.args == {"width": 16}


@pytest.mark.parametrize("override, expected", [
    ("train.epochz=1", "did you mean 'train.epochs'"),
    ("optim.lrr=1", "did you mean 'optim.lr'"),
    ("trian.epochs=1", "unknown key 'trian.epochs'"),
])
def test_unknown_key_suggests_closest(override, expected):
    with pytest.raises(ConfigError, match=expected):
        cfgmod.load(SMOKE, [override])


@pytest.mark.parametrize("text, expected", [
    ("train:\n  epochs: ten\n", "train.epochs: expected an integer, found 'ten'"),
    ("data:\n  batch_size: \"ten\"\n", "data.batch_size: expected an integer"),
    ("train:\n  epochs: -1\n", "train.epochs: expected a value >= 0"),
    ("optim:\n  lr: -1\n", "optim.lr: expected a value > 0.0"),
    ("optim:\n  name: adamm\n", "did you mean 'adam'"),
    ("train:\n  compile: 1\n", "train.compile: expected true or false"),
    ("train: 3\n", "train: expected a mapping"),
    ("name: ../escape\n", "name: expected letters"),
    ("seed: 1\nseed: 2\n", "duplicate key 'seed'"),
    ("train:\n\tepochs: 1\n", "invalid YAML"),
    ("- 1\n- 2\n", "found a list"),
    ("!!python/object/apply:os.system ['touch /tmp/xai-pwned']\n", "invalid YAML"),
])
def test_bad_config_is_a_config_error_naming_the_key(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        cfgmod.load(p)
    assert str(p) in str(info.value)


def test_empty_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(ConfigError, match="empty"):
        cfgmod.load(write(tmp_path, ""))
    with pytest.raises(ConfigError, match="not found"):
        cfgmod.load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="UTF-8"):
        cfgmod.load(write(tmp_path, b"name: \xff\xfe\n", binary=True))


def test_dump_is_a_valid_config_that_reloads_identically(tmp_path):
    cfg = cfgmod.load(SMOKE, ["train.epochs=3", "model.args.width=4"])
    p = write(tmp_path, cfgmod.dump(cfg), "resolved.yaml")
    assert cfgmod.load(p) == cfg
    assert yaml.safe_load(p.read_text())["train"]["epochs"] == 3


def test_every_shipped_config_loads():
    configs = sorted((ROOT / "configs").glob("*.yaml"))
    assert configs
    for p in configs:
        cfgmod.load(p)


def test_cli_config_prints_resolved_yaml_and_exit_codes(tmp_path):
    ok = xai("config", SMOKE, "train.epochs=1")
    assert ok.returncode == 0
    assert yaml.safe_load(ok.stdout)["train"]["epochs"] == 1
    bad = xai("config", SMOKE, "train.epochz=1")
    assert bad.returncode == 2
    assert "did you mean 'train.epochs'" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = xai("config", tmp_path / "missing.yaml")
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_help_and_config_validation_do_not_import_torch():
    code = (
        "import sys\n"
        "from xaicli.cli import app\n"
        "for argv in (['--help'], ['config', %r]):\n"
        "    try:\n"
        "        app(argv, prog_name='xai')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules)\n" % str(SMOKE)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr
