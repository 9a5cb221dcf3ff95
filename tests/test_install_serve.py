"""scripts/install-serve.sh: a wheel when there is one, a clear word when the compile fails."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install-serve.sh"


def _fake_pip(tmp_path: Path, body: str) -> Path:
    pip = tmp_path / "bin" / "pip"
    pip.parent.mkdir()
    pip.write_text("#!/usr/bin/env bash\n" + body)
    pip.chmod(pip.stat().st_mode | stat.S_IEXEC)
    return pip


def _run(pip: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLAMA_BUILD_LOG": str(tmp_path / "build.log")}
    return subprocess.run(["bash", str(SCRIPT), str(pip)], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.skipif(not SCRIPT.exists(), reason="script not in this checkout")
def test_a_wheel_installs_quietly(tmp_path):
    res = _run(_fake_pip(tmp_path, "exit 0\n"), tmp_path)
    assert res.returncode == 0 and "installed" in res.stdout


def test_a_failed_compile_is_said_and_does_not_stop_the_install(tmp_path):
    # no wheel (--only-binary fails), then the source build fails after printing progress
    body = ('case "$*" in *only-binary*) exit 1;; esac\n'
            'echo "[ 42%] Building CXX object ggml.o"; exit 1\n')
    res = _run(_fake_pip(tmp_path, body), tmp_path)
    assert res.returncode == 0
    assert "compiling llama.cpp" in res.stdout and "about 10 minutes" in res.stdout
    assert "FAILED" in res.stdout and "every other test runs" in res.stdout
    assert "42%" in (tmp_path / "build.log").read_text()
