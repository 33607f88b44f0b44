"""scripts/ensure-system-packages, which `make test` runs before anything else: it installs what
the tests need through apt when it may (root, passwordless sudo), and otherwise stops with the
one command to run.

The machine is faked: `apt-get`, `sudo` and `id` are stubs first on PATH that record their
calls (the fake apt-get "installs" by creating the files), and chromium and the PostgreSQL
binaries are looked for where PAPERCAST_TEST_CHROMIUM and PAPERCAST_TEST_PG_BINDIR point.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "ensure-system-packages"

FAKE_APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$FAKE_LOG"
[ "$1" = install ] || exit 0
[ -z "$FAKE_APT_FAILS" ] || { echo "E: Unable to locate package" >&2; exit 100; }
for package in "$@"; do
    case $package in
        chromium) touch "$PAPERCAST_TEST_CHROMIUM"; chmod +x "$PAPERCAST_TEST_CHROMIUM" ;;
        postgresql) mkdir -p "$PAPERCAST_TEST_PG_BINDIR"
                    touch "$PAPERCAST_TEST_PG_BINDIR/initdb" "$PAPERCAST_TEST_PG_BINDIR/pg_ctl"
                    chmod +x "$PAPERCAST_TEST_PG_BINDIR/initdb" "$PAPERCAST_TEST_PG_BINDIR/pg_ctl" ;;
    esac
done
"""
# Passwordless only when FAKE_SUDO_PASSWORDLESS is set; it keeps the environment (real sudo does
# not, which is why the script passes DEBIAN_FRONTEND through `env`).
FAKE_SUDO = """#!/bin/sh
echo "sudo $*" >> "$FAKE_LOG"
if [ "$1" = -n ] && [ -n "$FAKE_SUDO_PASSWORDLESS" ]; then shift; exec "$@"; fi
echo "sudo: a password is required" >&2
exit 1
"""
FAKE_ID = """#!/bin/sh
if [ "$1" = -u ]; then echo "$FAKE_UID"; else exec /usr/bin/id "$@"; fi
"""
BOTH_INSTALLED = ["apt-get update -q", "apt-get install -y -q --no-install-recommends chromium postgresql"]


@dataclass
class FakeMachine:
    """A machine for the script: who runs it, whether sudo and apt-get exist, what is installed."""

    root: Path
    uid: int = 0
    sudo: str = "none"  # "none", "password" or "passwordless"
    apt: bool = True
    apt_fails: bool = False

    @property
    def chromium(self) -> Path:
        return self.root / "usr-bin" / "chromium"

    @property
    def pg_bindir(self) -> Path:
        return self.root / "pg" / "bin"

    @property
    def log(self) -> Path:
        return self.root / "calls.log"

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def install_chromium(self) -> None:
        self.chromium.parent.mkdir(parents=True, exist_ok=True)
        self.chromium.write_text("#!/bin/sh\n")
        self.chromium.chmod(0o755)

    def install_postgresql(self) -> None:
        self.pg_bindir.mkdir(parents=True, exist_ok=True)
        for name in ("initdb", "pg_ctl"):
            (self.pg_bindir / name).write_text("#!/bin/sh\n")
            (self.pg_bindir / name).chmod(0o755)

    def env(self, **extra: str) -> dict[str, str]:
        stubs = self.root / "stubs"
        stubs.mkdir(exist_ok=True)
        self.chromium.parent.mkdir(parents=True, exist_ok=True)
        scripts = {"id": FAKE_ID, **({"apt-get": FAKE_APT_GET} if self.apt else {}),
                   **({"sudo": FAKE_SUDO} if self.sudo != "none" else {})}
        for name, text in scripts.items():
            (stubs / name).write_text(text)
            (stubs / name).chmod(0o755)
        # Without apt-get, nothing from the system's bin folders either (that is where it lives).
        path = f"{stubs}:{os.environ['PATH']}" if self.apt else str(stubs)
        if not self.apt:
            (stubs / "bash").symlink_to(shutil.which("bash") or "/bin/bash")
        env = {key: value for key, value in os.environ.items() if key != "PAPERCAST_TEST_POSTGRES_URL"}
        return {**env, "PATH": path, "FAKE_LOG": str(self.log), "FAKE_UID": str(self.uid),
                "FAKE_SUDO_PASSWORDLESS": "1" if self.sudo == "passwordless" else "",
                "FAKE_APT_FAILS": "1" if self.apt_fails else "",
                "PAPERCAST_TEST_CHROMIUM": str(self.chromium),
                "PAPERCAST_TEST_PG_BINDIR": str(self.pg_bindir), **extra}

    def run(self, *needs: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), *needs], env=self.env(**extra), capture_output=True, text=True,
                              timeout=60, check=False)


