"""Train/val split of the kept faces: seeded, by identity when identities are known (no person
in both), per domain otherwise, or CelebA's own partition on request."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

TRAIN, VAL, TEST = "train", "val", "test"


def _val_count(total: int, share: float) -> int:
    if share <= 0 or total < 2:
        return 0
    return min(total - 1, max(1, round(total * share)))


def split_by_domain(keys: Sequence[str], domains: Mapping[str, str], share: float, seed: int):
    """``key -> train|val``: in each domain, a seeded draw of ``share`` of its faces for val."""
    rng = np.random.default_rng(seed)
    by_domain: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        by_domain[domains[key]].append(key)
    splits = {}
    for domain in sorted(by_domain):
        members = sorted(by_domain[domain])
        chosen = set(rng.permutation(len(members))[: _val_count(len(members), share)].tolist())
        splits.update({key: VAL if i in chosen else TRAIN for i, key in enumerate(members)})
    return splits


def split_by_identity(
    keys: Sequence[str],
    domains: Mapping[str, str],
    identities: Mapping[str, str],
    share: float,
    seed: int,
) -> dict[str, str]:
    """``key -> train|val`` with every identity on one side only: identities are drawn in a
    seeded order into val until each domain holds about ``share`` of its faces there."""
    members: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        members[identities[key]].append(key)
    totals: dict[str, int] = defaultdict(int)
    for key in keys:
        totals[domains[key]] += 1
    wanted = {domain: _val_count(count, share) for domain, count in totals.items()}
    in_val: dict[str, int] = defaultdict(int)
    order = sorted(members)
    rng = np.random.default_rng(seed)
    splits = dict.fromkeys(keys, TRAIN)
    for index in rng.permutation(len(order)).tolist():
        person = order[index]
        counts: dict[str, int] = defaultdict(int)
        for key in members[person]:
            counts[domains[key]] += 1
        # Take a person only where every domain they appear in still needs faces, and the
        # domain keeps at least one face for training.
        if all(in_val[d] < wanted[d] and in_val[d] + c < totals[d] for d, c in counts.items()):
            for key in members[person]:
                splits[key] = VAL
            for domain, count in counts.items():
                in_val[domain] += count
    return splits


def split_faces(
    keys: Sequence[str],
    domains: Mapping[str, str],
    identities: Mapping[str, str | None],
    partitions: Mapping[str, str | None] | None,
    share: float,
    seed: int,
) -> dict[str, str]:
    """The split of every kept face (see the module docstring)."""
    if partitions is not None:
        return {key: partitions.get(key) or TRAIN for key in keys}
    known = {key: identities[key] for key in keys if identities.get(key) is not None}
    if not known:
        return split_by_domain(keys, domains, share, seed)
    # Faces without a known identity count as people of their own.
    people = {key: known.get(key, f"\0{key}") for key in keys}
    return split_by_identity(keys, domains, people, share, seed)
