"""``panovlm push DIR REPO_ID``: check an export folder by reloading it, then upload it to the hub."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huggingface_hub.errors import OfflineModeIsEnabled

from panovlm.hub.check import FolderError
from panovlm.hub.push import push_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="export folder (panovlm export --output-dir)")
    parser.add_argument("repo_id", help="hub repository, owner/name")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", default=None, help="branch to push to (created if missing; default main)")
    parser.add_argument("--commit-message", default=None, help="commit message (default 'Upload DIR (panovlm push)')")


def run(args: argparse.Namespace) -> int:
    try:
        url = push_folder(args.directory, args.repo_id, private=args.private, revision=args.revision,
                          commit_message=args.commit_message)
    except (FolderError, ValueError, OfflineModeIsEnabled) as err:
        sys.stderr.write(f"panovlm push: {err}\n")
        return 2
    sys.stdout.write(f"{url}\n")
    return 0