def test_nothing_happens_when_everything_is_installed(tmp_path: Path) -> None:
    machine = FakeMachine(tmp_path)
    machine.install_chromium()
    machine.install_postgresql()

    result = machine.run("browser", "postgresql")

    assert (result.returncode, result.stderr, machine.calls()) == (0, "", [])


def test_as_root_it_installs_what_is_missing_with_apt(tmp_path: Path) -> None:
    machine = FakeMachine(tmp_path, uid=0)

    result = machine.run("browser", "postgresql")

    assert result.returncode == 0, result.stderr
    assert machine.calls() == BOTH_INSTALLED
    assert machine.chromium.exists() and (machine.pg_bindir / "initdb").exists()


def test_only_what_is_missing_is_installed(tmp_path: Path) -> None:
    machine = FakeMachine(tmp_path, uid=0)
    machine.install_postgresql()

    assert machine.run("browser", "postgresql").returncode == 0
    assert machine.calls()[-1] == "apt-get install -y -q --no-install-recommends chromium"


def test_a_postgres_url_means_no_server_binaries_are_needed(tmp_path: Path) -> None:
    machine = FakeMachine(tmp_path, uid=1000)

    result = machine.run("postgresql", PAPERCAST_TEST_POSTGRES_URL="postgresql+psycopg://db/papercast")

    assert (result.returncode, machine.calls()) == (0, [])


def test_with_passwordless_sudo_it_installs_through_sudo(tmp_path: Path) -> None:
    machine = FakeMachine(tmp_path, uid=1000, sudo="passwordless")

    result = machine.run("browser", "postgresql")

    assert result.returncode == 0, result.stderr
    assert [call for call in machine.calls() if call.startswith("apt-get")] == BOTH_INSTALLED
    assert "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends " \
           "chromium postgresql" in machine.calls()


@pytest.mark.parametrize(("sudo", "prefix"), [("password", "sudo "), ("none", "")],
                         ids=["sudo-asks-a-password", "no-sudo"])
def test_without_root_it_stops_with_the_one_command_to_run(tmp_path: Path, sudo: str, prefix: str) -> None:
    machine = FakeMachine(tmp_path, uid=1000, sudo=sudo)
    install = "apt-get install -y --no-install-recommends chromium postgresql"

    result = machine.run("browser", "postgresql")

    assert result.returncode == 1
    assert [call for call in machine.calls() if "apt-get" in call] == [], "nothing was installed"
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert "chromium" in lines[0] and "postgresql" in lines[0] and "root" in lines[0]
    assert lines[1].strip() == f"{prefix}apt-get update && {prefix}{install}"


def test_a_failed_install_stops_with_the_command_to_run(tmp_path: Path) -> None:
    machine = FakeMachine(tmp_path, uid=0, apt_fails=True)

    result = machine.run("browser")

    assert result.returncode == 1
    assert "apt-get failed (exit status 100" in result.stderr
    assert result.stderr.splitlines()[-1].strip().endswith("--no-install-recommends chromium")


def test_without_apt_it_names_what_to_install(tmp_path: Path) -> None:
    machine = FakeMachine(tmp_path, uid=0, apt=False)

    result = machine.run("browser", "postgresql")

    assert result.returncode == 1
    assert "no apt-get" in result.stderr and "chromium" in result.stderr and "postgresql" in result.stderr


def test_an_unknown_need_is_refused(tmp_path: Path) -> None:
    result = FakeMachine(tmp_path).run("browser", "printer")

    assert result.returncode == 2 and "unknown need 'printer'" in result.stderr


# --- make test ---------------------------------------------------------------------------------------


def test_make_test_stops_before_any_test_when_it_cannot_install(tmp_path: Path) -> None:
    machine = FakeMachine(tmp_path, uid=1000, sudo="password")
    env = machine.env(PAPERCAST_TEST_POSTGRES_URL="postgresql+psycopg://db/papercast",
                      PYTEST_ARGS="-q --collect-only tests/unit/test_settings.py")  # if pytest did run

    result = subprocess.run(["make", "--no-print-directory", "test"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600, check=False)

    assert result.returncode != 0, "make test went on to the tests"
    assert "test_settings" not in result.stdout + result.stderr
    assert "sudo apt-get install -y --no-install-recommends chromium" in result.stderr


@pytest.mark.parametrize(("target", "needs"), [("test", "browser postgresql"), ("test-fast", "postgresql")])
def test_make_checks_the_system_before_building_or_testing(target: str, needs: str) -> None:
    dry_run = subprocess.run(["make", "--no-print-directory", "--always-make", "--dry-run", target],
                             cwd=REPO, capture_output=True, text=True, timeout=60, check=True)

    commands = dry_run.stdout.splitlines()
    assert commands[0] == f"scripts/ensure-system-packages {needs}"
    assert any(line.startswith("scripts/run-tests") for line in commands[1:])
