"""Generated repositories for the benchmarks, made quickly with `git fast-import`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def generate(path: Path, *, commits: int, blob_bytes: int, files: int = 100) -> Path:
    """A repository whose `main` has `commits` commits, each changing one file.

    Random blob contents do not compress, so commits x blob_bytes is about the pack size.
    Made once and reused: the folder name carries the parameters.
    """
    if (path / "HEAD").exists():
        return path
    tmp = path.with_name(path.name + ".tmp")
    subprocess.run(["rm", "-rf", str(tmp)], check=True)
    subprocess.run(["git", "init", "--quiet", "--bare", str(tmp)], check=True)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=tmp, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    write = proc.stdin.write
    when = 1_600_000_000
    for n in range(1, commits + 1):
        blob = os.urandom(blob_bytes) if blob_bytes >= 64 else f"line {n}\n".encode()
        message = f"Change {n}: update file {n % files}\n".encode()
        write(b"commit refs/heads/main\n")
        write(f"mark :{n}\n".encode())
        write(f"author Bench Author <bench@example.com> {when + n * 60} +0000\n".encode())
        write(f"committer Bench Author <bench@example.com> {when + n * 60} +0000\n".encode())
        write(f"data {len(message)}\n".encode() + message)
        if n > 1:
            write(f"from :{n - 1}\n".encode())
        write(f"M 100644 inline file_{n % files}.bin\n".encode())
        write(f"data {len(blob)}\n".encode() + blob + b"\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    tmp.rename(path)
    return path


def add_commits(repo: Path, count: int, *, blob_bytes: int = 2048) -> str:
    """Append `count` commits to main of a bare repository; returns the new head."""
    parent = subprocess.run(["git", "rev-parse", "main"], cwd=repo, capture_output=True, text=True, check=True)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for n in range(1, count + 1):
        message = f"Incremental change {n}\n".encode()
        blob = os.urandom(blob_bytes)
        proc.stdin.write(b"commit refs/heads/main\n")
        proc.stdin.write(f"mark :{n}\n".encode())
        proc.stdin.write(b"committer Bench Author <bench@example.com> 1700000000 +0000\n")
        proc.stdin.write(f"data {len(message)}\n".encode() + message)
        proc.stdin.write(f"from {parent.stdout.strip() if n == 1 else ':' + str(n - 1)}\n".encode())
        proc.stdin.write(f"M 100644 inline incremental_{n}.bin\ndata {len(blob)}\n".encode() + blob + b"\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    head = subprocess.run(["git", "rev-parse", "main"], cwd=repo, capture_output=True, text=True, check=True)
    return head.stdout.strip()


def shas(repo: Path, ref: str = "main") -> list[str]:
    """All commits of `ref`, newest first."""
    out = subprocess.run(["git", "rev-list", ref], cwd=repo, capture_output=True, text=True, check=True)
    return out.stdout.split()


def size_mb(repo: Path) -> float:
    total = sum(p.stat().st_size for p in (repo / "objects").rglob("*") if p.is_file())
    return total / 1e6
