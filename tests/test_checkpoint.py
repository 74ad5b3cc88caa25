"""Official checkpoint formats: round trips, the released files' quirks, and clear errors."""

from __future__ import annotations

import logging

import pytest
import torch

from mesynth.checkpoint import (
    CheckpointError,
    export_official,
    load_nets,
    load_official,
    load_wing,
    save_official,
)
from mesynth.nets import build_nets
from tests.nets.goldens import fill_state

SMALL = dict(img_size=64, max_conv_dim=64, style_dim=16, latent_dim=8, num_domains=3)


@pytest.fixture(scope="module")
def small_nets():
    nets = build_nets(**SMALL, w_hpf=1)
    for seed, name in enumerate(
        ["generator", "mapping_network", "style_encoder", "discriminator", "fan"]
    ):
        nets[name].load_state_dict(fill_state(nets[name].state_dict(), seed))
        nets[name].eval()
    return nets


def _outputs(nets) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1
    y = torch.tensor([2, 1])
    z = torch.randn(2, 8, generator=generator)
    with torch.no_grad():
        masks = nets.fan.get_heatmap(x) if nets.fan is not None else None
        style = nets.style_encoder(x, y)
        outputs = [style, nets.mapping_network(z, y), nets.generator(x, style, masks=masks)]
        outputs += list(masks or [])
        if nets.get("discriminator") is not None:
            outputs.append(nets.discriminator(x, y))
    return outputs


def _assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_nets_ema_round_trip_gives_identical_outputs(small_nets, tmp_path):
    path = export_official(small_nets, tmp_path / "000100_nets_ema.ckpt")
    assert set(torch.load(path)) == {"generator", "mapping_network", "style_encoder", "fan"}
    loaded = load_official(path)
    assert loaded.config.to_dict() == dict(SMALL, w_hpf=1.0)
    assert "discriminator" not in loaded
    assert not loaded.generator.training
    expected = _outputs(small_nets)[:-1]  # no discriminator in a nets_ema file
    _assert_same(_outputs(loaded), expected)


def test_nets_file_also_holds_the_discriminator(small_nets, tmp_path):
    path = save_official(small_nets, tmp_path / "000100_nets.ckpt")
    loaded = load_official(path)
    _assert_same(_outputs(loaded), _outputs(small_nets))


def test_released_file_quirks_are_tolerated(small_nets, tmp_path):
    """Old serialisation, DataParallel ``module.`` prefixes, no ``hpf.filter`` buffer."""
    states = {}
    for name in ("generator", "mapping_network", "style_encoder"):
        state = {f"module.{k}": v for k, v in small_nets[name].state_dict().items()}
        state.pop("module.hpf.filter", None)
        states[name] = state
    path = tmp_path / "100000_nets_ema.ckpt"
    torch.save(states, path, _use_new_zipfile_serialization=False)
    wing_state = {k: v for k, v in small_nets.fan.state_dict().items()}
    wing_state = {k: v for k, v in wing_state.items() if not k.endswith("num_batches_tracked")}
    wing_state["m1.b1_4.bn1.weight"] = torch.ones(256)  # a later hourglass stack, unused
    wing_path = tmp_path / "wing.ckpt"
    torch.save({"state_dict": wing_state}, wing_path, _use_new_zipfile_serialization=False)

    loaded = load_official(path, wing=wing_path)
    assert loaded.config.w_hpf == 1.0
    _assert_same(_outputs(loaded), _outputs(small_nets)[:-1])
    _assert_same(
        [p for p in load_wing(wing_path).state_dict().values()][:5],
        [p for p in small_nets.fan.state_dict().values()][:5],
    )


def test_settings_are_inferred_for_every_size_with_and_without_high_pass(tmp_path):
    for img_size in (64, 128, 256, 512):
        for w_hpf in (0.0, 2.0):
            nets = build_nets(
                img_size=img_size, max_conv_dim=32, style_dim=8, num_domains=4, w_hpf=w_hpf
            )
            path = save_official(
                nets,
                tmp_path / f"{img_size}_{w_hpf}.ckpt",
                ("generator", "mapping_network", "style_encoder", "discriminator"),
            )
            if w_hpf:
                loaded = load_official(path, wing=_wing_file(nets.fan, tmp_path))
            else:
                loaded = load_official(path)
            assert loaded.config.img_size == img_size
            assert loaded.config.w_hpf == w_hpf  # read back from the hpf.filter buffer
            assert loaded.config.num_domains == 4
            assert loaded.config.style_dim == 8
            assert (loaded.fan is None) == (w_hpf == 0)


def _wing_file(fan, tmp_path):
    path = tmp_path / "wing.ckpt"
    if not path.exists():
        torch.save({"state_dict": fan.state_dict()}, path)
    return path


def test_truncated_file_is_a_clear_error(small_nets, tmp_path):
    path = export_official(small_nets, tmp_path / "good_nets_ema.ckpt")
    truncated = tmp_path / "truncated_nets_ema.ckpt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(
        CheckpointError, match="truncated_nets_ema.ckpt.*truncated or not a PyTorch checkpoint"
    ):
        load_official(truncated)
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_official(empty)
    with pytest.raises(CheckpointError, match="does not exist.*checkpoints/README.md"):
        load_official(tmp_path / "missing.ckpt")


