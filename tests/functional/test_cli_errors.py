"""The CLI's last line of defence: an unexpected failure is one line on stderr, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_file_that_is_not_a_database_gives_one_error_line_and_status_2(tmp_path: Path) -> None:
    (tmp_path / "papercast.db").write_text("not a database\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAPERCAST_")},
           "PAPERCAST_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "papercast", "status"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: unexpected DatabaseError:")
    assert "file is not a database" in done.stderr
    assert "Traceback" not in done.stderr
