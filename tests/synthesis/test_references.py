"""Reference selection: each strategy's choice, its errors, and references.csv."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mesynth.synthesis.references import (
    Assignment,
    VideoInfo,
    border_nonuniformity,
    farthest_points,
    list_pool,
    prepare_reference,
    select_references,
    write_references_csv,
)

from .conftest import CONF_DIR

VIDEOS = [
    VideoInfo("006_1", "006"),
    VideoInfo("006_2", "006"),
    VideoInfo("007_1", "007"),
    VideoInfo("010_1", "010"),
    VideoInfo("011_3", "011"),
]


def write_image(path: Path, value: int = 128, noise: float = 0.0, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image = np.full((40, 40, 3), value, np.float64) + rng.normal(0, noise, (40, 40, 3))
    assert cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8))
    return path


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    root = tmp_path / "pool"
    for i in range(3):
        write_image(root / "female" / f"f{i}.png", 50 + i, seed=i)
        write_image(root / "male" / f"m{i}.png", 150 + i, seed=10 + i)
    return root


def by_video(assignments) -> dict:
    return {a.video: a for a in assignments}


def strategy(name: str, **settings):
    """The strategy of conf/reference/<name>.yaml (its defaults) with ``settings`` changed."""
    node = OmegaConf.merge(OmegaConf.load(CONF_DIR / "reference" / f"{name}.yaml"), settings)
    return instantiate(node)


def select(settings: dict, videos, **kwargs):
    settings = dict(settings)
    return select_references(strategy(settings.pop("strategy"), **settings), videos, **kwargs)


def test_fixed_gives_every_video_the_image(tmp_path: Path) -> None:
    image = write_image(tmp_path / "ref.png")
    chosen = select({"strategy": "fixed", "path": str(image), "domain": 1}, VIDEOS)
    assert [a.video for a in chosen] == [v.video for v in VIDEOS]
    assert {(a.reference, a.domain, a.strategy) for a in chosen} == {(image, 1, "fixed")}


def test_fixed_missing_image_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="nope.png"):
        select({"strategy": "fixed", "path": str(missing), "domain": 0}, VIDEOS)


def test_domain_outside_the_model_is_refused(tmp_path: Path) -> None:
    image = write_image(tmp_path / "ref.png")
    with pytest.raises(ValueError, match="domain 3 is outside"):
        select({"strategy": "fixed", "path": str(image), "domain": 3}, VIDEOS, num_domains=2)


def test_per_participant_csv_and_json(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        write_image(tmp_path / "refs" / f"{name}.png")
    # Participant ids as a spreadsheet stores them (6, 7.0) must match '006', '007'.
    csv_path = tmp_path / "map.csv"
    csv_path.write_text(
        "participant,reference,domain\n6,refs/a.png,0\n7.0,refs/b.png,1\n010,refs/c.png,\n"
        "11,refs/d.png,1\n"
    )
    chosen = by_video(
        select({"strategy": "per_participant", "mapping": str(csv_path), "domain": 0}, VIDEOS)
    )
    assert chosen["006_1"].reference == tmp_path / "refs" / "a.png"
    assert chosen["006_2"].reference == chosen["006_1"].reference
    assert (chosen["007_1"].reference.name, chosen["007_1"].domain) == ("b.png", 1)
    assert chosen["010_1"].domain == 0  # default domain for the empty cell

    json_path = tmp_path / "map.json"
    mapping = {"006": "refs/a.png", "007": {"reference": "refs/b.png", "domain": 1}}
    json_path.write_text(json.dumps(mapping))
    chosen = by_video(
        select({"strategy": "per_participant", "mapping": str(json_path), "domain": 0}, VIDEOS[:3])
    )
    assert (chosen["007_1"].reference.name, chosen["007_1"].domain) == ("b.png", 1)
    assert chosen["006_2"].domain == 0


def test_per_participant_missing_participant_is_an_error(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    mapping = tmp_path / "map.csv"
    mapping.write_text("participant,reference\n006,a.png\n")
    with pytest.raises(ValueError, match=r"no entry for participant\(s\) \['007'"):
        select({"strategy": "per_participant", "mapping": str(mapping), "domain": 0}, VIDEOS)


def test_random_is_seeded_per_participant_and_without_replacement(pool: Path) -> None:
    cfg = {"strategy": "random", "pool": str(pool), "seed": 3}
    first = by_video(select(cfg, VIDEOS))
    again = by_video(select(cfg, VIDEOS))
    assert first == again
    # One identity per participant, and 4 participants from a pool of 6 never share an image.
    assert first["006_1"].reference == first["006_2"].reference
    per_participant = {a.participant: a.reference for a in first.values()}
    assert len(set(per_participant.values())) == 4
    # Domains come from the subfolder each image lies in.
    assert all(
        a.domain == (0 if a.reference.parent.name == "female" else 1) for a in first.values()
    )
    other = by_video(select({**cfg, "seed": 4}, VIDEOS))
    assert [a.reference for a in other.values()] != [a.reference for a in first.values()]
    per_video = select({**cfg, "unit": "video"}, VIDEOS)
    assert len({a.reference for a in per_video}) == 5


def test_pool_subfolder_without_domain_is_an_error(tmp_path: Path) -> None:
    write_image(tmp_path / "pool" / "glasses" / "a.png")
    with pytest.raises(ValueError, match="subfolder 'glasses' that names no domain"):
        list_pool(tmp_path / "pool", {"female": 0, "male": 1})


def test_gender_matched_follows_the_metadata(tmp_path: Path, pool: Path) -> None:
    metadata = tmp_path / "participants.csv"
    metadata.write_text("Participant,Gender,Age\n6,F,30\n7,M,25\n10,Male,40\n11,female,22\n")
    cfg = {
        "strategy": "gender_matched",
        "metadata": str(metadata),
        "participant_column": "participant",
        "gender_column": "gender",
        "pool": str(pool),
        "seed": 0,
        "domains": {"female": 0, "male": 1},
        "aliases": {"f": "female", "m": "male"},
    }
    chosen = by_video(select(cfg, VIDEOS))
    expected = {"006": "female", "007": "male", "010": "male", "011": "female"}
    for video in chosen.values():
        gender = expected[video.participant]
        assert video.reference.parent.name == gender
        assert video.domain == {"female": 0, "male": 1}[gender]
    assert chosen["007_1"].reference != chosen["010_1"].reference  # drawn without replacement

    metadata.write_text("participant,gender\n6,F\n7,M\n")
    with pytest.raises(ValueError, match=r"no gender for participant\(s\) \['010', '011'\]"):
        select(cfg, VIDEOS)


def test_uniform_background_prefers_flat_borders(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write_image(pool / "busy.png", 120, noise=40, seed=1)
    write_image(pool / "flat.png", 120, noise=0)
    write_image(pool / "mild.png", 120, noise=8, seed=2)
    flat = cv2.cvtColor(cv2.imread(str(pool / "flat.png")), cv2.COLOR_BGR2RGB)
    busy = cv2.cvtColor(cv2.imread(str(pool / "busy.png")), cv2.COLOR_BGR2RGB)
    assert border_nonuniformity(flat) == pytest.approx(0.0, abs=1e-6)
    assert border_nonuniformity(busy) > 10
    cfg = {"strategy": "uniform_background", "pool": str(pool), "domain": 1, "top_k": 1}
    chosen = select(cfg, VIDEOS)
    assert {a.reference.name for a in chosen} == {"flat.png"}
    two = select({**cfg, "top_k": 2}, VIDEOS)
    assert {a.reference.name for a in two} == {"flat.png", "mild.png"}


def test_farthest_points_spreads_out() -> None:
    codes = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [0.0, 10.0], [5.0, 5.0]])
    order = farthest_points(codes, 3)
    assert sorted(order) == [0, 2, 3] or sorted(order) == [1, 2, 3]
    assert len(set(farthest_points(codes, 5))) == 5
    assert farthest_points(codes, 7)[5:] == farthest_points(codes, 7)[:2]  # cycles


def test_diverse_uses_style_codes(pool: Path) -> None:
    codes = {
        "f0": [0, 0],
        "f1": [0.1, 0],
        "f2": [0.2, 0],
        "m0": [9, 9],
        "m1": [9, 9.1],
        "m2": [-9, 9],
    }
    calls = []

    def encode(paths, domains):
        calls.append(list(paths))
        return np.array([codes[Path(p).stem] for p in paths], dtype=np.float64)

    cfg = {"strategy": "diverse", "pool": str(pool)}
    chosen = select(cfg, VIDEOS[:3], encode_style=encode)  # participants 006, 007
    assert len(calls) == 1 and len(calls[0]) == 6
    picked = {a.reference.stem for a in chosen}
    assert len(picked) == 2
    # The two most different codes are far apart (not two of the clustered female ones).
    a, b = (np.array(codes[name]) for name in picked)
    assert np.linalg.norm(a - b) > 12


def test_references_csv_round_trip(tmp_path: Path) -> None:
    image = write_image(tmp_path / "ref.png")
    chosen = select({"strategy": "fixed", "path": str(image), "domain": 1}, VIDEOS)
    path = write_references_csv(chosen, tmp_path / "out" / "references.csv")
    table = pd.read_csv(path, dtype=str)
    assert list(table.columns) == [
        "video", "participant", "reference", "domain", "strategy", "source_video", "identity",
    ]  # fmt: skip
    assert table["participant"].tolist() == ["006", "006", "007", "010", "011"]
    assert [
        Assignment(r.source_video, r.participant, Path(r.reference), int(r.domain), r.strategy)
        for r in table.itertuples(index=False)
    ] == chosen
    assert table["video"].tolist() == table["source_video"].tolist()


def test_prepare_reference_scales_to_network_size(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    image = np.zeros((30, 60, 3), np.uint8)
    image[:, 30:] = 200
    cv2.imwrite(str(path), image)
    prepared = prepare_reference(path, 16)
    assert prepared.shape == (16, 16, 3) and prepared.dtype == np.uint8
    assert prepared[:, :7].max() == 0 and prepared[:, 9:].min() == 200
    astronaut = prepare_reference("skimage:astronaut", 32)
    assert astronaut.shape == (32, 32, 3)


@pytest.mark.parametrize(
    "name",
    ["fixed", "per_participant", "random", "gender_matched", "uniform_background", "diverse"],
)
def test_every_strategy_is_a_config_group_option(name: str, tmp_path: Path) -> None:
    from .conftest import compose_infer

    cfg = compose_infer([f"reference={name}"], tmp_path)
    assert cfg.reference.strategy == name
    assert cfg.reference._target_.startswith("mesynth.synthesis.references.")


def test_a_strategy_override_on_another_group_is_refused(tmp_path: Path) -> None:
    # `reference.strategy=random` on the default group (fixed) would otherwise be ignored.
    with pytest.raises(Exception, match=r"choose the strategy with reference=random"):
        strategy("fixed", strategy="random")
    with pytest.raises(Exception, match="reference.unit=.* is not one of"):
        strategy("random", pool=str(tmp_path), unit="session")


def identities(assignments) -> dict[str, list[str]]:
    """video -> the stems of its references, identity after identity."""
    chosen: dict[str, list[str]] = {}
    for a in assignments:
        assert a.identity == len(chosen.setdefault(a.video, []))
        chosen[a.video].append(a.reference.stem)
    return chosen


@pytest.mark.parametrize(
    "settings",
    [
        {"strategy": "random", "seed": 3},
        {"strategy": "uniform_background"},
        {"strategy": "gender_matched"},
        {"strategy": "diverse"},
    ],
)
def test_pool_strategies_draw_per_video_identities(settings, pool: Path, tmp_path: Path) -> None:
    settings = {**settings, "pool": str(pool)}
    if settings["strategy"] == "gender_matched":
        sheet = tmp_path / "participants.csv"
        sheet.write_text("participant,gender\n6,F\n7,M\n10,female\n11,m\n")
        settings["metadata"] = str(sheet)
    encode = lambda paths, domains: np.array([[len(str(p)), i] for i, p in enumerate(paths)])  # noqa: E731
    one = identities(select(settings, VIDEOS, encode_style=encode))
    three = identities(select({**settings, "per_video": 3}, VIDEOS, encode_style=encode))
    assert list(three) == [v.video for v in VIDEOS]
    for stems in three.values():
        assert len(stems) == len(set(stems)) == 3  # three different identities
    # One participant keeps their identities across their videos.
    assert three["006_1"] == three["006_2"]
    assert [len(stems) for stems in one.values()] == [1] * 5
    with pytest.raises(ValueError, match="fewer than reference.per_video=7"):
        select({**settings, "per_video": 7}, VIDEOS, encode_style=encode)


def test_per_video_one_chooses_as_before(pool: Path) -> None:
    cfg = {"strategy": "random", "pool": str(pool), "seed": 3}
    drawn = select(cfg, VIDEOS)
    assert select({**cfg, "per_video": 1}, VIDEOS) == drawn
    assert {a.identity for a in drawn} == {0}


def test_fixed_takes_a_list_of_images(tmp_path: Path) -> None:
    a, b = write_image(tmp_path / "a.png"), write_image(tmp_path / "b.png", 90)
    chosen = select({"strategy": "fixed", "path": [str(a), str(b)], "domain": [0, 1]}, VIDEOS[:2])
    assert [(x.video, x.reference.stem, x.domain, x.identity) for x in chosen] == [
        ("006_1", "a", 0, 0),
        ("006_1", "b", 1, 1),
        ("006_2", "a", 0, 0),
        ("006_2", "b", 1, 1),
    ]
    one_domain = select({"strategy": "fixed", "path": [str(a), str(b)], "domain": 1}, VIDEOS[:1])
    assert [x.domain for x in one_domain] == [1, 1]
    # Settings are checked when Hydra instantiates the strategy (it wraps the ValueError).
    with pytest.raises(Exception, match="lists 2 image"):
        select({"strategy": "fixed", "path": [str(a), str(b)], "per_video": 3}, VIDEOS)
    with pytest.raises(Exception, match="2 domain"):
        select({"strategy": "fixed", "path": [str(a)], "domain": [0, 1]}, VIDEOS)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        select({"strategy": "fixed", "path": [str(a), str(tmp_path / "missing.png")]}, VIDEOS)


def test_per_participant_lists_several_identities(tmp_path: Path) -> None:
    images = [write_image(tmp_path / f"r{i}.png", 40 * i) for i in range(3)]
    mapping = tmp_path / "mapping.csv"
    rows = ["6,r0.png,0", "6,r1.png,1", "7,r2.png,1", "10,r0.png,0", "11,r1.png,0"]
    mapping.write_text("participant,reference,domain\n" + "\n".join(rows) + "\n")
    chosen = identities(select({"strategy": "per_participant", "mapping": str(mapping)}, VIDEOS))
    assert chosen == {
        "006_1": ["r0", "r1"],
        "006_2": ["r0", "r1"],
        "007_1": ["r2"],
        "010_1": ["r0"],
        "011_3": ["r1"],
    }
    with pytest.raises(ValueError, match="for 007 lists 1 image"):
        select({"strategy": "per_participant", "mapping": str(mapping), "per_video": 2}, VIDEOS)
    as_json = tmp_path / "mapping.json"
    as_json.write_text(
        json.dumps(
            {
                "6": [str(images[0]), {"reference": str(images[1]), "domain": 1}],
                "7": {"reference": [str(images[2]), str(images[0])], "domain": 1},
            }
        )
    )
    chosen = select(
        {"strategy": "per_participant", "mapping": str(as_json), "domain": 0, "per_video": 2},
        VIDEOS[:3],
    )
    assert [(x.video, x.reference.stem, x.domain) for x in chosen] == [
        ("006_1", "r0", 0),
        ("006_1", "r1", 1),
        ("006_2", "r0", 0),
        ("006_2", "r1", 1),
        ("007_1", "r2", 1),
        ("007_1", "r0", 1),
    ]


@pytest.mark.parametrize("value", [0, -1, "two", 1.5, True])
def test_per_video_must_be_a_count(value, pool: Path) -> None:
    with pytest.raises(Exception, match="reference.per_video"):
        strategy("random", pool=str(pool), per_video=value)
