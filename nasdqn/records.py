"""`RunResult` and the run directory: one function writes a run, one reads it (data/README.md).

A run directory holds `episodes.parquet`, `evals.parquet`, `arch_events.parquet`, `timing.json`,
`controller.json` and, written last, `meta.json` whose `status` says whether the rest is complete.
Every file is written to a temporary name and renamed into place, so a crash leaves either the old
file or the new one, never half of one; and `meta.json` is removed before anything else is written,
so a directory being rewritten never looks finished.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from nasdqn import kernels
from nasdqn.config import RunConfig, config_hash_of

TABLES = ("episodes", "evals", "arch_events")
DATA_FILES = (*(f"{t}.parquet" for t in TABLES), "timing.json", "controller.json")
STATUS_OK = "ok"
# The parts of a run's wall time that timing.json records (seconds), beside "total".
TIMING_KEYS = ("env", "act", "learn", "controller", "morph", "eval")
# `running` is written when a run starts; a process killed outright leaves it behind, never `ok`.
STATUSES = (STATUS_OK, "running", "failed", "diverged", "interrupted")


class RunDirError(RuntimeError):
    """A run directory is missing, incomplete, failed or belongs to another config."""


@dataclass
class RunResult:
    config: RunConfig
    episodes: pd.DataFrame
    evals: pd.DataFrame
    arch_events: pd.DataFrame
    timing: dict[str, float]
    anchors: dict[str, float | None]
    controller_state: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def run_dir(root: str | Path, config: RunConfig) -> Path:
    """data/runs/<experiment>/<env>/<method>/seed=<n>, with '/' and ':' made path-safe."""
    env = config.env.replace("/", "-").replace(":", "_")
    method = config.method.replace(":", "_")
    return Path(root) / "runs" / config.experiment / env / method / f"seed={config.seed}"


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, obj: Any) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True, allow_nan=True)
            f.write("\n")

    _atomic_write(path, write)


# The libraries whose builds decide a run's arithmetic, beside the processor: torch (the network),
# numpy (acting, the environments), scipy (the learned controller's linear algebra), gymnasium (the
# environments' dynamics) and Box2D (LunarLander's). constraints.txt pins exactly these, exactly.
BIT_LIBRARIES = ("torch", "numpy", "scipy", "gymnasium", "Box2D")


def library_summary(versions: dict[str, Any]) -> str:
    """One line of the bit-deciding libraries' versions in a run's meta `versions` (older runs recorded fewer)."""
    return ", ".join(f"{name} {versions.get(name) or 'not recorded'}" for name in BIT_LIBRARIES)


@functools.lru_cache(maxsize=1)
def provenance() -> dict[str, Any]:
    """Package, library and host versions, and the git commit of the code if it is a checkout.

    Computed once per process (it runs git): a kernel orphaned by a killed batch has about a second
    to record its run as interrupted before ipykernel ends it, and `write_running` fills this cache
    at the start of every run. Callers must not modify the returned dict."""
    libs = {}
    for name in ("nasdqn", *BIT_LIBRARIES, "pandas", "pyarrow"):
        try:
            libs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libs[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "versions": {"python": sys.version.split()[0], **libs},
        "git_commit": commit,
        # what decides a run's bits beside its config: the processor and the kernels the libraries took
        "host": {"machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(),
                 **kernels.describe()},
    }


def _begin(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "meta.json").unlink(missing_ok=True)


def _fingerprint(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_run(path: str | Path, result: RunResult) -> Path:
    """Write a finished run; `meta.json` (status ok) is the last file to appear, and it records the
    size and SHA-256 of every other file, so that a file truncated or changed later is detected."""
    path = Path(path)
    _begin(path)
    for name in TABLES:
        table: pd.DataFrame = getattr(result, name)
        _atomic_write(path / f"{name}.parquet", lambda tmp, t=table: t.to_parquet(tmp, index=False))
    _write_json(path / "timing.json", result.timing)
    _write_json(path / "controller.json", result.controller_state)
    meta = {
        "config": result.config.to_dict(),
        "config_hash": result.config.config_hash,
        "anchors": result.anchors,
        "wall_time": result.timing.get("total"),
        **provenance(),
        **{k: v for k, v in result.meta.items() if k not in ("status", "error", "files")},
        "files": {name: _fingerprint(path / name) for name in DATA_FILES},
        "status": STATUS_OK,
    }
    _write_json(path / "meta.json", meta)
    return path


def write_running(path: str | Path, config: RunConfig) -> Path:
    """Mark a run as started (its status until it ends): who runs it, since when."""
    path = Path(path)
    # Replaced atomically, not deleted first: a starting run never looks incomplete.
    path.mkdir(parents=True, exist_ok=True)
    provenance()  # now, so that recording a failure later never waits for git
    _write_json(path / "meta.json", {"config": config.to_dict(), "config_hash": config.config_hash,
                                     "pid": os.getpid(), "host": platform.node(), "status": "running"})
    return path


def write_failure(path: str | Path, config: RunConfig, status: str, error: str,
                  extra: dict[str, Any] | None = None) -> Path:
    """Record a run that did not finish (`failed`, `diverged`, `interrupted`) with its error."""
    allowed = ("failed", "diverged", "interrupted")
    if status not in allowed:
        raise ValueError(f"failure status {status!r}; allowed: {', '.join(allowed)}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {"config": config.to_dict(), "config_hash": config.config_hash, **provenance(),
            **(extra or {}), "status": status, "error": error}
    _write_json(path / "meta.json", meta)
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    """The run's meta.json, or RunDirError saying why it cannot be read."""
    meta_path = Path(path) / "meta.json"
    if not meta_path.exists():
        raise RunDirError(f"{path}: no meta.json (the run never finished or is being written)")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise RunDirError(f"{path}: meta.json does not parse ({e})") from None
    if not isinstance(meta, dict) or meta.get("status") not in STATUSES:
        raise RunDirError(f"{path}: meta.json has no valid status; allowed: {', '.join(STATUSES)}")
    return meta


