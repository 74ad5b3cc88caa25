"""Download errors: which are download failures, which are user errors, and Ctrl-C."""

from __future__ import annotations

import pytest

from mesynth.console import USER_ERROR_EXIT, user_error_exit
from mesynth.download.errors import (
    ConfigError,
    DownloadError,
    Interrupted,
    InvalidFileError,
    OfflineError,
    UnreachableError,
)


def test_every_way_a_file_can_fail_is_a_download_error():
    for error_type in (OfflineError, UnreachableError, InvalidFileError):
        assert issubclass(error_type, DownloadError)
    assert not issubclass(ConfigError, DownloadError) and issubclass(ConfigError, ValueError)
    assert issubclass(Interrupted, KeyboardInterrupt)  # Ctrl-C still stops every loop


@pytest.mark.parametrize("error_type", [ConfigError, OfflineError, InvalidFileError])
def test_they_end_in_one_block_and_status_two(error_type, monkeypatch, capsys):
    monkeypatch.delenv("MESYNTH_DEBUG", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exited:
        user_error_exit(error_type("wing.ckpt: offline and missing; run without --offline"))
    assert exited.value.code == USER_ERROR_EXIT
    assert "mesynth: error: wing.ckpt: offline and missing" in capsys.readouterr().err
