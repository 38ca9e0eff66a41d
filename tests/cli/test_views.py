import json

from PIL import Image

from panovlm.cli import main


def test_views_command_writes_pngs_sheet_and_plan(tmp_path, pano_file):
    out = tmp_path / "views"
    assert main(["views", str(pano_file), "--strategy", "anyres_e2p", "--size", "48", "--out", str(out)]) == 0
    plan = json.loads((out / "views.json").read_text())
    assert len(plan["views"]) == 9 and plan["views"][0]["kind"] == "global"
    assert plan["views"][2]["yaw_deg"] == 45.0 and plan["views"][2]["file"] == "view_02.png"
    for view in plan["views"]:
        assert set(view) >= {"kind", "yaw_deg", "pitch_deg", "hfov_deg", "vfov_deg", "width", "height", "file"}
        assert Image.open(out / view["file"]).size == (48, 48)
    assert Image.open(out / "contact_sheet.png").size[0] > 48 * 3


def test_views_command_reports_a_bad_image(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("text")
    assert main(["views", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
