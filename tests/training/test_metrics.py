"""FID/LPIPS: the Fréchet distance by hand, LPIPS basics, the whole protocol on tiny data with
randomly initialised weight files, and the error when weights are missing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg
from torchvision import models

from mesynth.training import run
from mesynth.training.data import scan_folder
from mesynth.training.metrics import (
    LPIPS,
    MetricsError,
    calculate_metrics,
    check_metric_weights,
    frechet_distance,
    mean_pairwise_lpips,
)
from tests.training.conftest import compose_train, tiny_overrides
from tests.training.test_losses import tiny_nets


def test_frechet_distance_of_diagonal_gaussians_by_hand():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    # |mu1 - mu2|^2 + sum(var1 + var2 - 2 sqrt(var1 var2)) = 5 + (1 + 0 + 4)
    expected = 5.0 + 1.0 + 0.0 + 4.0
    value = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert value == pytest.approx(expected, abs=1e-9)
    assert frechet_distance(mu1, np.diag(var1), mu1, np.diag(var1)) == pytest.approx(0, abs=1e-9)
    # Full covariances: the same value as with a general matrix square root.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 6)), rng.normal(size=(40, 6)) * 2 + 1
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(linalg.sqrtm(cov_a @ cov_b))
    direct = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root)
    value = frechet_distance(a.mean(0), cov_a, b.mean(0), cov_b)
    assert value == pytest.approx(direct, rel=1e-8)


def test_lpips_is_zero_for_identical_images_and_positive_otherwise():
    torch.manual_seed(0)
    lpips = LPIPS(models.alexnet(weights=None)).eval()
    for weight in lpips.lpips_weights:
        torch.nn.init.uniform_(weight[1].weight, 0.0, 1.0)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    y = torch.rand(2, 3, 64, 64) * 2 - 1
    assert mean_pairwise_lpips(lpips, [x, x.clone()]) == pytest.approx(0.0, abs=1e-7)
    # Pairs of [x, y, y]: (x, y), (x, y), (y, y).
    distance = lpips(x, y).item()
    assert distance > 0
    assert mean_pairwise_lpips(lpips, [x, y, y]) == pytest.approx(2 * distance / 3, rel=1e-5)


def random_weight_files(folder):
    torch.manual_seed(0)
    paths = {
        "inception_path": folder / "inception.pth",
        "alexnet_path": folder / "alexnet.pth",
        "lpips_path": folder / "lpips.ckpt",
    }
    inception = models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    torch.save(inception.state_dict(), paths["inception_path"])
    alexnet = models.alexnet(weights=None)
    torch.save(alexnet.state_dict(), paths["alexnet_path"])
    lpips = LPIPS(alexnet).state_dict()
    torch.save(
        {k: v.abs() for k, v in lpips.items() if k.startswith("lpips_weights.")},
        paths["lpips_path"],
    )
    return {key: str(value) for key, value in paths.items()}


@pytest.mark.slow
def test_protocol_reports_fid_and_lpips_per_task_and_mean(face_folder, tmp_path):
    settings = {**random_weight_files(tmp_path), "num_outs_per_domain": 2, "batch_size": 2}
    images = scan_folder(face_folder, None, ["jpg"])
    val = scan_folder(face_folder, None, ["jpg"])
    val.paths, val.labels = val.paths[:1] + val.paths[3:4], val.labels[:1] + val.labels[3:4]
    values = calculate_metrics(tiny_nets(0.0), images, val, settings, img_size=64, latent_dim=16)
    tasks = ["glasses2plain", "plain2glasses"]
    expected = {
        f"{m}_{mode}/{t}"
        for m in ("FID", "LPIPS")
        for mode in ("latent", "reference")
        for t in [*tasks, "mean"]
    }
    assert set(values) == expected
    assert all(np.isfinite(v) for v in values.values())
    for mode in ("latent", "reference"):
        assert values[f"LPIPS_{mode}/mean"] == pytest.approx(
            np.mean([values[f"LPIPS_{mode}/{t}"] for t in tasks])
        )
        assert values[f"FID_{mode}/glasses2plain"] > 0


def test_missing_weights_stop_the_run_before_training(face_folder, tmp_path):
    with pytest.raises(MetricsError) as error:
        check_metric_weights({"inception_path": str(tmp_path / "nope.pth")})
    message = str(error.value)
    assert "metrics.inception_path=" in message and "inception_v3_google" in message
    assert "metrics.lpips_path=None" in message and "schedule.eval_every=0" in message
    cfg = compose_train(
        tiny_overrides(
            face_folder, tmp_path, "schedule.eval_every=1", "data.val_root=" + str(face_folder)
        )
    )
    with pytest.raises(MetricsError, match="FID/LPIPS need locally stored weights"):
        run(cfg)
