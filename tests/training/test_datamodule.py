"""Dataset / collate / DataModule: padding, labels, the batch's ViewPlan, and bad samples."""

from pathlib import Path

import pytest

from panovlm.config.run_config import load_run_config
from panovlm.training.datamodule import Collator, PanoramaDataModule, PanoramaDataset


def _config(data_dir: Path, *extra: str):
    return load_run_config(None, [f"data.data_dir={data_dir}", "data.num_workers=0", "model.preset=test",
                                  "stages.resampler.batch_size=3", *extra])


def test_batch_contract(panoshapes_dir, test_processor):
    data = PanoramaDataModule(_config(panoshapes_dir), "resampler", test_processor, "<|vision|>", None)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    plan = test_processor.image_processor.view_plan
    b, v = 3, len(plan)
    assert batch["pixel_values"].shape[:2] == (b, v) and batch["pixel_values"].ndim == 5
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    assert ids.shape == mask.shape == labels.shape and ids.shape[0] == b
    pad = test_processor.tokenizer.pad_token_id
    lengths = mask.sum(1)
    for row in range(b):  # right padding: real tokens first, then pad ids with -100 labels
        n = int(lengths[row])
        assert bool(mask[row, :n].all()) and not bool(mask[row, n:].any())
        assert bool((ids[row, n:] == pad).all()) and bool((labels[row, n:] == -100).all())
        assert bool((labels[row, :n] != -100).any())  # assistant tokens are supervised
        vision_id = test_processor.tokenizer.convert_tokens_to_ids("<|vision|>")
        assert int((ids[row] == vision_id).sum()) == 1
    assert batch["view_plan"] is plan
    assert batch["skipped"] == 0


def test_bad_image_is_skipped_and_counted_or_fatal_under_strict(panoshapes_dir, test_processor, tmp_path, caplog):
    from panovlm.data.datasets import read_samples

    samples, _ = read_samples(panoshapes_dir / "train.csv")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    samples[1].image_path = broken
    dataset = PanoramaDataset(samples[:3], test_processor, 64, "<|vision|>", None, strict=False)
    collate = Collator(test_processor.tokenizer.pad_token_id, test_processor.image_processor.view_plan)
    with caplog.at_level("WARNING"):
        batch = collate([dataset[i] for i in range(3)])
    assert batch["skipped"] == 1 and batch["pixel_values"].shape[0] == 2
    assert str(broken) in caplog.text and samples[1].sample_id in caplog.text
    strict = PanoramaDataset(samples[:3], test_processor, 64, "<|vision|>", None, strict=True)
    with pytest.raises(ValueError, match="broken.png"):
        strict[1]
    assert collate([None, None]) == {"pixel_values": None, "skipped": 2}


def test_empty_labels_after_truncation_is_a_bad_sample(panoshapes_dir, test_processor):
    from panovlm.data.datasets import read_samples

    samples, _ = read_samples(panoshapes_dir / "train.csv")
    dataset = PanoramaDataset(samples[:1], test_processor, 4, "<|vision|>", None, strict=True)
    with pytest.raises(ValueError, match="no assistant tokens|placeholder"):
        dataset[0]


def test_missing_data_file_names_the_path(tmp_path, test_processor):
    data = PanoramaDataModule(_config(tmp_path), "vision", test_processor, "<|vision|>", None)
    with pytest.raises(FileNotFoundError, match="train.csv"):
        data.setup("fit")


def test_collate_needs_a_pad_token(test_processor):
    with pytest.raises(ValueError, match="pad token"):
        Collator(None, test_processor.image_processor.view_plan)


def test_merged_questions_are_reshuffled_in_training_and_fixed_in_validation(panoshapes_dir, test_processor):
    data = PanoramaDataModule(_config(panoshapes_dir, "data.conversations=per_image"), "resampler", test_processor,
                              "<|vision|>", None)
    data.setup("fit")
    index = max(range(len(data.train_set)), key=lambda i: data.train_set.samples[i].meta["turns"])
    assert data.train_set.samples[index].meta["turns"] >= 3
    train_orders = {tuple(data.train_set[index]["input_ids"].tolist()) for _ in range(20)}
    assert len(train_orders) > 1
    assert data.train_set.turn_seed is None and data.val_set.turn_seed is not None
    val = data.val_set
    first = [val[i]["input_ids"].tolist() for i in range(len(val))]
    assert first == [val[i]["input_ids"].tolist() for i in range(len(val))]


