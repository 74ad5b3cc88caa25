"""The config helpers every area uses."""

from __future__ import annotations

import pytest

from mesynth.config import check_choice, choice_problem, resolve_num_workers


class SettingError(ValueError):
    pass


def test_check_choice_returns_a_known_value_and_names_setting_value_and_choices():
    assert check_choice("writer", "ffv1", ("png", "ffv1")) == "ffv1"
    with pytest.raises(ValueError) as error:
        check_choice("writer", "gif", ("png", "ffv1"), hint="e.g. writer=ffv1")
    assert str(error.value) == "writer='gif' is not one of ['png', 'ffv1']; e.g. writer=ffv1"
    with pytest.raises(SettingError, match=r"^au.mode=3 is not one of \['dynamic'\]$"):
        check_choice("au.mode", 3, ["dynamic"], SettingError)
    # A mapping's keys are its choices.
    assert choice_problem("preset", "fast", {"fast": 1, "medium": 2}) == ""
    assert choice_problem("preset", "slow", {"fast": 1}) == "preset='slow' is not one of ['fast']"


def test_num_workers_reads_whole_numbers_and_auto_only():
    assert resolve_num_workers("3") == 3 and resolve_num_workers(0) == 0
    assert 1 <= resolve_num_workers("auto") <= 16
    for bad in ("-1", "2.5", "many"):
        with pytest.raises(ValueError, match="must be a whole number >= 0 or auto"):
            resolve_num_workers(bad, "spotting.workers")
