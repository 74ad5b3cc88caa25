"""Starting weights for a run: official StarGAN v2 files or mesynth checkpoints, with domain
mapping (including new domains whose heads start from an existing one) and freezing.

The domain-specific parts of StarGAN v2 are the mapping network's and the style encoder's
``unshared`` heads and the rows of the discriminator's last convolution; everything else is
shared and copied as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mesynth.checkpoint import (
    EMA_NETS,
    OFFICIAL_NETS,
    CheckpointError,
    detect_format,
    infer_config,
    load_official,
    load_state,
    load_wing,
    read_checkpoint,
)
from mesynth.config import check_choice, to_plain
from mesynth.training.module import CHECKPOINT_KEY, TRAINED_NETS, StarGANModule

log = logging.getLogger(__name__)

HEADED_NETS = ("mapping_network", "style_encoder")
SHAPE_SETTINGS = ("img_size", "style_dim", "latent_dim", "max_conv_dim")


@dataclass
class StartWeights:
    """Network state dicts read from a checkpoint, with what is known about its domains."""

    path: Path
    config: dict
    nets: dict[str, dict[str, torch.Tensor]]
    ema: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    domains: list[str] | None = None

    @property
    def num_domains(self) -> int:
        return int(self.config["num_domains"])


def _states_of(nets: Mapping) -> dict[str, dict[str, torch.Tensor]]:
    return {
        name: {key: value.detach().clone() for key, value in nets[name].state_dict().items()}
        for name in OFFICIAL_NETS
        if nets.get(name) is not None
    }


def read_start_weights(
    path: str | Path,
    wing_path: str | Path | None = None,
    discriminator_path: str | Path | None = None,
) -> StartWeights:
    """Networks of an official ``*_nets_ema.ckpt``/``*_nets.ckpt`` or a mesynth ``.ckpt``."""
    path = Path(path)
    data = read_checkpoint(path)
    kind = detect_format(data)
    if kind == "lightning":
        start = _read_mesynth(data, path)
    elif kind == "official":
        states = {name: data[name] for name in OFFICIAL_NETS if name in data}
        config = infer_config(
            {n: {k.removeprefix("module."): v for k, v in s.items()} for n, s in states.items()},
            path,
        )
        wing = None
        if config.get("w_hpf", 0) > 0 and "fan" not in data:
            if wing_path is None or not Path(wing_path).is_file():
                raise CheckpointError(
                    f"checkpoint {path} uses the high-pass path but holds no landmark network, "
                    f"and model.wing_path={wing_path} is not a file; get wing.ckpt "
                    "(`mesynth download wing`) and set model.wing_path to it"
                )
            wing = wing_path
        nets = load_official(path, wing=wing)
        start = StartWeights(path, nets.config.to_dict(), _states_of(nets))
    else:
        raise CheckpointError(
            f"{path} is not a StarGAN v2 checkpoint that training can start from (format "
            f"{kind!r}); give an official *_nets_ema.ckpt / *_nets.ckpt or a mesynth .ckpt"
        )
    if discriminator_path is not None:
        other = read_checkpoint(discriminator_path)
        if "discriminator" not in other:
            raise CheckpointError(
                f"finetune.discriminator={discriminator_path} holds no discriminator; give an "
                "official *_nets.ckpt (the *_nets_ema.ckpt files have none)"
            )
        state = {k.removeprefix("module."): v for k, v in other["discriminator"].items()}
        rows = state[f"main.{_last_conv_index(state)}.weight"].shape[0]
        if rows != start.num_domains:
            raise CheckpointError(
                f"finetune.discriminator={discriminator_path} has {rows} domains, the start "
                f"checkpoint {path} has {start.num_domains}; use files of the same model"
            )
        start.nets["discriminator"] = state
    return start


def _read_mesynth(data: Mapping, path: Path) -> StartWeights:
    meta = data.get(CHECKPOINT_KEY)
    if meta is None:
        raise CheckpointError(
            f"{path} is a Lightning checkpoint without mesynth's 'mesynth' entry; it was not "
            "written by `python train.py`"
        )
    state_dict = data["state_dict"]

    def under(prefix: str) -> dict[str, dict[str, torch.Tensor]]:
        found: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in state_dict.items():
            if key.startswith(prefix):
                name, _, rest = key[len(prefix) :].partition(".")
                found.setdefault(name, {})[rest] = value
        return found

    return StartWeights(
        path=path,
        config=dict(meta["net_config"]),
        nets=under("nets."),
        ema=under("nets_ema."),
        domains=list(meta["domains"]),
    )


def _domain_index(
    value: str | int, checkpoint_domains: list[str] | None, count: int, what: str
) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < count:
            raise CheckpointError(f"{what}: domain index {value} is outside 0..{count - 1}")
        return value
    if checkpoint_domains is None:
        raise CheckpointError(
            f"{what}: the checkpoint's domains have no names, so {value!r} cannot be found; "
            "name them with finetune.checkpoint_domains=[...] (official CelebA-HQ: "
            "[female, male]) or use an index"
        )
    if value not in checkpoint_domains:
        raise CheckpointError(
            f"{what}: the checkpoint has no domain {value!r} (it has {checkpoint_domains})"
        )
    return checkpoint_domains.index(value)


def _check_domain_settings(
    data_domains: Sequence[str],
    names: list[str] | None,
    checkpoint_num_domains: int,
    domain_map: dict[str, str | int],
    new_domains: dict[str, str | int],
) -> None:
    """The settings agree with the checkpoint and the data before any domain is matched."""
    if names is not None and len(names) != checkpoint_num_domains:
        raise CheckpointError(
            f"finetune.checkpoint_domains names {len(names)} domains {names}, but the "
            f"checkpoint has {checkpoint_num_domains}; list exactly its domains, in order"
        )
    for key in list(domain_map) + list(new_domains):
        if key not in data_domains:
            raise CheckpointError(
                f"finetune.domain_map/new_domains mention {key!r}, which is not a data domain "
                f"(data domains: {list(data_domains)})"
            )
    both = set(domain_map) & set(new_domains)
    if both:
        raise CheckpointError(
            f"domain(s) {sorted(both)} are in both finetune.domain_map and finetune.new_domains"
        )


def resolve_domain_sources(
    data_domains: Sequence[str],
    checkpoint_domains: Sequence[str] | None,
    checkpoint_num_domains: int,
    domain_map: Mapping[str, str | int] | None = None,
    new_domains: Mapping[str, str | int] | None = None,
) -> list[int]:
    """For each data domain, the checkpoint domain whose heads it starts from."""
    domain_map = dict(to_plain(domain_map) or {})
    new_domains = dict(to_plain(new_domains) or {})
    names = list(checkpoint_domains) if checkpoint_domains is not None else None
    _check_domain_settings(data_domains, names, checkpoint_num_domains, domain_map, new_domains)
    if names is None and not domain_map and not new_domains:
        if len(data_domains) != checkpoint_num_domains:
            raise CheckpointError(
                f"the checkpoint has {checkpoint_num_domains} domains, the data has "
                f"{len(data_domains)} {list(data_domains)}; say how they correspond: "
                "finetune.checkpoint_domains=[...] names the checkpoint's domains, "
                "finetune.domain_map={data_domain: checkpoint_domain} pairs them and "
                "finetune.new_domains={data_domain: checkpoint_domain} adds new ones"
            )
        log.info(
            "checkpoint domains have no names; data domains %s continue them in order",
            list(data_domains),
        )
        return list(range(checkpoint_num_domains))

    sources: list[int] = []
    unmatched: list[str] = []
    for domain in data_domains:
        if domain in new_domains:
            what = f"finetune.new_domains.{domain}"
            sources.append(_domain_index(new_domains[domain], names, checkpoint_num_domains, what))
        elif domain in domain_map:
            what = f"finetune.domain_map.{domain}"
            sources.append(_domain_index(domain_map[domain], names, checkpoint_num_domains, what))
        elif names is not None and domain in names:
            sources.append(names.index(domain))
        else:
            unmatched.append(domain)
    if unmatched:
        known = names if names is not None else f"{checkpoint_num_domains} unnamed domains"
        raise CheckpointError(
            f"data domain(s) {unmatched} have no counterpart in the checkpoint ({known}); add "
            "finetune.domain_map={<data domain>: <checkpoint domain>} to continue one, or "
            "finetune.new_domains={<data domain>: <checkpoint domain>} to start a new domain "
            "from one"
        )
    return sources


def _last_conv_index(state: Mapping[str, torch.Tensor]) -> int:
    return max(
        int(key.split(".")[1])
        for key in state
        if key.startswith("main.") and key.endswith(".weight")
    )


def remap_domains(name: str, state: Mapping[str, torch.Tensor], sources: Sequence[int]) -> dict:
    """A copy of ``state`` whose per-domain parts are those of the ``sources`` domains."""
    state = dict(state)
    if name in HEADED_NETS:
        shared = {k: v for k, v in state.items() if not k.startswith("unshared.")}
        for target, source in enumerate(sources):
            prefix = f"unshared.{source}."
            for key, value in state.items():
                if key.startswith(prefix):
                    shared[f"unshared.{target}.{key[len(prefix) :]}"] = value.clone()
        return shared
    if name == "discriminator":
        last = _last_conv_index(state)
        rows = torch.as_tensor(list(sources), dtype=torch.long)
        for part in ("weight", "bias"):
            key = f"main.{last}.{part}"
            state[key] = state[key][rows].clone()
    return state


def check_compatible(start: StartWeights, module: StarGANModule) -> None:
    """The run's network settings must match the checkpoint's (except the domain count)."""
    config = module.net_config.to_dict()
    for key in SHAPE_SETTINGS:
        if start.config[key] != config[key]:
            raise CheckpointError(
                f"{start.path} was trained with {key}={start.config[key]}, the run is "
                f"configured with model.net.{key}={config[key]}; set model.net.{key}="
                f"{start.config[key]}"
            )
    if (start.config["w_hpf"] > 0) != (config["w_hpf"] > 0):
        raise CheckpointError(
            f"{start.path} has the high-pass path {'on' if start.config['w_hpf'] > 0 else 'off'} "
            f"(w_hpf={start.config['w_hpf']}), the run has model.net.w_hpf={config['w_hpf']}; "
            f"set model.net.w_hpf={start.config['w_hpf']}"
        )


def apply_start_weights(
    module: StarGANModule,
    start: StartWeights,
    checkpoint_domains: Sequence[str] | None = None,
    domain_map: Mapping | None = None,
    new_domains: Mapping | None = None,
) -> bool:
    """Load ``start`` into ``module`` (networks and EMA copies). Returns whether it provided the
    landmark network."""
    check_compatible(start, module)
    names = list(to_plain(checkpoint_domains)) if checkpoint_domains else start.domains
    sources = resolve_domain_sources(
        module.domains, names, start.num_domains, domain_map, new_domains
    )
    described = [
        f"{domain} <- {names[s] if names else f'#{s}'}"
        for domain, s in zip(module.domains, sources, strict=True)
    ]
    log.info("starting from %s; domains: %s", start.path, ", ".join(described))

    def prepared(name: str, state: Mapping[str, torch.Tensor]) -> dict:
        state = remap_domains(name, state, sources)
        if name == "generator":
            # The high-pass filter buffer follows this run's w_hpf.
            state["hpf.filter"] = module.nets["generator"].state_dict().get("hpf.filter")
            state = {k: v for k, v in state.items() if v is not None}
        return state

    for name in TRAINED_NETS:
        if name not in start.nets:
            if name != "discriminator":
                raise CheckpointError(f"{start.path} holds no {name}")
            log.warning(
                "%s has no discriminator (EMA files do not keep it): the discriminator starts "
                "from He initialisation; set finetune.discriminator=<*_nets.ckpt> to start it "
                "from trained weights",
                start.path,
            )
            continue
        load_state(module.nets[name], prepared(name, start.nets[name]), name, start.path)
    module.reset_ema()
    for name in EMA_NETS:
        if name in start.ema:
            load_state(module.nets_ema[name], prepared(name, start.ema[name]), name, start.path)
    if module.fan is not None and "fan" in start.nets:
        load_state(module.fan, start.nets["fan"], "fan", start.path)
        return True
    return False


def load_landmark_weights(module: StarGANModule, wing_path: str | Path | None) -> None:
    """Load the landmark network (needed when w_hpf > 0) from ``wing.ckpt``."""
    if module.fan is None:
        return
    if wing_path is None or not Path(wing_path).is_file():
        raise CheckpointError(
            f"model.net.w_hpf={module.net_config.w_hpf} needs the landmark network weights, but "
            f"model.wing_path={wing_path} is not a file; get wing.ckpt (`mesynth download wing`) "
            "and set model.wing_path, or train without the high-pass path: model.net.w_hpf=0"
        )
    module.fan.load_state_dict(load_wing(wing_path).state_dict())


def freeze(module: StarGANModule, prefixes: Sequence[str]) -> int:
    """Fix the parameters named by ``<network>.<parameter prefix>``; returns how many."""
    total = 0
    for prefix in to_plain(prefixes) or []:
        net_name, _, inner = str(prefix).partition(".")
        check_choice(f"finetune.freeze entry {prefix!r}: network", net_name, TRAINED_NETS)
        matched = [
            parameter
            for name, parameter in module.nets[net_name].named_parameters()
            if not inner or name == inner or name.startswith(inner + ".")
        ]
        if not matched:
            children = [name for name, _ in module.nets[net_name].named_children()]
            raise ValueError(
                f"finetune.freeze entry {prefix!r} matches no parameter; {net_name} has "
                f"{children} (e.g. {net_name}.{children[0]})"
            )
        for parameter in matched:
            parameter.requires_grad_(False)
        total += sum(parameter.numel() for parameter in matched)
    if total:
        log.info("frozen parameters: %d (%s)", total, ", ".join(map(str, prefixes)))
    return total
