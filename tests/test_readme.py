"""Every command the README shows runs as written: the Hydra configs compose with its exact
overrides (every value of a sweep), the command-line tools accept its exact options, and the
files it names exist. The end-to-end runs of these commands are in the area tests."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
HYDRA_SCRIPTS = {"train.py": "train", "infer.py": "infer", "evaluate.py": "evaluate"}


def readme_commands() -> list[str]:
    """Shell commands of the README's bash blocks and of its inline code, one per entry."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip()]
    commands += re.findall(r"`((?:\.venv/bin/)?(?:python|mesynth) [^`]+)`", README)
    return commands


def words(command: str) -> list[str]:
    return [w for w in shlex.split(command, comments=True) if w != "..."]


def expand_sweeps(overrides: list[str]) -> list[list[str]]:
    """One override list per job of a ``-m`` sweep (one list when nothing sweeps)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    choices = []
    for text, override in zip(overrides, parsed, strict=True):
        if override.is_sweep_override():
            key = override.get_key_element()
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            choices.append([text])
    return [list(job) for job in itertools.product(*choices)]


HYDRA_COMMANDS = [
    command
    for command in readme_commands()
    if len(words(command)) > 1
    and words(command)[0] == "python"
    and words(command)[1] in HYDRA_SCRIPTS
]
TOOL_COMMANDS = [
    command
    for command in readme_commands()
    if words(command)[:1] in (["mesynth"], [".venv/bin/mesynth"])
    and len(words(command)) > 2
    or words(command)[:3] == ["python", "-m", "mesynth.video.demo_clip"]
]


def test_the_readme_shows_commands_of_every_entry_point() -> None:
    scripts = {words(command)[1] for command in HYDRA_COMMANDS}
    assert scripts == set(HYDRA_SCRIPTS)
    assert len(HYDRA_COMMANDS) >= 20 and len(TOOL_COMMANDS) >= 8


def assert_applied(cfg, override) -> None:
    """The composed config holds what the override says: the chosen group option, or the value
    (a mapping given on the command line replaces the default one, it is not merged into it)."""
    key, value = override.get_key_element(), override.value()
    choices = cfg.hydra.runtime.choices
    if key in choices:
        assert choices[key] == value, (key, choices[key], value)
        return
    node = OmegaConf.select(cfg, key, throw_on_missing=False)
    found = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node
    assert found == value, (key, found, value)


@pytest.mark.parametrize("command", HYDRA_COMMANDS)
def test_hydra_command_composes_as_written(command: str) -> None:
    script, *arguments = words(command)[1:]
    if arguments[:1] == ["--help"]:
        assert arguments == ["--help"]  # Hydra's own flag, nothing to compose
        return
    overrides = [a for a in arguments if a not in ("-m", "--multirun")]
    jobs = expand_sweeps(overrides) if len(overrides) < len(arguments) else [overrides]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for job in jobs:
            cfg = compose(
                config_name=HYDRA_SCRIPTS[script], overrides=job, return_hydra_config=True
            )
            for override in OverridesParser.create().parse_overrides(job):
                assert_applied(cfg, override)
            if script == "infer.py":
                # The reference strategy is built from its group: every key must be one it takes.
                instantiate(cfg.reference)


@pytest.mark.parametrize("command", TOOL_COMMANDS)
def test_tool_command_parses_as_written(command: str) -> None:
    arguments = words(command)
    if arguments[0] == "python":
        from mesynth.video.demo_clip import build_parser

        build_parser().parse_args(arguments[3:])
        return
    from mesynth.__main__ import build_parser

    parsed = build_parser().parse_args(arguments[1:])
    assert parsed.command in ("download", "prepare-data", "score-spotting")


def test_the_files_and_folders_the_readme_names_exist() -> None:
    # (checkpoints/ holds downloaded weights, which are never committed: only its README.)
    named = set(re.findall(r"`((?:conf|benchmarks|tests|src)/[\w./-]+)`", README))
    named |= set(re.findall(r"python (benchmarks/\w+\.py)", README))
    assert named
    missing = sorted(path for path in named if not (REPO / path.rstrip("/")).exists())
    assert not missing, f"the README names files that do not exist: {missing}"
