"""The colour-icon world: emoji subgroups as tasks, their judge, training and evaluation (meta/)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from meta import emoji
from meta.emoji import unseen_subgroups
from meta.evaluate import EvalConfig, evaluate
from meta.images import BACKGROUND, rgba_to_icon, to_icon
from meta.judge import Judge, few_shot_accuracy
from meta.checkpoint import Generator
from meta.tasks import TaskSampler
from meta.train import main as train_main


@pytest.fixture(scope="module")
def noto(emoji_dir):
    return emoji.load(emoji_dir, "noto")


def test_rgba_is_composited_over_the_background():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 255, 128)  # half-transparent blue
    x = rgba_to_icon(rgba)
    assert x.shape == (3, 2, 2)
    np.testing.assert_allclose(x[:, 0, 0], [1, -1, -1])
    np.testing.assert_allclose(x[:, 1, 1], np.array(BACKGROUND) / 127.5 - 1)  # transparent -> background
    assert x[2, 0, 1] > x[0, 0, 1]  # blue shows through half-way


def test_to_icon_keeps_colour_crops_and_refuses_blank():
    img = Image.new("RGBA", (100, 60), (0, 0, 0, 0))
    img.paste((0, 160, 0, 255), (30, 10, 70, 50))  # a green square off-centre
    x = to_icon(img)
    assert x.shape == (3, 32, 32) and x.min() >= -1 and x.max() <= 1
    centre = x[:, 16, 16]
    assert centre[1] > centre[0] + 0.5 and centre[1] > centre[2] + 0.5  # green, not grey
    assert np.allclose(x[:, 0, 0], 1.0)  # the margin is the white background
    with pytest.raises(ValueError, match="no icon"):
        to_icon(Image.new("RGB", (40, 40), (200, 30, 30)))


def test_load_thins_skin_tones_and_drops_components(noto, emoji_dir):
    with np.load(emoji_dir / "noto_emoji_32.npz") as z:
        n_all, n_tone = len(z["images"]), int(z["skin_tone"].sum())
    assert noto.images.shape[1:] == (3, 32, 32) and noto.images.dtype == np.float32
    assert noto.images.min() >= -1 and noto.images.max() <= 1
    assert len(noto.images) < n_all - n_tone + 30  # the skin-tone variants are (nearly) all gone
    assert not any(n.startswith("Component/") for n in noto.task_names())
    assert len(noto.emoji) == len(set(noto.emoji.tolist())) or len(noto.emoji) - len(set(noto.emoji.tolist())) < 5
    assert (noto.sizes() >= 1).all() and noto.sizes().sum() == len(noto.images)


def test_split_holds_out_whole_subgroups(noto):
    train, val = emoji.split_subgroups(noto, 12, seed=0)
    again = emoji.split_subgroups(noto, 12, seed=0)[1]
    assert val.task_names() == again.task_names()  # deterministic
    assert not set(train.task_names()) & set(val.task_names())
    assert len(val) == 12 and (val.sizes() >= 12).all()
    assert len({n.split("/")[0] for n in val.task_names()}) >= 8  # spread over the groups
    with pytest.raises(ValueError, match="n_val"):
        emoji.split_subgroups(noto, 0)


def test_task_sampler_draws_one_subgroup_per_task(noto):
    sampler = TaskSampler(noto.min_size(10), shots=5, query_size=5, seed=0)
    support, query, tasks = sampler.sample(3)
    assert support.shape == (3, 5, 3, 32, 32) and query.shape == (3, 5, 3, 32, 32)
    icons = sampler.glyphs
    for i, k in enumerate(tasks):
        mine = torch.from_numpy(icons.task_images(k)).flatten(1)
        for x in torch.cat([support[i], query[i]]):
            assert (mine == x.flatten()).all(1).any()  # every image is one of task k's icons


def test_few_shot_accuracy_separates_and_chance():
    gen = torch.Generator().manual_seed(0)
    separable = [torch.randn(6, 8, generator=gen) * 0.01 + 10 * torch.eye(8)[k] for k in range(8)]
    assert few_shot_accuracy(separable, shots=1, ways=5, runs=50)["accuracy"] == 1.0
    noise = [torch.randn(20, 8, generator=gen) for _ in range(10)]
    assert few_shot_accuracy(noise, shots=1, ways=10, runs=300)["accuracy"] < 0.2  # chance is 0.1


def test_train_and_evaluate_on_emoji(emoji_dir, tmp_path):
    out = tmp_path / "run"
    common = ["--data", "emoji", "--data-dir", str(emoji_dir), "--meta-iters", "1", "--batch-size", "4", "--threads", "1",
              "--block-out-channels", "8", "16", "--norm-num-groups", "4", "--val-tasks", "2"]
    with pytest.raises(ValueError, match="--channels 3"):
        train_main(["--algo", "joint", "--out", str(tmp_path / "bad"), *common])
    ckpt = train_main(["--algo", "joint", "--out", str(out), "--channels", "3", "--adapt", "all", *common])
    record = json.loads((ckpt / "training.json").read_text())
    assert record["data"]["dataset"] == "emoji" and record["generator"]["channels"] == 3
    assert not set(record["data"]["train_subgroups"]) & set(record["data"]["val_subgroups"])
    assert (out / "val_000001.png").exists()

    icons = unseen_subgroups(emoji.load(emoji_dir, "noto"), [ckpt])
    assert set(icons.task_names()) == set(record["data"]["val_subgroups"])
    Judge(channels=8, blocks=4, in_channels=3).save(tmp_path / "judge", {})
    cfg = EvalConfig(steps=(0, 1), tasks=14, samples=2, sampler_steps=2, judge=str(tmp_path / "judge"), judge_runs=10)
    report = evaluate({"joint": Generator.load(ckpt), "scratch": "scratch"}, icons, cfg)
    assert {t["subgroup"] for t in report["tasks"]} == set(icons.task_names())  # 14 tasks cycle the 12 subgroups
    assert len(report["tasks"]) == 14
    for r in report["results"].values():
        assert len(r["query_loss"]) == 2 and all(0 <= v <= 1 for v in r["recognisability"])
    assert 0 < report["chance"] < 0.2
    glyph = tmp_path / "glyph"  # the same folder, said to be trained on Omniglot
    glyph.mkdir()
    (glyph / "training.json").write_text(json.dumps({**record, "data": {"dataset": "omniglot"}}))
    with pytest.raises(ValueError, match="not trained on emoji"):
        unseen_subgroups(icons, [glyph])
    with pytest.raises(ValueError, match="not an Inner Loop checkpoint"):
        unseen_subgroups(icons, [tmp_path / "nowhere"])


def test_every_style_holds_out_the_same_subgroups(emoji_dir):
    noto_train, noto_val = emoji.load_split(emoji_dir, "noto", 12)
    tw_train, tw_val = emoji.load_split(emoji_dir, "twemoji", 12)
    assert noto_val.task_names() == tw_val.task_names()
    assert not set(tw_train.task_names()) & set(noto_val.task_names())
    assert tw_train.images.shape[1:] == (3, 32, 32) and len(tw_train) > len(noto_train) - 5
