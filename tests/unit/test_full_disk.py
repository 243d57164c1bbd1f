"""A disk that really fills up: the run folder on a 1 MiB tmpfs. The first write that does not fit comes from
a library written in Rust (the tokenizer's, inside the Trainer's checkpoint), which raises a plain Exception,
not an OSError — it must still end as one `error:` line naming the stage folder, exit 2."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from align.cli import main
from align.runner import disk_error


@pytest.fixture
def tiny_disk(tmp_path: Path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield folder
    # The run's align.log handler stays on the root logger: on a full disk every later record would fail.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and handler.baseFilename.startswith(str(folder)):
            root.removeHandler(handler)
            handler.close()
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_mid_stage_is_one_line_and_exit_2(tiny_disk: Path, tiny_model: str, chat_file: Path, capsys):
    from tests.unit.test_run_failures import error_lines, sft, write_recipe

    recipe = write_recipe(tiny_disk.parent / "r.yaml", tiny_model, [sft("first", chat_file, save_steps=1)])
    assert main(["run", str(recipe), "--run-dir", str(tiny_disk / "run")]) == 2
    stage = tiny_disk / "run" / "first"
    assert error_lines(capsys) == [
        f"error: {stage}: No space left on device — the stage stopped; free space or fix permissions and re-run "
        "the same command to resume"
    ]
    assert not (stage / "COMPLETE").exists()


def test_rust_and_python_io_errors_of_the_disk_are_recognised_and_others_are_not(tmp_path: Path):
    rust = disk_error(Exception("No space left on device (os error 28)"), tmp_path)
    assert rust is not None and str(rust).startswith(f"{tmp_path}: No space left on device — the stage stopped")
    python = disk_error(OSError(28, "No space left on device", str(tmp_path / "x.json")), tmp_path)
    assert python is not None and str(python).startswith(f"{tmp_path / 'x.json'}: No space left on device")
    assert disk_error(Exception("connection refused (os error 111)"), tmp_path) is None
    assert disk_error(ValueError("bad value"), tmp_path) is None
    assert json.dumps(str(rust)).count("\\n") == 0  # one line
