"""A non-editable install carries what the shipped recipes need: build the wheel, check its contents, install it
into a fresh venv and validate every shipped recipe (by its `recipes/<name>.yaml` name) from another folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from align.config.load import load_recipe
from align.config.schema import DataSpec
from align.data.load import HUMANEVAL_PREFIX

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
SHARE = "align-0.1.0.data/data/share/align/"


def shipped_files_the_recipes_need() -> set[str]:
    """Repository-relative paths of every local file a shipped recipe (or its eval suites) reads."""
    needed = {"data/math/eval.jsonl", "data/README.md"}  # the math eval suite's default held-out set
    # The math_ood, code and ifeval suites' sets, and HumanEval's split that `--code-data humaneval:eval` reads.
    needed |= {"data/math/eval_ood.jsonl", "data/code/eval.jsonl", "data/code/split.json"}
    needed |= {"data/instruct/eval.jsonl", "data/instruct/eval_ifbench.jsonl"}  # the ifeval suites' sets
    for path in RECIPES:
        needed.add(str(path.relative_to(ROOT)))
        for stage in load_recipe(path).stages:
            for value in stage.__dict__.values():
                if not isinstance(value, DataSpec):
                    continue
                if value.path.startswith(HUMANEVAL_PREFIX):
                    needed.add("data/code/split.json")
                elif Path(value.path).is_relative_to(ROOT):
                    needed.add(str(Path(value.path).relative_to(ROOT)))
    return needed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy, so the build leaves no build/ or egg-info behind in the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in ("align", "reward", "data", "recipes"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return next(out.glob("align-*.whl"))


def test_wheel_holds_every_module_and_every_file_the_recipes_need(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for pkg in ("align", "reward") for p in (ROOT / pkg).rglob("*.py")}
    assert modules - names == set()
    needed = shipped_files_the_recipes_need()
    assert {"data/code/split.json", "recipes/demo.yaml", "data/math/sft.jsonl"} <= needed
    assert {SHARE + f for f in needed} - names == set()


def test_installed_wheel_validates_every_shipped_recipe_from_another_folder(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    # Dependencies come from this environment's site-packages; align itself only from the fresh install.
    env = {"PYTHONPATH": sysconfig.get_paths()["purelib"], "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import align, reward; print(align.__file__); print(reward.shipped_root())"],
        capture_output=True, text=True, cwd=workdir, env=env, timeout=120, check=True,
    ).stdout.split()  # fmt: skip
    assert where[0].startswith(str(venv)) and where[1] == str(venv / "share" / "align")
    for recipe in RECIPES:
        done = subprocess.run(
            [str(python), "-m", "align", "validate", f"recipes/{recipe.name}"],
            capture_output=True, text=True, cwd=workdir, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr  # every local data path resolved, or validation names it
    rows = subprocess.run(
        [str(python), "-c", "from align.data.load import humaneval_rows; print(len(humaneval_rows('pairs')))"],
        capture_output=True, text=True, cwd=workdir, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert rows.returncode == 0 and int(rows.stdout) > 0, rows.stderr
