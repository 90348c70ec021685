"""Fail fast, and kindly, when the Hugging Face Hub cannot be reached.

Left alone, ``datasets`` and ``transformers`` retry an unreachable endpoint with back-off for
about half a minute per file and then raise a message about connections. Here one short probe
decides up front: Hub reachable → load normally; unreachable (or ``HF_HUB_OFFLINE``) but the repo
is in the local cache → load the cached snapshot folder; neither → one message that names the
repo and the param to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import huggingface_hub
from huggingface_hub import constants, snapshot_download

from rewardlab.core.errors import UserError

PROBE_TIMEOUT_S = 10


class Resolved(NamedTuple):
    """What to load (the repo id, or its cached snapshot folder) and the commit it holds."""

    path: str
    commit: str | None


def _probe(repo_id: str, repo_type: str, revision: str | None) -> Resolved | None:
    """The repo id and the commit the Hub serves for ``revision``; None when it cannot answer."""
    if constants.HF_HUB_OFFLINE:
        return None
    try:
        info = huggingface_hub.HfApi().repo_info(
            repo_id, repo_type=repo_type, revision=revision, timeout=PROBE_TIMEOUT_S
        )
    except huggingface_hub.errors.HfHubHTTPError:
        # The Hub answered (404, 401, ...): let the library raise its precise error.
        return Resolved(repo_id, None)
    except Exception:  # the HTTP stack's connect/timeout errors have no common base class
        return None
    return Resolved(repo_id, info.sha)


def resolve(repo_id: str, repo_type: str, param: str) -> str:
    """Return what to load: the repo id when the Hub answers, else the cached snapshot folder.

    ``param`` names the setting a person would change, e.g. ``data.source``.
    """
    return resolve_pinned(repo_id, repo_type, param).path


def resolve_pinned(
    repo_id: str, repo_type: str, param: str, revision: str | None = None
) -> Resolved:
    """:func:`resolve` at ``revision`` (a branch, tag or commit; None: the default branch), with
    the commit it resolved to, so a run can record exactly which data it read. Offline, the
    commit is the cached snapshot's."""
    online = _probe(repo_id, repo_type, revision)
    if online is not None:
        return online
    try:
        folder = snapshot_download(
            repo_id, repo_type=repo_type, revision=revision, local_files_only=True
        )
        return Resolved(folder, Path(folder).name)
    except Exception:  # not cached (or a partial cache): the same advice applies
        pass
    at = f" at revision {revision!r}" if revision else ""
    raise UserError(
        f"{param} = {repo_id!r}{at}: the Hugging Face Hub ({constants.ENDPOINT}) cannot be reached "
        f"(or HF_HUB_OFFLINE is set) and the {repo_type} is not in the local cache "
        f"({constants.HF_HUB_CACHE}). Point {param} at a local path, or download it into the "
        "cache on a machine with network (`hf download`, or one `dvc repro` there) and copy "
        "HF_HOME here."
    )
