"""Upload an export folder to the Hugging Face hub (``huggingface_hub``: ``create_repo`` + ``upload_folder``).

The folder is reloaded first (:func:`panovlm.hub.check.check_folder`; an adapted VLM's export, which
holds ``panovlm_adapt.json``: :func:`panovlm.hub.adapt_check.check_adapted_folder`): a folder that
would not load is refused before anything is sent. Offline (``HF_HUB_OFFLINE=1``) ``huggingface_hub`` raises its own
``OfflineModeIsEnabled`` error, which is passed on unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from panovlm.adapt.model import is_adapted
from panovlm.hub.adapt_check import check_adapted_folder
from panovlm.hub.check import check_folder

logger = logging.getLogger(__name__)
# Never uploaded: hidden files (.cache, editor swap files) and Python caches.
IGNORE_PATTERNS: tuple[str, ...] = (".*", "**/.*", "__pycache__/*", "**/__pycache__/*", "*.pyc")


def push_folder(directory: str | Path, repo_id: str, private: bool = False, revision: str | None = None,
                commit_message: str | None = None, token: str | None = None, api: Any = None) -> str:
    """Check ``directory``, then create ``repo_id`` (if needed) and upload the folder; returns the commit URL.

    ``revision`` is a branch (created from main when missing). ``api`` replaces ``HfApi(token=token)``
    (tests pass a recorder).
    """
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise ValueError(f"repo_id must be 'owner/name', got {repo_id!r}")
    directory = Path(directory)
    if is_adapted(directory):
        check_adapted_folder(directory)
    else:
        check_folder(directory)
    api = api if api is not None else HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if revision is not None:
        api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
    info = api.upload_folder(repo_id=repo_id, folder_path=str(directory), repo_type="model", revision=revision,
                             commit_message=commit_message or f"Upload {directory.name} (panovlm push)",
                             ignore_patterns=list(IGNORE_PATTERNS))
    url = str(getattr(info, "commit_url", info))
    logger.info("pushed %s to %s (%s)", directory, repo_id, url)
    return url


__all__ = ["push_folder"]
