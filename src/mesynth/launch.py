"""Which task of a multi-process launch this process is, read from the launcher's environment.

A run started by SLURM (``srun``), ``torchrun`` or Lightning's own launcher (one process per
device, ``NODE_RANK`` per machine) is several processes running the same command. Before
torch.distributed is up they can only tell who they are from the variables their launcher set;
this module reads them, so that rank zero alone decides what all tasks share (the run folder)
and writes what only one should write.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from mesynth.atomic import write_atomically

# Rank variables of the launchers, each zero on rank zero: torchrun / torch.distributed (RANK,
# GROUP_RANK = the node), SLURM (SLURM_PROCID), Lightning (NODE_RANK, LOCAL_RANK).
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "GROUP_RANK", "NODE_RANK", "LOCAL_RANK")
HANDSHAKE_DIR = Path("outputs") / ".launch"


class LaunchError(RuntimeError):
    """The tasks of one launch could not agree on their run folder; the message says why."""


def _int_env(name: str, default: int = 0) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.lstrip("-").isdigit() else default


def is_multi_task() -> bool:
    """Whether this process is one of several started by a launcher for one run."""
    if _int_env("WORLD_SIZE", 1) > 1 or _int_env("SLURM_NTASKS", 1) > 1:
        return True
    return any(name in os.environ for name in ("NODE_RANK", "GROUP_RANK"))


def launch_rank() -> int:
    """0 on rank zero (and in a single-process run), else a positive rank of this launch."""
    if not is_multi_task() and "LOCAL_RANK" not in os.environ:
        return 0
    if "RANK" in os.environ:
        return _int_env("RANK")
    if _int_env("SLURM_NTASKS", 1) > 1 and "SLURM_PROCID" in os.environ:
        return _int_env("SLURM_PROCID")
    # Lightning: node and local rank (the processes per node are not known yet; only zero or
    # not matters here).
    node, local = _int_env("NODE_RANK", _int_env("GROUP_RANK")), _int_env("LOCAL_RANK")
    return node * 1000 + local


def launch_label() -> str:
    """This task in file names: ``rank3`` (torchrun, SLURM) or ``node1-local0`` (Lightning)."""
    if "RANK" in os.environ or (_int_env("SLURM_NTASKS", 1) > 1 and "SLURM_PROCID" in os.environ):
        return f"rank{launch_rank()}"
    node = _int_env("NODE_RANK", _int_env("GROUP_RANK"))
    return f"node{node}-local{_int_env('LOCAL_RANK')}"


def launch_key() -> str:
    """What every task of this launch has in common and another launch does not."""
    if _int_env("SLURM_NTASKS", 1) > 1 and "SLURM_JOB_ID" in os.environ:
        return f"slurm-{os.environ['SLURM_JOB_ID']}.{os.environ.get('SLURM_STEP_ID', '0')}"
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    if run_id not in ("", "none"):
        return f"torchrun-{run_id}.{restart}"
    address = os.environ.get("MASTER_ADDR", "localhost").replace(":", "_").replace("/", "_")
    return f"{address}-{os.environ.get('MASTER_PORT', '0')}.{restart}"


def publish_run_dir(run_dir: str | Path, handshake_dir: Path = HANDSHAKE_DIR) -> Path:
    """Rank zero: tell the other tasks of this launch which run folder it chose (in a note
    that stays: rank zero may finish before another task has read it)."""
    path = handshake_dir / f"{launch_key()}.json"
    for old in handshake_dir.glob("*.json"):  # notes of launches long over
        if time.time() - old.stat().st_mtime > 7 * 24 * 3600:
            old.unlink(missing_ok=True)
    text = json.dumps({"run_dir": str(Path(run_dir).resolve()), "time": time.time()})
    return write_atomically(path, lambda partial: partial.write_text(text))


def await_run_dir(
    timeout_s: float = 600.0,
    handshake_dir: Path = HANDSHAKE_DIR,
    started: float | None = None,
    max_skew_s: float = 300.0,
    poll_s: float = 0.2,
) -> str:
    """Another task: the run folder rank zero chose, once it is published.

    A note left by an earlier launch with the same key (a reused MASTER_PORT) is older than this
    task by more than ``max_skew_s`` and is not taken.
    """
    path = handshake_dir / f"{launch_key()}.json"
    started = time.time() if started is None else started
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            note = json.loads(path.read_text())
            if float(note["time"]) >= started - max_skew_s:
                return str(note["run_dir"])
        except (OSError, ValueError, KeyError):
            pass  # not written yet
        if time.monotonic() > deadline:
            raise LaunchError(
                f"rank {launch_rank()} waited {timeout_s:.0f} s for rank zero to name the run "
                f"folder in {path.resolve()}; every task must start in the same directory on a "
                "filesystem all nodes share (the run folder needs one too), or pass "
                "hydra.run.dir=DIR to every task"
            )
        time.sleep(poll_s)
