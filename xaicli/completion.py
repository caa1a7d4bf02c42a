"""Shell completion of values: config keys (`train.epo<TAB>`), their values (registry names, choices),
run directories, explanation methods. Commands and options come from Typer itself
(`xai --install-completion`, `xai completion bash|zsh|fish`).

Nothing here imports torch: registry names are declared (Registry.declared_names) and the config schema
is torch-free, so a TAB answers in about a tenth of a second (bench/cli.py measures it).

zsh and fish pass the word being completed whole (`model.name=fa`); bash splits it at `=` and `:`
(COMP_WORDBREAKS) and replaces only the part after the last of them. BashWholeWords glues the pieces back
before Click sees them and strips the glued prefix from the answers, so every completer here sees whole
words in every shell. A key alone completes to `key=` together with `key=<its value in this config>`,
never to one candidate: shells add a space after a lone completion, and `train.epochs= 3` would be two
words.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path

RUNS_DIR = "runs"
LOGGER_LISTS = ("[tensorboard]", "[mlflow]", "[tensorboard,mlflow]")
RUN_KEYS = ("eval.classifier", "explain.classifier")
BREAKS = ("=", ":")  # characters of bash's COMP_WORDBREAKS that occur inside our arguments


def _fields() -> dict[str, tuple[dataclasses.Field, object]]:
    """Dotted key -> (its dataclass field, its Python type)."""
    from xaicli.config.schema import SECTIONS, Config

    out = {}
    top = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        if f.name in SECTIONS:
            hints = typing.get_type_hints(SECTIONS[f.name])
            for g in dataclasses.fields(SECTIONS[f.name]):
                out[f"{f.name}.{g.name}"] = (g, hints[g.name])
        else:
            out[f.name] = (f, top[f.name])
    return out


def _current_values(ctx) -> dict:
    """The values of the config named on the command line (its defaults when there is none or it is bad)."""
    from xaicli import config as cfgmod

    path = (getattr(ctx, "params", None) or {}).get("config")
    try:
        cfg = cfgmod.load(path) if path and Path(path).is_file() else cfgmod.Config()
    except Exception:
        cfg = cfgmod.Config()
    out = {}
    for section, value in cfgmod.to_dict(cfg).items():
        if isinstance(value, dict):
            out.update({f"{section}.{k}": v for k, v in value.items()})
        else:
            out[section] = value
    return out


def _yaml_text(value) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def key_values(key: str) -> list[str]:
    """The values worth offering for a key: registry names, choices, booleans, logger lists, runs."""
    from xaicli.config.schema import LOGGERS

    if key == "model.name":
        from xaicli.models import MODELS

        return MODELS.declared_names()
    if key == "data.name":
        from xaicli.data.registry import DATASETS

        return DATASETS.declared_names()
    if key == "train.loggers":
        return [v for v in LOGGER_LISTS if all(name in LOGGERS for name in v.strip("[]").split(","))]
    if key in RUN_KEYS:
        return complete_run("")
    field = _fields().get(key)
    if field is None:
        return []
    if field[0].metadata.get("choices"):
        return [str(c) for c in field[0].metadata["choices"]]
    return ["true", "false"] if field[1] is bool else []


def complete_overrides(ctx, args: list[str], incomplete: str) -> list:
    """KEY=VALUE arguments of train, config and sweep."""
    from xaicli.config import all_keys

    keys = all_keys()
    incomplete = incomplete or ""
    if "=" in incomplete:
        key, typed = incomplete.split("=", 1)
        return [f"{key}={v}" for v in key_values(key) if v.startswith(typed)]
    fields = _fields()
    matches = [k for k in keys if k.startswith(incomplete)]
    if len(matches) != 1:
        return [(f"{k}=", fields[k][0].metadata.get("help", "")) for k in matches]
    key = matches[0]
    values = key_values(key) or [_yaml_text(_current_values(ctx).get(key))]
    return [(f"{key}=", fields[key][0].metadata.get("help", ""))] + [f"{key}={v}" for v in values if v != ""]


def complete_run(incomplete: str) -> list[str]:
    """Run directories under the folder typed so far (runs/ to begin with), `runs/latest` included."""
    from xaicli.runs.listing import find_runs

    incomplete = incomplete or ""
    folder = Path(incomplete).parent if "/" in incomplete else Path(RUNS_DIR)
    if "/" in incomplete and incomplete.endswith("/"):
        folder = Path(incomplete)
    if not folder.is_dir():
        return []
    found = [str(p) for p in find_runs(folder)]
    latest = folder / "latest"
    if latest.is_symlink() and latest.is_dir():
        found.append(str(latest))
    return sorted(p for p in found if p.startswith(incomplete))


def complete_method(incomplete: str) -> list[str]:
    """Explanation methods, and the prefixes (smoothgrad:METHOD, captum:NAME) with each method."""
    from xaicli.explain.registry import METHODS, PREFIXES

    methods = METHODS.declared_names()
    incomplete = incomplete or ""
    if ":" in incomplete:
        prefix = incomplete.split(":", 1)[0]
        return [f"{prefix}:{m}" for m in methods if f"{prefix}:{m}".startswith(incomplete)]
    offered = methods + [f"{p}:" for p in PREFIXES.declared_names()]
    return [m for m in offered if m.startswith(incomplete)]


def complete_registry(incomplete: str) -> list[str]:
    return [n for n in ("models", "datasets", "methods", "tasks") if n.startswith(incomplete or "")]


def completion_script(shell: str) -> str:
    """The script that `xai --install-completion` installs for `shell`, to print or source."""
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="xai", complete_var="_XAI_COMPLETE", shell=shell)


def glue(words: list[str]) -> list[str]:
    """Words as typed, from bash's: `model.name`, `=`, `fa` -> `model.name=fa` (a break character is glued to
    both neighbours; bash does not say whether there were spaces, and no argument here has them there)."""
    out: list[str] = []
    for i, word in enumerate(words):
        if out and (word in BREAKS or words[i - 1] in BREAKS):
            out[-1] += word
        else:
            out.append(word)
    return out


def bash_request(words: list[str], cword: int) -> tuple[list[str], str, int]:
    """(args, the whole word being completed, how many of its characters bash keeps) from COMP_WORDS
    (without the program name) and the index of the word being completed."""
    current = words[cword] if cword < len(words) else ""
    typed = glue(words[:cword + 1]) if cword < len(words) else glue(words) + [""]
    replaced = "" if current in BREAKS else current  # after `=`, bash replaces the empty text that follows
    return typed[:-1], typed[-1], len(typed[-1]) - len(replaced)


def skip_value_coercion() -> None:
    """A TAB needs the words typed, not their typed values: skip Typer's value coercion while completing
    (it imports pydantic, which was half of a TAB's time; bench/cli.py)."""
    from typer.core import _TyperParameter

    _TyperParameter.process_value = lambda self, ctx, value: value  # type: ignore[method-assign]


def use_whole_words_in_bash() -> None:
    """Make bash completion see whole words (call after Typer has registered its own shell classes)."""
    from typer._click.shell_completion import add_completion_class, split_arg_string
    from typer._completion_classes import BashComplete

    class BashWholeWords(BashComplete):
        kept = 0

        def get_completion_args(self) -> tuple[list[str], str]:
            words = split_arg_string(os.environ["COMP_WORDS"])
            args, incomplete, self.kept = bash_request(words[1:], int(os.environ["COMP_CWORD"]) - 1)
            return args, incomplete

        def format_completion(self, item) -> str:
            return str(item.value)[self.kept:]

    add_completion_class(BashWholeWords, "bash")
