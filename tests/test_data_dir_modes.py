"""DATA_DIR holds the SQLite database (sessions), generated keys and mirrors: its user's alone.

Each test starts real processes with a loose umask, as a login shell or a service manager would.
The fresh DATA_DIR that `manage.py migrate` makes (`migrated_data_dir`) is made once per run.
"""

from __future__ import annotations

import stat
from pathlib import Path

from tests.helpers import run_alone as run


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_dir_its_database_and_generated_keys_are_readable_by_their_user_alone(migrated_data_dir):
    data = migrated_data_dir  # `manage.py migrate --noinput` on a DATA_DIR that did not exist

    assert mode(data) == 0o700
    assert mode(data / "mirrors") == 0o700
    assert mode(data / "db.sqlite3") == 0o600
    assert mode(data / "secret_key") == 0o600
    assert mode(data / "encryption_key") == 0o600
    loose = {str(path.relative_to(data)): oct(mode(path)) for path in data.rglob("*") if mode(path) & 0o077}
    assert loose == {}


def test_an_existing_data_dir_left_open_to_other_users_is_closed_when_a_process_starts(copy_data_dir):
    data = copy_data_dir("old")  # as `manage.py migrate --noinput` left it
    (data / "mirrors" / "1.git").mkdir()
    opened = [data, data / "mirrors", data / "mirrors" / "1.git", data / "static"]
    for folder in opened:
        folder.chmod(0o755)
    for name in ("db.sqlite3", "secret_key", "encryption_key"):
        (data / name).chmod(0o644)
    (data / "db.sqlite3-wal").write_bytes(b"")
    (data / "db.sqlite3-wal").chmod(0o666)

    run(data, "manage.py", "check")

    assert mode(data) == 0o700
    assert mode(data / "mirrors") == 0o700
    assert mode(data / "static") == 0o700
    assert mode(data / "db.sqlite3") == 0o600
    assert mode(data / "db.sqlite3-wal") == 0o600
    assert mode(data / "secret_key") == 0o600
    assert mode(data / "encryption_key") == 0o600


def test_files_web_and_worker_processes_write_later_are_private_too(tmp_path):
    """gunicorn imports portal.wsgi, qcluster and runserver go through manage.py: both set the umask."""
    data = tmp_path / "later"
    write = (
        "import os, pathlib; from django.conf import settings; "
        "path = pathlib.Path(settings.DATA_DIR) / 'tmp' / 'work'; path.mkdir(); (path / 'file').write_text('x')"
    )

    run(data, "-c", f"import portal.wsgi; {write}")
    run(data, "manage.py", "shell", "-c", write.replace("'work'", "'work2'"))

    for name in ("work", "work2"):
        assert mode(data / "tmp" / name) == 0o700
        assert mode(data / "tmp" / name / "file") == 0o600
