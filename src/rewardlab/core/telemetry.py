"""No request to the network that nobody asked for.

Beside the models and data a run names, the Hugging Face libraries make requests of their own:
TRL's trainers and huggingface_hub send usage telemetry (and fetch a list of agent harnesses to
fill its headers), and ``datasets`` counts a download of its packaged ``json``/``csv``/``parquet``
builders on every local load. On a machine without network each is a timeout and sometimes a
warning whose wording depends on how the network failed; with network, a builtin run still
reports itself. The libraries read these switches when imported, so the command sets them
before it imports anything, and child processes (``accelerate launch``) inherit them.
A user who wants the telemetry sets the variables to the other value themselves.
"""

from __future__ import annotations

import os

SWITCHES = {"HF_HUB_DISABLE_TELEMETRY": "1", "HF_UPDATE_DOWNLOAD_COUNTS": "0"}


def no_background_requests() -> None:
    """Turn the libraries' own requests off for this process and its children."""
    for name, value in SWITCHES.items():
        os.environ.setdefault(name, value)
