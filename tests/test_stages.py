"""The stage table (panovlm.stages): one row per stage, read by everything that behaves per stage."""

import dataclasses

import pytest

from panovlm.config.stage_config import StageConfig, StageSet
from panovlm.stages import MODULE_GROUPS, STAGE_NAMES, STAGES, Stage, get_stage, in_stage_order


def test_rows_in_training_order_say_what_each_stage_does():
    assert STAGE_NAMES == ("vision", "resampler", "finetune")
    assert [row.needs_text for row in STAGES.values()] == [False, True, True]
    assert [row.loss_terms for row in STAGES.values()] == [("vicreg_loss",), ("ar_loss",), ("ar_loss",)]
    assert [row.uses_lora for row in STAGES.values()] == [False, False, True]
    assert [row.logs_collapse for row in STAGES.values()] == [True, False, False]
    assert {(row.monitor, row.monitor_mode) for row in STAGES.values()} == {("val/loss", "min")}
    assert all(set(row.train) <= set(MODULE_GROUPS) for row in STAGES.values())


def test_unknown_stage_lists_the_stages():
    with pytest.raises(ValueError, match=r"stage must be one of \['vision', 'resampler', 'finetune'\], got 'pre'"):
        get_stage("pre")


@pytest.mark.parametrize(("kw", "message"), [
    ({"train": ("encoder",)}, "train group 'encoder'"),
    ({"loss_terms": ()}, "loss_terms"),
    ({"loss_terms": ("lm",)}, "loss_terms"),
    ({"monitor": "train/loss"}, "validation metric"),
    ({"monitor_mode": "lowest"}, "monitor_mode"),
])
def test_rows_are_validated(kw, message):
    fields = {"name": "x", "train": ("resampler",), "loss_terms": ("ar_loss",), "needs_text": True,
              "uses_lora": False, **kw}
    with pytest.raises(ValueError, match=message):
        Stage(**fields)


def test_stage_order():
    assert in_stage_order(["vision", "finetune"]) and in_stage_order(STAGE_NAMES)
    assert not in_stage_order([]) and not in_stage_order(["finetune", "vision"])
    assert not in_stage_order(["vision", "vision"]) and not in_stage_order(["warmup"])


def test_stage_set_has_one_field_per_row():
    assert tuple(f.name for f in dataclasses.fields(StageSet)) == STAGE_NAMES


def test_text_length_defaults_to_the_model_config():
    assert StageConfig().text_length(96) == 96
    assert StageConfig(max_text_length=40).text_length(96) == 40
    assert StageSet().vision.max_text_length is None  # reads no text
    assert (StageSet().resampler.max_text_length, StageSet().finetune.max_text_length) == (320, 320)
