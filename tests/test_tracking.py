"""Results to the configured logger: nested numbers flattened, tables and figures sent."""

from __future__ import annotations

import pandas as pd
from omegaconf import OmegaConf

from mesynth.tracking import finish_run, flat_numbers, log_results


class RecordingLogger:
    """A logger that can log tables and images, and records what it was given."""

    calls: list = []

    def __init__(self, save_dir: str) -> None:
        self.save_dir = save_dir
        RecordingLogger.calls = []

    def log_hyperparams(self, params):
        self.calls.append(("hyperparams", params))

    def log_metrics(self, metrics):
        self.calls.append(("metrics", metrics))

    def log_table(self, key, dataframe):
        self.calls.append(("table", key, len(dataframe)))

    def log_image(self, key, images):
        self.calls.append(("image", key, images))

    def finalize(self, status):
        self.calls.append(("finalize", status))


def test_flat_numbers_keys_nested_values_by_path():
    summary = {"au": {"AU12": {"r": 0.5, "n": 3}}, "ok": True, "name": "demo"}
    assert flat_numbers(summary) == {"au/AU12/r": 0.5, "au/AU12/n": 3.0, "ok": 1.0}


def test_no_logger_logs_nothing():
    assert log_results(OmegaConf.create({"logger": None}), {}, {}, {}) is None
    finish_run(None)  # nothing to close


def test_the_logger_gets_config_numbers_tables_and_figures(tmp_path):
    cfg = OmegaConf.create(
        {"logger": {"_target_": f"{__name__}.RecordingLogger", "save_dir": str(tmp_path)}}
    )
    table = pd.DataFrame({"video": ["a", "b"], "r": [0.1, 0.2]})
    figure = tmp_path / "curve.png"
    logger = log_results(cfg, {"per_video": table}, {"curve": figure}, {"mean": {"r": 0.15}})
    assert isinstance(logger, RecordingLogger)
    assert logger.calls[1:] == [
        ("metrics", {"mean/r": 0.15}),
        ("table", "tables/per_video", 2),
        ("image", "figures/curve", [str(figure)]),
        ("finalize", "success"),
    ]
    assert logger.calls[0][0] == "hyperparams"
    assert logger.calls[0][1]["logger"]["save_dir"] == str(tmp_path)


def test_finish_run_closes_an_open_run_with_its_exit_code():
    class Run:
        codes: list[int] = []

        def finish(self, exit_code):
            self.codes.append(exit_code)

    class Logger:
        _experiment = Run()

    finish_run(Logger(), failed=True)
    finish_run(Logger())
    assert Run.codes == [1, 0]