def test_wrong_files_are_clear_errors(small_nets, tmp_path):
    other = tmp_path / "other.ckpt"
    torch.save({"encoder": {"w": torch.zeros(1)}}, other)
    with pytest.raises(CheckpointError, match="not an official StarGAN v2 checkpoint"):
        load_official(other)
    wing = _wing_file(small_nets.fan, tmp_path)
    with pytest.raises(CheckpointError, match="landmark-network file.*wing="):
        load_official(wing)

    # A generator whose weights do not fit the inferred network: one tensor with a wrong shape.
    state = {
        name: small_nets[name].state_dict()
        for name in ("generator", "mapping_network", "style_encoder", "fan")
    }
    state["generator"] = dict(state["generator"])
    state["generator"]["decode.0.conv1.weight"] = torch.zeros(64, 64, 3, 1)
    bad = tmp_path / "bad_shape_nets_ema.ckpt"
    torch.save(state, bad)
    with pytest.raises(
        CheckpointError, match=r"generator.decode.0.conv1.weight has shape \(64, 64, 3, 1\)"
    ):
        load_official(bad)

    del state["generator"]["decode.0.conv1.weight"]
    missing = tmp_path / "missing_key_nets_ema.ckpt"
    torch.save(state, missing)
    with pytest.raises(CheckpointError, match="missing 1 keys.*decode.0.conv1.weight"):
        load_official(missing)


def test_overrides_win_and_are_checked(small_nets, tmp_path):
    path = export_official(small_nets, tmp_path / "x_nets_ema.ckpt")
    with pytest.raises(CheckpointError, match="num_domains=3, but num_domains=2"):
        load_official(path, num_domains=2)
    with pytest.raises(CheckpointError, match="high-pass path on"):
        load_official(path, w_hpf=0)
    with pytest.raises(CheckpointError, match="unknown override"):
        load_official(path, image_size=64)
    stronger = load_official(path, w_hpf=2.0)
    assert stronger.config.w_hpf == 2.0
    assert torch.allclose(stronger.generator.hpf.filter * 2, small_nets.generator.hpf.filter)


def test_high_pass_without_landmark_network_names_the_fix(small_nets, tmp_path):
    path = save_official(
        small_nets,
        tmp_path / "no_fan_nets_ema.ckpt",
        ("generator", "mapping_network", "style_encoder"),
    )
    with pytest.raises(CheckpointError, match="wing=checkpoints/wing.ckpt"):
        load_official(path)


def test_lightning_checkpoint_loads_the_ema_nets(small_nets, tmp_path):
    state_dict = {}
    for prefix, scale in (("nets", 0.0), ("nets_ema", 1.0)):
        for name in ("generator", "mapping_network", "style_encoder", "discriminator"):
            for key, value in small_nets[name].state_dict().items():
                state_dict[f"{prefix}.{name}.{key}"] = (
                    value * scale if value.is_floating_point() else value
                )
    for key, value in small_nets.fan.state_dict().items():
        state_dict[f"nets.fan.{key}"] = value
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": state_dict, "pytorch-lightning_version": "2.6.0", "epoch": 0}, path)
    loaded = load_nets(path)
    assert loaded.source == "mesynth"
    _assert_same(_outputs(loaded)[:-1], _outputs(small_nets)[:-1])
    # The same function reads official files too.
    official = export_official(small_nets, tmp_path / "o_nets_ema.ckpt")
    _assert_same(_outputs(load_nets(official)), _outputs(small_nets)[:-1])


def test_wing_file_keys_the_landmark_network_lacks_are_dropped_and_logged(
    small_nets, tmp_path, caplog
):
    """As the reference loader: unknown weights are dropped (and said); missing ones are not."""
    state = dict(small_nets.fan.state_dict())
    state["m1.b1_4.bn1.weight"] = torch.ones(256)  # a later hourglass stack
    state["extra_head.weight"] = torch.zeros(3, 3)  # anything else the network does not have
    path = tmp_path / "wing.ckpt"
    torch.save({"state_dict": state}, path)
    with caplog.at_level(logging.INFO, logger="mesynth.checkpoint"):
        fan = load_wing(path)
    assert f"{path}: dropping 2 weights the landmark network does not have" in caplog.text
    assert "m1.b1_4.bn1.weight" in caplog.text and "extra_head.weight" in caplog.text
    for key, value in small_nets.fan.state_dict().items():
        assert torch.equal(fan.state_dict()[key], value), key

    del state["bn1.weight"]
    torch.save({"state_dict": state}, path)
    with pytest.raises(
        CheckpointError, match=r"fan weights do not match.*missing 1 keys.*bn1.weight"
    ):
        load_wing(path)


def test_loading_skips_random_init_but_restores_it(tmp_path):
    import torch
    from torch import nn

    from mesynth.checkpoint import load_nets, save_official, weights_from_file
    from mesynth.nets import build_nets

    torch.manual_seed(3)
    saved = build_nets(img_size=64, max_conv_dim=64, w_hpf=0.0)
    path = save_official(saved, tmp_path / "n_nets_ema.ckpt", names=("generator", "style_encoder"))
    loaded = load_nets(path)
    for name in ("generator", "style_encoder"):
        for key, value in saved[name].state_dict().items():
            assert torch.equal(loaded[name].state_dict()[key], value), (name, key)
    # Random initialisation works as before afterwards, also after an error inside the block.
    with pytest.raises(RuntimeError, match="inside"), weights_from_file():
        raise RuntimeError("inside")
    weight = nn.Linear(64, 64).weight.detach()
    assert float(weight.abs().sum()) > 0 and float(weight.std()) > 0.01
