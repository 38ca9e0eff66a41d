"""``panovlm push``: everything up to the network call runs for real; the hub client is a recorder."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from panovlm.cli import main
from panovlm.hub.check import FolderError
from panovlm.hub.convert import export
from panovlm.hub.push import push_folder
from panovlm.models.tiny import tiny_model, tiny_processor


class RecordingApi:
    """Stands in for ``huggingface_hub.HfApi``: records the calls, sends nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))
        return SimpleNamespace(repo_id=args[0] if args else kwargs["repo_id"])

    def create_branch(self, *args, **kwargs):
        self.calls.append(("create_branch", args, kwargs))

    def upload_folder(self, *args, **kwargs):
        self.calls.append(("upload_folder", args, kwargs))
        kwargs["uploaded"] = sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())
        return SimpleNamespace(commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/abc")


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("push") / "pano-tiny"
    export(tiny_run / "finetune" / "model_final", out)
    return out


def test_push_checks_then_creates_and_uploads(exported: Path) -> None:
    api = RecordingApi()
    url = push_folder(exported, "someone/pano-tiny", private=True, revision="v1", commit_message="first", api=api)
    assert url == "https://huggingface.co/someone/pano-tiny/commit/abc"
    names = [c[0] for c in api.calls]
    assert names == ["create_repo", "create_branch", "upload_folder"]
    assert api.calls[0][1] == ("someone/pano-tiny",) and api.calls[0][2]["private"] is True
    upload = api.calls[2][2]
    assert upload["folder_path"] == str(exported) and upload["revision"] == "v1" and upload["commit_message"] == "first"
    assert {"README.md", "config.json", "model.safetensors", "processor_config.json",
            "auto_map_panollava.py", "modeling_panollava.py"} <= set(upload["uploaded"])


def test_push_refuses_a_folder_that_would_not_load(exported: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "modeling_panollava.py").unlink()
    api = RecordingApi()
    with pytest.raises(FolderError, match=r"broken/auto_map_panollava.py|broken/modeling_panollava.py"):
        push_folder(broken, "someone/pano-tiny", api=api)
    no_card = tmp_path / "no_card"
    shutil.copytree(exported, no_card)
    (no_card / "README.md").unlink()
    with pytest.raises(FolderError, match=r"README.md is missing; expected the model card"):
        push_folder(no_card, "someone/pano-tiny", api=api)
    assert api.calls == []  # nothing was sent


def test_push_cli_offline_stops_with_the_hub_error(exported: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["push", str(exported), "someone/pano-tiny"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("panovlm push:")]
    assert len(errors) == 1 and "offline mode is enabled" in errors[0]  # the other lines are progress bars


def test_model_and_processor_push_to_hub_upload_the_remote_code(monkeypatch) -> None:
    import transformers.utils.hub as hf_hub_utils

    api, uploads = RecordingApi(), []
    monkeypatch.setattr(hf_hub_utils, "hf_api", lambda: api)
    monkeypatch.setattr(hf_hub_utils, "create_and_tag_model_card",
                        lambda *a, **k: SimpleNamespace(save=lambda path: Path(path).write_text("card")))

    def record(self, working_dir, repo_id, files_timestamps, **kwargs):
        uploads.append(sorted(p.name for p in Path(working_dir).iterdir()))

    monkeypatch.setattr(hf_hub_utils.PushToHubMixin, "_upload_modified_files", record)
    tiny_model(test=True).push_to_hub("someone/pano-tiny")
    tiny_processor(test=True).push_to_hub("someone/pano-tiny")
    assert {"config.json", "auto_map_panollava.py", "geometry.py"} <= set(uploads[0])
    assert {"processor_config.json", "auto_map_panollava.py", "data_image.py"} <= set(uploads[1])


@pytest.fixture(scope="module")
def adapted_export(adapted_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An adapted VLM (model.kind: adapt) exported with its peft adapter kept."""
    out = tmp_path_factory.mktemp("push_adapted") / "pano-qwen"
    export(adapted_run / "run" / "finetune" / "checkpoints" / "last.ckpt", out, keep_adapters=True)
    return out


def test_push_uploads_an_adapted_export(adapted_export: Path) -> None:
    api = RecordingApi()
    url = push_folder(adapted_export, "someone/pano-qwen", api=api)
    assert url == "https://huggingface.co/someone/pano-qwen/commit/abc"
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    uploaded = set(api.calls[1][2]["uploaded"])
    assert {"README.md", "config.json", "model.safetensors", "panovlm_adapt.json", "tokenizer.json",
            "preprocessor_config.json", "adapter"} <= uploaded
    assert not any(name.endswith(".py") for name in uploaded)  # no remote code


def test_push_refuses_a_broken_adapted_export(adapted_export: Path, tmp_path: Path) -> None:
    import json
    import shutil

    api = RecordingApi()
    no_adapter = tmp_path / "no_adapter"
    shutil.copytree(adapted_export, no_adapter)
    (no_adapter / "adapter" / "adapter_model.safetensors").unlink()
    with pytest.raises(FolderError, match=r"adapter/adapter_model.safetensors is missing; panovlm_adapt.json names"):
        push_folder(no_adapter, "someone/pano-qwen", api=api)
    remote = tmp_path / "remote"
    shutil.copytree(adapted_export, remote)
    config = json.loads((remote / "config.json").read_text())
    (remote / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "modeling_x.X"}}))
    with pytest.raises(FolderError, match=r"holds remote code \(auto_map in config.json\)"):
        push_folder(remote, "someone/pano-qwen", api=api)
    assert api.calls == []  # nothing was sent


def test_push_cli_takes_an_adapted_export_offline(adapted_export: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["push", str(adapted_export), "someone/pano-qwen"]) == 2  # checked, then the hub refuses offline
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("panovlm push:")]
    assert len(errors) == 1 and "offline mode is enabled" in errors[0]
