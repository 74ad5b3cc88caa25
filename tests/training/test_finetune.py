"""Fine-tuning: a new domain from an old one's heads, frozen parts, official-layout starts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from mesynth.checkpoint import CheckpointError, load_nets
from mesynth.training import run
from mesynth.training.runner import build_module
from tests.training.conftest import compose_train, make_face_folder, tiny_overrides


def finetune_overrides(data: Path, output_dir: Path, checkpoint: Path, *extra: str) -> list[str]:
    return tiny_overrides(data, output_dir, f"finetune.checkpoint={checkpoint}", *extra)


def test_finetune_adds_a_domain_freezes_the_encoder_and_trains(trained_run, tmp_path, caplog):
    data = make_face_folder(tmp_path / "faces3", domains=("glasses", "plain", "sunglasses"))
    start = trained_run.output_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(start, weights_only=True)["state_dict"]
    overrides = finetune_overrides(
        data,
        tmp_path / "run",
        start,
        "finetune.new_domains={sunglasses: glasses}",
        "finetune.freeze=[generator.encode]",
        "schedule.total_iters=1",
    )
    cfg = compose_train(overrides)
    module = build_module(cfg, ["glasses", "plain", "sunglasses"])
    # The new domain's heads are copies of the glasses heads, the others continue as they were.
    for prefix in ("nets", "nets_ema"):
        for net in ("mapping_network", "style_encoder"):
            heads = getattr(module, prefix)[net].unshared
            for target, source in ((0, 0), (1, 1), (2, 0)):
                for key, value in heads[target].state_dict().items():
                    assert torch.equal(value, saved[f"{prefix}.{net}.unshared.{source}.{key}"])
    last = module.nets["discriminator"].main[-1]
    last_key = f"nets.discriminator.main.{len(module.nets['discriminator'].main) - 1}"
    assert torch.equal(last.weight, saved[f"{last_key}.weight"][[0, 1, 0]])
    assert torch.equal(last.bias, saved[f"{last_key}.bias"][[0, 1, 0]])
    assert not any(p.requires_grad for p in module.nets["generator"].encode.parameters())

    result = run(cfg)
    trained = result.module
    assert trained.iteration == 1 and trained.domains == ["glasses", "plain", "sunglasses"]
    for key, value in trained.nets["generator"].encode.state_dict().items():
        assert torch.equal(value, saved[f"nets.generator.encode.{key}"]), key
    decoder_start = saved["nets.generator.decode.0.conv1.weight"]
    assert not torch.equal(trained.nets["generator"].decode[0].conv1.weight, decoder_start)
    export = load_nets(result.output_dir / "checkpoints" / "000001_nets_ema.ckpt")
    assert export.config.num_domains == 3

    # Without saying where 'sunglasses' comes from, the run stops with a clear message.
    cfg = compose_train(finetune_overrides(data, tmp_path / "bad", start))
    with pytest.raises(CheckpointError, match=r"data domain\(s\) \['sunglasses'\] have no"):
        build_module(cfg, ["glasses", "plain", "sunglasses"])

    # An official-layout file (EMA only, unnamed domains) also works once the names are given.
    official = trained_run.output_dir / "checkpoints" / "000004_nets_ema.ckpt"
    cfg = compose_train(finetune_overrides(data, tmp_path / "official", official))
    with pytest.raises(CheckpointError, match="the checkpoint has 2 domains, the data has 3"):
        build_module(cfg, ["glasses", "plain", "sunglasses"])
    cfg = compose_train(
        finetune_overrides(
            data,
            tmp_path / "official",
            official,
            "finetune.checkpoint_domains=[glasses,plain]",
            "finetune.new_domains={sunglasses: plain}",
        )
    )
    with caplog.at_level(logging.WARNING):
        module = build_module(cfg, ["glasses", "plain", "sunglasses"])
    assert "discriminator starts from He initialisation" in caplog.text
    ema = trained_run.module.nets_ema["style_encoder"].unshared
    for key, value in module.nets["style_encoder"].unshared[2].state_dict().items():
        assert torch.equal(value, ema[1].state_dict()[key])
