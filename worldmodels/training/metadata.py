"""What ran: the code's git commit (and whether the tree had uncommitted changes), package
versions, host, device and command line, written to RUN_DIR/metadata.json.

The first invocation of a run writes the file; each resume adds its own record under "resumes"
(a resumed run may continue on another host, commit or device: each is kept).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import torch

FILE = "metadata.json"
#: the packages whose versions decide what a run computes (and how it is logged)
PACKAGES = ("worldmodels", "torch", "numpy", "gymnasium", "dm-control", "mujoco", "hydra-core",
            "omegaconf", "einops", "tensorboard", "wandb", "mlflow")  # fmt: skip
_SOURCE = Path(__file__).resolve().parents[2]  # the checkout worldmodels is imported from


def git_state(where: Path = _SOURCE) -> dict[str, Any]:
    """{"commit": sha or None, "dirty": bool or None, "branch": name or None}; None where `where`
    is not a git checkout (an installed wheel) or git is missing."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "branch": None, "source": str(where)}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "dirty": None if status is None else bool(status),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "source": str(where),
    }


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions (None: not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(device), "cuda_available": torch.cuda.is_available()}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        info["gpu"] = torch.cuda.get_device_name(index)
        info["cuda"] = torch.version.cuda
    info["torch_threads"] = torch.get_num_threads()
    # which vectorized CPU kernels torch dispatches to (AVX2, AVX512, ...) and on what CPU: two
    # machines that differ here round differently, so a seed reproduces a run bit for bit only
    # on a machine like the one it ran on (seen: a cartpole seed rerun on another host diverged
    # from its first evaluation on, while reruns on one host matched exactly)
    info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    info["cpu"] = cpu_model()
    return info


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform's; "" when unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_metadata(
    device: torch.device, overrides: list[str] | None = None, argv: list[str] | None = None
) -> dict[str, Any]:
    """This invocation's metadata (git, packages, host, device, command line, the config
    overrides it was given, time)."""
    return {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": [sys.executable, *(sys.argv if argv is None else argv)],
        "overrides": None if overrides is None else list(overrides),
        "cwd": os.getcwd(),
        "git": git_state(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        **device_info(device),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


def write_metadata(
    run_dir: Path, device: torch.device, resumed: bool, overrides: list[str] | None = None
) -> dict[str, Any]:
    """Writes this invocation's metadata to RUN_DIR/metadata.json (a fresh start: the file; a
    resume: one more entry of its "resumes" list) and returns it."""
    path = Path(run_dir) / FILE
    meta = run_metadata(device, overrides)
    record: dict[str, Any] = meta
    if resumed and path.exists():
        record = json.loads(path.read_text())
        record.setdefault("resumes", []).append(meta)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return meta
