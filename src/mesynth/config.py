"""Where the Hydra configs live, and the few helpers every area uses to read them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CONF_ENV = "MESYNTH_CONF_DIR"


def conf_dir() -> Path:
    """Directory of the Hydra configs: ``$MESYNTH_CONF_DIR`` or the checkout's ``conf/``."""
    override = os.environ.get(CONF_ENV)
    candidate = Path(override) if override else Path(__file__).resolve().parents[2] / "conf"
    if not (candidate / "train.yaml").is_file():
        raise FileNotFoundError(
            f"mesynth configs not found in {candidate} (expected train.yaml there). "
            f"Run from a checkout of mesynth, or set {CONF_ENV} to its conf/ directory."
        )
    return candidate


def to_plain(node: object) -> object:
    """An OmegaConf node (resolved) as plain dicts and lists; any other value unchanged."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def resolve_num_workers(value: object, setting: str = "num_workers") -> int:
    """DataLoader workers: an integer >= 0, or ``auto`` (one per CPU core left to this process,
    less one for the main process, at most 16)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # platforms without affinity masks
            cores = os.cpu_count() or 1
        return max(1, min(16, cores - 1))
    try:
        workers = int(value)
    except (TypeError, ValueError):
        workers = -1
    if workers < 0 or str(value).strip() != str(workers):
        raise ValueError(f"{setting}={value!r} must be a whole number >= 0 or auto")
    return workers


def choice_problem(setting: str, value: object, choices: Iterable[object], hint: str = "") -> str:
    """The one message for a value that is not one of ``choices`` (empty when it is one)."""
    choices = list(choices)
    if value in choices:
        return ""
    return f"{setting}={value!r} is not one of {choices}" + (f"; {hint}" if hint else "")


def check_choice(
    setting: str,
    value: object,
    choices: Iterable[object],
    error: type[Exception] = ValueError,
    hint: str = "",
) -> object:
    """``value`` when it is one of ``choices``; else ``error``: ``setting=value is not one of
    [...]`` and, when given, the ``hint`` that says how to fix it."""
    problem = choice_problem(setting, value, choices, hint)
    if problem:
        raise error(problem)
    return value


def dataclass_values(cls: type, node: object, setting: str, drop: tuple[str, ...] = ()) -> dict:
    """The values of a config node for dataclass ``cls``, refusing keys it does not have.

    ``setting`` names the node in the error (e.g. ``spotter=softnet``); ``drop`` lists keys the
    node may carry that are not fields (e.g. ``name``).
    """
    values = dict(to_plain(node) or {})
    for key in drop:
        values.pop(key, None)
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{setting} has unknown setting(s) {unknown}; known: {sorted(known)}")
    return values