def test_rotation_turns_views_and_text_together(panoshapes_dir, test_processor, monkeypatch):
    import random

    import torch

    from panovlm.data.augment import TextTurner, rotate_erp
    from panovlm.data.datasets import read_samples
    from panovlm.data.io import load_image

    samples, _ = read_samples(panoshapes_dir / "train.csv")
    sample = next(s for s in samples if s.meta["target_direction"] == "front")
    dataset = PanoramaDataset([sample], test_processor, 96, "<|vision|>", None, turner=TextTurner())
    monkeypatch.setattr(random, "randrange", lambda n: 1)  # one quarter turn to the right
    item = dataset[0]
    expected = test_processor.image_processor.views_from_array(rotate_erp(load_image(sample.image_path), 1))
    assert torch.equal(item["pixel_values"], expected)
    text = test_processor.tokenizer.decode(item["input_ids"])
    assert "right" in text and "front" not in text and "ahead" not in text
    unturned = PanoramaDataset([sample], test_processor, 96, "<|vision|>", None)[0]
    assert not torch.equal(unturned["pixel_values"], item["pixel_values"])


def test_rotation_is_for_training_only(panoshapes_dir, test_processor):
    data = PanoramaDataModule(_config(panoshapes_dir, "data.rotation=quarter_turns"), "resampler", test_processor,
                              "<|vision|>", None)
    data.setup("fit")
    assert data.train_set.turner is not None and data.val_set.turner is None


def test_text_length_is_the_stage_override_else_the_model_config(panoshapes_dir, test_processor):
    for extra, expected in (("stages.resampler.max_text_length=null", test_processor.max_length),
                            ("stages.resampler.max_text_length=200", 200)):
        data = PanoramaDataModule(_config(panoshapes_dir, extra), "resampler", test_processor, "<|vision|>", None)
        data.setup("fit")
        assert data.train_set.max_length == expected and data.train_set.with_text
    vision = PanoramaDataModule(_config(panoshapes_dir), "vision", test_processor, "<|vision|>", None)
    vision.setup("fit")
    assert not vision.train_set.with_text  # the row reads no text


def test_batches_reach_the_model_expanded_with_the_same_lm_inputs(panoshapes_dir, test_processor):
    """The data module expands the collated batch (processor.expand_vision); the LM sees what the model's own
    expansion of the compact batch gives: the same embeddings, mask, positions, labels and loss, bit for bit."""
    import torch

    from panovlm.models.tiny import tiny_model

    data = PanoramaDataModule(_config(panoshapes_dir), "resampler", test_processor, "<|vision|>", None)
    data.setup("fit")
    compact = next(iter(data.val_dataloader()))
    expanded = data.on_before_batch_transfer(compact, 0)
    n, vid = test_processor.num_vision_tokens, test_processor.vision_token_id
    assert expanded["input_ids"].shape[1] == compact["input_ids"].shape[1] + n - 1
    assert bool(((expanded["input_ids"] == vid).sum(dim=1) == n).all())
    assert bool((expanded["labels"][expanded["input_ids"] == vid] == -100).all())
    model = tiny_model(test=True).eval()
    seen = []
    names = ("inputs_embeds", "attention_mask", "position_ids", "labels")
    hook = model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append({k: kwargs[k] for k in names}), with_kwargs=True)
    keys = ("pixel_values", "input_ids", "attention_mask", "labels", "view_plan")
    with torch.no_grad():
        losses = [model(**{k: batch[k] for k in keys}, stage="resampler").loss for batch in (compact, expanded)]
    hook.remove()
    assert torch.equal(losses[0], losses[1])
    assert all(torch.equal(seen[0][k], seen[1][k]) for k in names)
    assert data.on_before_batch_transfer({"pixel_values": None, "skipped": 3}, 0) == {"pixel_values": None, "skipped": 3}
