"""``panovlm ablate``: variants are quickstart runs with their overrides; the table aggregates seeds."""

import json

from panovlm import cli
from panovlm.cli import ablate


def test_variants_seeds_table_and_resume(tmp_path, monkeypatch):
    calls = []

    def fake_pipeline(config, out, seed, data_dir=None):
        calls.append((out.name, seed, config.quickstart.stages, config.model.settings.get("crop_strategy"),
                      data_dir))
        value = 0.1 * (seed + 1)
        scores = {m: value for m in ablate.METRICS}
        summary = {"with_images": scores, "blind": {m: value / 10 for m in ablate.METRICS}}
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary))
        return summary

    monkeypatch.setattr(ablate, "run_pipeline", fake_pipeline)
    argv = ["ablate", "--out", str(tmp_path), "--seeds", "0", "1", "--variants", "resize", "cubemap",
            "anyres_e2p+mlp+vicreg"]
    assert cli.main(argv) == 0
    assert [(c[0], c[1]) for c in calls] == [("resize", 0), ("cubemap", 0), ("anyres_e2p+mlp+vicreg", 0),
                                             ("resize", 1), ("cubemap", 1), ("anyres_e2p+mlp+vicreg", 1)]
    assert calls[0][2] == calls[1][2] == ("resampler", "finetune") and calls[0][3] == "resize"
    assert calls[1][3] is None  # the quickstart's own plan (the preset's cubemap)
    assert calls[2][2] == ("vision", "resampler", "finetune") and calls[2][3] == "anyres_e2p"
    assert calls[0][4] == calls[1][4] == tmp_path / "seed0" / "data"  # one data set per seed
    table = (tmp_path / "ablation.md").read_text()
    assert "| resize | 0.150 (0.100-0.200) |" in table
    assert ablate.BLIND in table and "0.015 (0.010-0.020)" in table
    assert (tmp_path / "ablation.png").is_file() and (tmp_path / "ablation.csv").is_file()
    calls.clear()
    assert cli.main(argv) == 0  # finished variants are read back, not run again
    assert calls == []
