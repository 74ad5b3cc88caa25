"""Entry points: the console scripts and the top-level scripts run the same functions."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mesynth import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["train", "infer", "evaluate"])
def test_console_script_and_top_level_script_call_the_same_function(name):
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[f"mesynth-{name}"] == f"mesynth.cli:{name}_main"
    tree = ast.parse((REPO / f"{name}.py").read_text())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "mesynth.cli"
        for alias in node.names
    ]
    assert imported == [f"{name}_main"]


def test_config_directory_is_found_and_a_wrong_one_is_a_clear_error(monkeypatch, tmp_path):
    assert cli.conf_dir() == REPO / "conf"
    monkeypatch.setenv(cli.CONF_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MESYNTH_CONF_DIR"):
        cli.conf_dir()


@pytest.mark.slow
def test_top_level_script_prints_its_composed_config(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "infer.py"), "--cfg", "job", "crop=none", "writer=ffv1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "crop: none" in result.stdout
    assert "writer:\n  kind: ffv1" in result.stdout


def _infer(tmp_path, *overrides: str, **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO / "infer.py"), *overrides, f"hydra.run.dir={tmp_path}"]
    return subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_user_errors_are_one_block_with_status_2_and_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / "no_such_clip"
    result = _infer(tmp_path, f"source={missing}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"mesynth: error: source {missing} does not exist" in result.stderr
    assert "MESYNTH_DEBUG=1 shows the traceback" in result.stderr

    debug = _infer(tmp_path, f"source={missing}", MESYNTH_DEBUG="1")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_a_config_hydra_cannot_compose_is_a_user_error_too(tmp_path):
    result = _infer(tmp_path, "no_such_setting=1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Could not override 'no_such_setting'" in result.stderr
