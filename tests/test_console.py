"""The terminal: user errors told from bugs, one block and exit status 2, chatter dropped."""

from __future__ import annotations

import logging

import pytest

from mesynth import console


def test_errors_raised_by_mesynth_are_told_from_bugs() -> None:
    from mesynth.console import is_user_error
    from mesynth.video.decoders import FrameError

    assert is_user_error(FrameError("frame x.jpg is unreadable"))
    assert is_user_error(FileNotFoundError("x"))
    import numpy as np

    with pytest.raises(ValueError) as bug:
        np.zeros(2).reshape(3)
    # Raised inside numpy, not on purpose by mesynth: a bug, which keeps its traceback.
    assert not is_user_error(bug.value)


def test_a_user_error_exits_with_one_block_and_status_two(monkeypatch, capsys):
    monkeypatch.delenv(console.DEBUG_ENV, raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exited:
        console.user_error_exit(FileNotFoundError("frames/ is missing; run the download first"))
    assert exited.value.code == console.USER_ERROR_EXIT == 2
    assert capsys.readouterr().err == (
        "\nmesynth: error: frames/ is missing; run the download first\n"
        "(this is a problem with the input or the settings; MESYNTH_DEBUG=1 shows the traceback)\n"
    )
    with pytest.raises(SystemExit) as interrupted:
        console.user_error_exit(KeyboardInterrupt())
    assert interrupted.value.code == 130


def test_a_bug_or_debug_mode_returns_so_the_caller_raises(monkeypatch):
    monkeypatch.delenv(console.DEBUG_ENV, raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    assert console.user_error_exit(ZeroDivisionError("bug")) is None
    monkeypatch.setenv(console.DEBUG_ENV, "1")
    assert console.debugging()
    assert console.user_error_exit(FileNotFoundError("x")) is None
    monkeypatch.setenv(console.DEBUG_ENV, "0")
    assert not console.debugging()


def test_lightning_chatter_is_dropped_and_other_lines_kept():
    console.quiet_third_party()
    console.quiet_third_party()  # twice adds the filter once
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    filters = [f for f in logger.filters if isinstance(f, console._DropChatter)]
    assert len(filters) == 1

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord(logger.name, logging.INFO, __file__, 1, message, None, None)

    assert not filters[0].filter(record("GPU available: False, used: False"))
    assert filters[0].filter(record("Trainer.fit stopped: max_steps=2 reached."))