def stored_hash(meta: dict[str, Any]) -> str | None:
    """The config hash of a stored run, recomputed from its recorded config (not the `config_hash`
    it recorded: that was computed by the version that wrote it, whose hash may have covered options
    its method does not use)."""
    config = meta.get("config")
    return config_hash_of(config) if isinstance(config, dict) else None


def run_status(path: str | Path, expect_hash: str | None = None) -> str:
    """`ok`, `running`, `failed`, `diverged`, `interrupted`, `missing`, `incomplete` or `stale`
    (another config)."""
    path = Path(path)
    if not path.exists():
        return "missing"
    try:
        meta = read_meta(path)
    except RunDirError:
        return "incomplete"
    if expect_hash is not None and stored_hash(meta) != expect_hash:
        return "stale"
    if meta["status"] == STATUS_OK and _damaged(path, meta, deep=False):
        return "incomplete"
    return meta["status"]


def _damaged(path: Path, meta: dict[str, Any], deep: bool) -> str | None:
    """Which data file is missing or differs from its fingerprint in meta.json (sizes only unless
    `deep`), or None when all are intact."""
    files = meta.get("files")
    if not isinstance(files, dict) or set(files) != set(DATA_FILES):
        return "meta.json lists no file fingerprints"
    for name, expected in files.items():
        f = path / name
        if not f.exists():
            return f"{name} is missing"
        if f.stat().st_size != expected.get("bytes"):
            return f"{name} has {f.stat().st_size} bytes, meta.json says {expected.get('bytes')} (truncated or changed)"
        if deep and _fingerprint(f)["sha256"] != expected.get("sha256"):
            return f"{name} differs from its SHA-256 in meta.json (changed after the run was written)"
    return None


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 of this package's source and of the library versions that parse and pickle its tables: a
    cached derived value carries it, so a change of code or library can never serve an old result."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(source.relative_to(Path(__file__).parent).as_posix().encode() + b"\0" + source.read_bytes())
    for library in ("pandas", "numpy", "pyarrow"):
        digest.update(f"{library}={metadata.version(library)}".encode())
    return digest.hexdigest()


def run_fingerprint(meta: dict[str, Any]) -> str:
    """A finished run's identity: its meta.json records every file's SHA-256, so once `read_run` has
    checked the files against it, this names their exact content."""
    return hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()


def cached(cache: Path | None, kind: str, key: str, compute):
    """`compute()`, or its result stored by an earlier call under `cache/<code>/kind/key.pkl`, where
    <code> is this code's fingerprint: a change of code or library never serves an old result, and
    the folders of other code versions are deleted when a new one starts (the cache stays one version
    big). Written atomically, so parallel readers (the book's chapters) never see half a file. The
    cache is local and written only here: delete the folder to clear it."""
    if cache is None:
        return compute()
    version = Path(cache) / code_fingerprint()[:20]
    path = version / kind / f"{key}.pkl"
    try:
        return pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass
    value = compute()
    try:
        if not version.exists():
            for old in Path(cache).glob("*"):
                if old.is_dir() and old.name != version.name:
                    shutil.rmtree(old, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # no fsync: a cache lost in a crash is recomputed
        tmp.write_bytes(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
    except OSError:  # a read-only or vanished cache costs time, never a result
        pass
    return value


def read_run(path: str | Path, expect_hash: str | None = None, cache: Path | None = None) -> RunResult:
    """Read a finished run; refuse one that is incomplete, not ok, corrupt or of another config.

    With `cache` (a folder), the parsed tables are kept there under the run's fingerprint: the checks
    (status, config hash, every file's SHA-256) still run on every read, only the parsing is saved."""
    path = Path(path)
    meta = read_meta(path)
    if meta["status"] != STATUS_OK:
        raise RunDirError(f"{path}: status is {meta['status']!r}, not ok: {meta.get('error', '')}")
    if expect_hash is not None and stored_hash(meta) != expect_hash:
        raise RunDirError(f"{path}: stale: run with another configuration than the expected one "
                          f"(config hash {stored_hash(meta)}, expected {expect_hash})")
    damage = _damaged(path, meta, deep=True)
    if damage:
        raise RunDirError(f"{path}: a run file is missing or corrupt ({damage})")
    def parse() -> tuple[dict[str, pd.DataFrame], dict, dict]:
        tables = {t: pd.read_parquet(path / f"{t}.parquet") for t in TABLES}
        timing, controller = (json.loads((path / f"{name}.json").read_text()) for name in ("timing", "controller"))
        return tables, timing, controller

    try:
        config = RunConfig.from_dict(meta["config"])
        tables, timing, controller = cached(cache, "runs", run_fingerprint(meta), parse)
    except Exception as e:  # any corruption of a file that claims to be complete
        raise RunDirError(f"{path}: a run file is missing or corrupt ({type(e).__name__}: {e})") from None
    return RunResult(config=config, **tables, timing=timing, anchors=meta.get("anchors", {}),
                     controller_state=controller, meta=meta)
