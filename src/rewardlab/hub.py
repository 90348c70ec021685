"""Fail fast, and kindly, when the Hugging Face Hub cannot be reached.

Left alone, ``datasets`` and ``transformers`` retry an unreachable endpoint with back-off for
about half a minute per file and then raise a message about connections. Here one short probe
decides up front: Hub reachable → load normally; unreachable (or ``HF_HUB_OFFLINE``) but the repo
is in the local cache → load the cached snapshot folder; neither → one message that names the
repo and the param to change.
"""

from __future__ import annotations

import huggingface_hub
from huggingface_hub import constants, snapshot_download

from rewardlab.errors import UserError

PROBE_TIMEOUT_S = 10


def _reachable(repo_id: str, repo_type: str) -> bool:
    if constants.HF_HUB_OFFLINE:
        return False
    try:
        huggingface_hub.HfApi().repo_info(repo_id, repo_type=repo_type, timeout=PROBE_TIMEOUT_S)
    except huggingface_hub.errors.HfHubHTTPError:
        return True  # the Hub answered (404, 401, ...): let the library raise its precise error
    except Exception:  # the HTTP stack's connect/timeout errors have no common base class
        return False
    return True


def resolve(repo_id: str, repo_type: str, param: str) -> str:
    """Return what to load: the repo id when the Hub answers, else the cached snapshot folder.

    ``param`` names the setting a person would change, e.g. ``data.source``.
    """
    if _reachable(repo_id, repo_type):
        return repo_id
    try:
        return snapshot_download(repo_id, repo_type=repo_type, local_files_only=True)
    except Exception:  # not cached (or a partial cache): the same advice applies
        pass
    raise UserError(
        f"{param} = {repo_id!r}: the Hugging Face Hub ({constants.ENDPOINT}) cannot be reached "
        f"(or HF_HUB_OFFLINE is set) and the {repo_type} is not in the local cache "
        f"({constants.HF_HUB_CACHE}). Point {param} at a local path, or download it into the "
        "cache on a machine with network (`hf download`, or one `dvc repro` there) and copy "
        "HF_HOME here."
    )
