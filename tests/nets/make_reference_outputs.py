"""Write ``reference_outputs.pt`` from a checkout of the StarGAN v2 reference implementation.

    python tests/nets/make_reference_outputs.py --reference /path/to/stargan-v2

Only imports the reference's modules; the weights and inputs come from ``goldens.py``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from goldens import (  # noqa: E402
    CASES,
    GOLDEN_PATH,
    HEATMAP_CHANNELS,
    SETTINGS,
    blob_heatmaps,
    fill_state,
    inputs,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", required=True, help="checkout holding core/model.py")
    args = parser.parse_args()
    sys.path.insert(0, args.reference)
    model = importlib.import_module("core.model")
    wing = importlib.import_module("core.wing")
    torch.set_grad_enabled(False)
    golden: dict = {}
    for img_size, w_hpf in CASES:
        nets = dict(
            generator=model.Generator(
                img_size, SETTINGS["style_dim"], SETTINGS["max_conv_dim"], w_hpf
            ),
            mapping_network=model.MappingNetwork(
                SETTINGS["latent_dim"], SETTINGS["style_dim"], SETTINGS["num_domains"]
            ),
            style_encoder=model.StyleEncoder(
                img_size, SETTINGS["style_dim"], SETTINGS["num_domains"], SETTINGS["max_conv_dim"]
            ),
            discriminator=model.Discriminator(
                img_size, SETTINGS["num_domains"], SETTINGS["max_conv_dim"]
            ),
        )
        if w_hpf > 0:
            nets["fan"] = wing.FAN()
        for seed, (_name, net) in enumerate(sorted(nets.items())):
            net.load_state_dict(fill_state(net.state_dict(), seed))
            net.eval()
        data = inputs(img_size)
        style = nets["style_encoder"](data["x"], data["y"])
        case = dict(
            style_encoder=style,
            mapping_network=nets["mapping_network"](data["z"], data["y"]),
            discriminator=nets["discriminator"](data["x"], data["y"]),
        )
        if w_hpf > 0:
            heatmaps = nets["fan"].get_heatmap(data["fan_x"], b_preprocess=False)
            case["fan_heatmaps"] = heatmaps[:, HEATMAP_CHANNELS].clone()
            masks = wing.preprocess(blob_heatmaps())
            case["blob_masks"] = torch.cat(masks, dim=1)
            masks = [mask.expand(2, -1, -1, -1) for mask in masks]
            case["generator"] = nets["generator"](data["x"], style, masks=masks)
        else:
            case["generator"] = nets["generator"](data["x"], style)
        golden[f"{img_size}_{w_hpf}"] = case
    torch.save(golden, GOLDEN_PATH)
    print(f"wrote {GOLDEN_PATH}")


if __name__ == "__main__":
    main()
