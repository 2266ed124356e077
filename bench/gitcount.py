"""portal.wsgi for benchmarks, counting every git process the web process starts.

Every git process of the project goes through `projects.git._launch` (both `run` and `spawn`
call it); this module wraps it to append one line per process to the file BENCH_GIT_CALLS
names, so production code carries no counter. Serve it as `gunicorn bench.gitcount:application`.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from typing import Any

from portal.wsgi import application
from projects import git

_COUNT_INTO = os.environ["BENCH_GIT_CALLS"]
_launch = git._launch


def _counted(args: Sequence[str], env: dict[str, str], **options: Any) -> tuple[list[str], dict[str, Any]]:
    with open(_COUNT_INTO, "a") as out:  # one short append per process: whole lines, across workers
        out.write(shlex.join(args)[:300].replace("\n", " ") + "\n")
    return _launch(args, env, **options)


git._launch = _counted

__all__ = ["application"]
