"""Reading and writing network weights.

Official StarGAN v2 files are dicts of state dicts: ``*_nets_ema.ckpt`` holds ``generator``,
``mapping_network``, ``style_encoder`` (and ``fan`` when the high-pass path is on),
``*_nets.ckpt`` also ``discriminator``; ``wing.ckpt`` holds the landmark network as
``{"state_dict": ...}``. mesynth's own training checkpoints are Lightning ``.ckpt`` files whose
``state_dict`` holds the networks under a prefix (``nets_ema.generator.*`` and so on).
:func:`load_nets` reads any of them; :func:`export_official` writes the official layout.
"""

from __future__ import annotations

import logging
import math
import pickle
import re
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from munch import Munch
from torch import nn

from mesynth.atomic import write_atomically
from mesynth.nets import NetConfig, build_nets
from mesynth.nets.landmark_network import LandmarkNetwork

log = logging.getLogger(__name__)

OFFICIAL_NETS = ("generator", "mapping_network", "style_encoder", "discriminator", "fan")
EMA_NETS = ("generator", "mapping_network", "style_encoder")


# torch stores tensors uncompressed: a checkpoint whose parts unpack to several times its size
# on disk was made to exhaust memory (a 21 MB file of zeros can unpack to 1 GiB).
MAX_EXPANSION = 4.0


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message names the file and the fix."""


def _check_unpacked_size(path: Path) -> None:
    """Refuse a zip checkpoint whose members unpack to more than MAX_EXPANSION times the file."""
    if not zipfile.is_zipfile(path):
        return  # the legacy format stores raw bytes: nothing to unpack
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(_damaged(path, error)) from error
    on_disk = path.stat().st_size
    if unpacked > MAX_EXPANSION * on_disk:
        raise CheckpointError(
            f"checkpoint {path} was refused: its {on_disk / 2**20:.1f} MiB unpack to "
            f"{unpacked / 2**20:.1f} MiB, more than {MAX_EXPANSION:g} times its size, which no "
            "PyTorch checkpoint does (torch stores tensors uncompressed). Do not use this file; "
            "obtain the checkpoint again from its official source (`mesynth download`) or from a "
            "mesynth training run"
        )


def read_checkpoint(path: str | Path) -> dict:
    """The dict a checkpoint holds, read on CPU without running any code it may carry.

    Only tensors, numbers, strings and containers are accepted (``torch.load`` with
    ``weights_only=True``): that is all the official StarGAN v2 files and mesynth's own hold.
    Anything else (an object whose unpickling could run a command) is refused with a message
    naming the file and the type; the file is never loaded a second, unrestricted way. So is a
    file that would unpack to many times its size (:data:`MAX_EXPANSION`).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; see checkpoints/README.md for how to obtain the "
            "official files (e.g. `mesynth download celeba-hq`)"
        )
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); download it again")
    _check_unpacked_size(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(_refused(path, error)) from None
    except Exception as error:  # noqa: BLE001 - torch raises many types for damaged files
        raise CheckpointError(_damaged(path, error)) from error
    if not isinstance(data, Mapping):
        raise CheckpointError(
            f"checkpoint {path} holds a {type(data).__name__}, expected a dict of state dicts "
            "(an official *_nets_ema.ckpt / *_nets.ckpt / wing.ckpt or a mesynth training .ckpt)"
        )
    return dict(data)


def _refused(path: Path, error: pickle.UnpicklingError) -> str:
    """Why the restricted unpickler stopped: the refused types (e.g. ``posix.system``) when it
    met some, else the unpickler's own words (damage or a forbidden operation)."""
    message = str(error)
    names = set(re.findall(r"GLOBAL ([\w.]+)", message))
    list_unsafe = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if names and list_unsafe is not None and zipfile.is_zipfile(path):
        # Lists every offending type at once (torch >= 2.5); it reads the pickle, runs nothing.
        names |= set(list_unsafe(path))
    if names:
        return (
            f"checkpoint {path} was refused: it holds {', '.join(sorted(names))}, which no "
            "official StarGAN v2 or mesynth checkpoint contains (they hold only tensors, "
            "numbers, strings and containers), and unpickling it could run code. Do not use "
            "this file; obtain the checkpoint again from its official source (`mesynth "
            "download`) or from a mesynth training run"
        )
    # torch's message advises an unrestricted load, which is exactly what must not happen here.
    detail = " ".join(
        line.strip()
        for line in message.splitlines()
        if line.strip() and "weights_only" not in line and "torch.load" not in line
    )
    return (
        f"checkpoint {path} could not be read safely ({detail or type(error).__name__}); the "
        "file is damaged or holds something no StarGAN v2 or mesynth checkpoint holds - "
        "download or copy it again"
    )


def _damaged(path: Path, error: Exception) -> str:
    return (
        f"checkpoint {path} could not be read ({type(error).__name__}: {error}); the file is "
        "truncated or not a PyTorch checkpoint - download or copy it again"
    )


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict:
    return {key.removeprefix(prefix): value for key, value in state.items()}


def detect_format(data: Mapping) -> str:
    """``official`` (dict of nets), ``wing`` (landmark net only) or ``lightning`` (ours)."""
    if any(name in data for name in OFFICIAL_NETS):
        return "official"
    if "state_dict" in data and ("pytorch-lightning_version" in data or "loops" in data):
        return "lightning"
    if "state_dict" in data:
        return "wing"
    return "unknown"


# ---------------------------------------------------------------------------------------------
# Inferring the configuration from tensor shapes


def _block_indices(state: Mapping[str, torch.Tensor], prefix: str) -> list[int]:
    """Sorted indices ``i`` of the keys ``<prefix><i>.*`` (layers without weights are absent)."""
    return sorted(
        {int(key[len(prefix) :].split(".")[0]) for key in state if key.startswith(prefix)}
    )


def _count_blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    return len(_block_indices(state, prefix))


def _need(state: Mapping, key: str, name: str, path: Path) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(
            f"checkpoint {path}: {name} has no {key!r}; this is not a StarGAN v2 {name} "
            "state dict (was it saved from a different model?)"
        )
    return state[key]


def _generator_config(state: Mapping[str, torch.Tensor], path: Path) -> dict:
    """Image size, widths, style size and high-pass weight the generator's shapes imply."""
    dim_base = _need(state, "from_rgb.weight", "generator", path).shape[0]
    img_size = 2**14 // dim_base
    num_encode = _count_blocks(state, "encode.")
    widths = [
        _need(state, f"encode.{i}.conv2.weight", "generator", path).shape[0]
        for i in range(num_encode)
    ]
    num_down = num_encode - 2
    plain = int(math.log2(img_size)) - 4 if img_size >= 16 else -1
    if num_down == plain + 1:
        if "hpf.filter" in state:
            w_hpf = float(8.0 / state["hpf.filter"][1, 1])
        else:
            w_hpf = 1.0
    elif num_down == plain:
        w_hpf = 0.0
    else:
        raise CheckpointError(
            f"checkpoint {path}: generator has {num_down} down-sampling blocks, which fits "
            f"neither w_hpf=0 ({plain}) nor w_hpf>0 ({plain + 1}) at img_size {img_size}"
        )
    return dict(
        img_size=img_size,
        max_conv_dim=max(widths),
        style_dim=_need(state, "decode.0.norm1.fc.weight", "generator", path).shape[1],
        w_hpf=w_hpf,
    )


def _mapping_config(state: Mapping[str, torch.Tensor], path: Path) -> dict:
    return dict(
        latent_dim=_need(state, "shared.0.weight", "mapping_network", path).shape[1],
        num_domains=_count_blocks(state, "unshared."),
        style_dim=_need(state, "unshared.0.6.weight", "mapping_network", path).shape[0],
    )


def _encoder_config(state: Mapping[str, torch.Tensor], name: str, key: str, path: Path) -> dict:
    """The style encoder's or discriminator's settings; ``key`` is its first layer's weight."""
    layer_prefix = key.split(".")[0] + "."
    dim_base = _need(state, key, name, path).shape[0]
    indices = _block_indices(state, layer_prefix)
    widths = [
        state[f"{layer_prefix}{i}.conv2.weight"].shape[0]
        for i in indices
        if f"{layer_prefix}{i}.conv2.weight" in state
    ]
    entry = dict(img_size=2**14 // dim_base, max_conv_dim=max(widths) if widths else dim_base)
    if name == "style_encoder":
        entry["num_domains"] = _count_blocks(state, "unshared.")
        entry["style_dim"] = _need(state, "unshared.0.weight", name, path).shape[0]
    else:
        entry["num_domains"] = state[f"main.{indices[-1]}.weight"].shape[0]
    return entry


def _merge_configs(found: dict[str, dict], path: Path) -> dict:
    """One configuration from the networks' own; a setting two networks disagree on is an error."""
    config: dict = {}
    for name, entry in found.items():
        for key, value in entry.items():
            if key in config and config[key] != value:
                first = next(n for n, e in found.items() if e.get(key) == config[key])
                raise CheckpointError(
                    f"checkpoint {path}: the networks disagree on {key} ({first}: {config[key]}, "
                    f"{name}: {value}); the file mixes networks of different models"
                )
            config[key] = value
    return config


def infer_config(nets_state: Mapping[str, Mapping[str, torch.Tensor]], path: Path) -> dict:
    """Network settings implied by the tensor shapes of an official checkpoint."""
    found: dict[str, dict] = {}
    if "generator" in nets_state:
        found["generator"] = _generator_config(nets_state["generator"], path)
    if "mapping_network" in nets_state:
        found["mapping_network"] = _mapping_config(nets_state["mapping_network"], path)
    for name, key in (("style_encoder", "shared.0.weight"), ("discriminator", "main.0.weight")):
        if name in nets_state:
            found[name] = _encoder_config(nets_state[name], name, key, path)
    return _merge_configs(found, path)


# ---------------------------------------------------------------------------------------------
# Loading state dicts with clear errors


def load_state(module: nn.Module, state: Mapping[str, torch.Tensor], name: str, path: Path) -> None:
    """Strict load that explains every missing, unexpected or mis-shaped key."""
    state = dict(state)
    expected = module.state_dict()
    if "hpf.filter" in expected and "hpf.filter" not in state:
        # The released generator weights predate this buffer; it is fully set by w_hpf.
        state["hpf.filter"] = expected["hpf.filter"]
    if name == "fan":
        for key in expected:
            if key.endswith("num_batches_tracked") and key not in state:
                state[key] = expected[key]
        # As the reference's loader: weights the landmark network does not have (the released
        # wing.ckpt carries later hourglass stacks) are dropped; missing ones stay an error.
        extra = [key for key in state if key not in expected]
        if extra:
            log.info(
                "%s: dropping %d weights the landmark network does not have, e.g. %s",
                path,
                len(extra),
                extra[:3],
            )
            for key in extra:
                del state[key]
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        details = []
        if missing:
            details.append(f"missing {len(missing)} keys, e.g. {missing[:3]}")
        if unexpected:
            details.append(f"unexpected {len(unexpected)} keys, e.g. {unexpected[:3]}")
        raise CheckpointError(
            f"checkpoint {path}: {name} weights do not match the network ({'; '.join(details)}). "
            "Check that the file is a StarGAN v2 checkpoint and that overrides (img_size, "
            "w_hpf, num_domains, ...) match it"
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"checkpoint {path}: {name}.{key} has shape {tuple(tensor.shape)} but the network "
                f"built from the config expects {tuple(expected[key].shape)}; drop the override "
                "that changes it or use a checkpoint made with these settings"
            )
    module.load_state_dict(state, strict=True)


# torch.nn.init functions the layers' constructors call to fill their parameters.
_INIT_FUNCTIONS = (
    "uniform_", "normal_", "constant_", "ones_", "zeros_", "kaiming_uniform_", "kaiming_normal_",
    "xavier_uniform_", "xavier_normal_", "trunc_normal_", "orthogonal_",
)  # fmt: skip


@contextmanager
def weights_from_file() -> Iterator[None]:
    """Build networks without drawing random weights: a strict load overwrites every parameter.

    Random initialisation of a 256 px StarGAN v2 costs about a second on a 2-core CPU, which a
    run that loads a checkpoint would otherwise spend for nothing. Buffers computed by the
    networks themselves (the high-pass filter, batch-norm statistics) are built as usual.
    """
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    for name in _INIT_FUNCTIONS:
        setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def load_wing(path: str | Path) -> LandmarkNetwork:
    """The landmark network from a ``wing.ckpt`` file (or any file with a ``fan`` entry)."""
    path = Path(path)
    data = read_checkpoint(path)
    if "fan" in data:
        state = data["fan"]
    elif "state_dict" in data:
        state = data["state_dict"]
    else:
        raise CheckpointError(
            f"{path} holds no landmark network (expected {{'state_dict': ...}} as in wing.ckpt, "
            f"found keys {sorted(data)[:5]}); pass the official wing.ckpt"
        )
    with weights_from_file():
        fan = LandmarkNetwork()
    load_state(fan, _strip_prefix(state), "fan", path)
    return fan


def nets_from_states(
    states: Mapping[str, Mapping[str, torch.Tensor]],
    path: Path,
    wing: str | Path | None = None,
    **overrides,
) -> Munch:
    """Build networks matching ``states`` (plus overrides) and load them strictly."""
    states = {name: _strip_prefix(state) for name, state in states.items()}
    inferred = infer_config(states, path)
    unknown = set(overrides) - set(NetConfig.__dataclass_fields__)
    if unknown:
        raise CheckpointError(
            f"unknown override(s) {sorted(unknown)}; valid: {sorted(NetConfig.__dataclass_fields__)}"
        )
    settings = {**NetConfig().to_dict(), **inferred}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in inferred and key != "w_hpf" and inferred[key] != value:
            raise CheckpointError(
                f"checkpoint {path} was made with {key}={inferred[key]}, but {key}={value} was "
                f"asked for; remove the override or use a checkpoint made with {key}={value}"
            )
        if key == "w_hpf" and (float(value) > 0) != (inferred.get("w_hpf", value) > 0):
            raise CheckpointError(
                f"checkpoint {path} has the high-pass path {'on' if inferred['w_hpf'] else 'off'} "
                f"(w_hpf={inferred['w_hpf']}), but w_hpf={value} was asked for; remove the override"
            )
        settings[key] = value
    config = NetConfig(**settings)
    if "w_hpf" in overrides and "hpf.filter" in states.get("generator", {}):
        states["generator"] = dict(states["generator"])
        del states["generator"]["hpf.filter"]  # rebuilt from the requested w_hpf
    with weights_from_file():
        nets = build_nets(**config.to_dict())
    loaded = Munch(config=config)
    for name in OFFICIAL_NETS:
        if name == "fan":
            continue
        if name in states:
            load_state(nets[name], states[name], name, path)
            loaded[name] = nets[name].eval()
    if config.w_hpf > 0:
        if wing is not None:
            loaded.fan = load_wing(wing)
        elif "fan" in states:
            load_state(nets.fan, states["fan"], "fan", path)
            loaded.fan = nets.fan
        else:
            raise CheckpointError(
                f"checkpoint {path} uses the high-pass path (w_hpf={config.w_hpf}) but holds no "
                "landmark network; pass wing=checkpoints/wing.ckpt (`mesynth download wing`)"
            )
    else:
        loaded.fan = None
    return loaded


def load_official(path: str | Path, wing: str | Path | None = None, **overrides) -> Munch:
    """Networks (eval mode) from an official StarGAN v2 ``*_nets_ema.ckpt`` or ``*_nets.ckpt``.

    The settings (img_size, style_dim, latent_dim, num_domains, max_conv_dim, w_hpf) are inferred
    from the tensor shapes; ``overrides`` win where the shapes allow and are checked otherwise.
    The result has the networks found in the file, ``fan`` (None without high-pass path) and
    ``config`` (a :class:`NetConfig`).
    """
    path = Path(path)
    return _official_nets(read_checkpoint(path), path, wing, **overrides)


def _official_nets(data: Mapping, path: Path, wing: str | Path | None, **overrides) -> Munch:
    kind = detect_format(data)
    if kind == "wing":
        raise CheckpointError(
            f"{path} is a landmark-network file (wing.ckpt); pass it as wing= together with the "
            "*_nets_ema.ckpt generator checkpoint"
        )
    if kind != "official":
        raise CheckpointError(
            f"{path} is not an official StarGAN v2 checkpoint (expected keys among "
            f"{list(OFFICIAL_NETS)}, found {sorted(data)[:6]}); for a mesynth training checkpoint "
            "use mesynth.checkpoint.load_nets"
        )
    states = {name: data[name] for name in OFFICIAL_NETS if name in data}
    if "generator" not in states:
        raise CheckpointError(f"checkpoint {path} holds no generator; use a *_nets_ema.ckpt file")
    return nets_from_states(states, path, wing=wing, **overrides)


def lightning_net_states(state_dict: Mapping[str, torch.Tensor], path: Path) -> dict:
    """The networks inside a Lightning ``state_dict``, preferring the EMA copies."""
    prefixes = sorted(
        {
            key[: -len("generator.from_rgb.weight")]
            for key in state_dict
            if key.endswith("generator.from_rgb.weight")
        }
    )
    if not prefixes:
        raise CheckpointError(
            f"checkpoint {path} holds no StarGAN v2 generator (no '*generator.from_rgb.weight')"
        )
    ema = [prefix for prefix in prefixes if "ema" in prefix]
    main = ema[0] if ema else prefixes[0]
    states: dict[str, dict] = {}
    for name in OFFICIAL_NETS:
        for prefix in (main, *[p for p in prefixes if p != main]):
            state = {
                key[len(prefix) + len(name) + 1 :]: value
                for key, value in state_dict.items()
                if key.startswith(f"{prefix}{name}.")
            }
            if state:
                states[name] = state
                break
    return states


def load_nets(path: str | Path, wing: str | Path | None = None, **overrides) -> Munch:
    """Networks from any supported checkpoint: official StarGAN v2 files or mesynth's own."""
    path = Path(path)
    data = read_checkpoint(path)
    kind = detect_format(data)
    if kind == "official":
        return _official_nets(data, path, wing, **overrides)
    if kind == "lightning":
        states = lightning_net_states(data["state_dict"], path)
        nets = nets_from_states(states, path, wing=wing, **overrides)
        nets.source = "mesynth"
        return nets
    if kind == "wing":
        raise CheckpointError(
            f"{path} is a landmark-network file (wing.ckpt); pass it as wing= and give ckpt= the "
            "generator checkpoint"
        )
    raise CheckpointError(
        f"{path} is neither an official StarGAN v2 checkpoint nor a mesynth training checkpoint "
        f"(found keys {sorted(data)[:6]})"
    )


def save_official(nets: Mapping, path: str | Path, names: tuple[str, ...] | None = None) -> Path:
    """Write ``{name: state_dict}`` in the official layout, atomically."""
    path = Path(path)
    names = names or tuple(name for name in OFFICIAL_NETS if nets.get(name) is not None)
    payload = {}
    for name in names:
        module = nets.get(name)
        if module is None:
            raise CheckpointError(f"cannot write {path}: no {name} network to save")
        module = getattr(module, "module", module)
        payload[name] = {key: value.detach().cpu() for key, value in module.state_dict().items()}
    return write_atomically(path, lambda partial: torch.save(payload, partial))


def export_official(nets_ema: Mapping, path: str | Path) -> Path:
    """Write EMA networks as an official ``*_nets_ema.ckpt`` (with ``fan`` when present)."""
    names = EMA_NETS + (("fan",) if nets_ema.get("fan") is not None else ())
    return save_official(nets_ema, path, names)
