"""The package as a user gets it: sdist and wheel built, the wheel installed and run.

``python -m build`` makes the sdist from a copy of the checkout's files, then the wheel
FROM that sdist (so the sdist must hold everything a build needs). The wheel is installed,
not editable, with the ``hf`` extra that the demo's bundled model needs and the pinned
``constraints/ci.txt``, into a fresh virtual environment; ``regionreasoner --help`` and
``regionreasoner demo --dialogues 5`` then run from a folder outside the checkout, with no
``PYTHONPATH`` and the Hugging Face hub offline. Missing package data (the bundled model,
anything read through the package's own paths) fails here rather than on a user's machine.

The fresh environment holds torch (several GB) and takes a minute or two to install;
the times measured are in ``docs/benchmarks.md`` ("Packaging"). It is removed afterwards.
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import regionreasoner

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "src" / "regionreasoner"
DEMO_EXTRAS = "hf"
"""What ``regionreasoner demo`` needs beyond the core: the bundled model runs on transformers."""
DEMO_DIALOGUES = 5
BUILD_TIMEOUT_S = 600
INSTALL_TIMEOUT_S = 1200
RUN_TIMEOUT_S = 600
SDIST_TOP_FILES = ("pyproject.toml", "README.md", "LICENSE", "CITATION.cff", "CHANGELOG.md")
UNSET_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH")


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path
    build_s: float


@dataclass(frozen=True)
class Installed:
    bin: Path
    python: Path
    site_packages: Path
    env: dict[str, str]
    install_s: float


def _checkout_files() -> list[str]:
    """Tracked files plus untracked ones git does not ignore, as in the working tree."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the file list to package comes from git")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (REPO / name).is_file()})


def _package_files() -> list[str]:
    """Every file of the package in the checkout (modules and data), relative to ``src/``."""
    return [
        name.removeprefix("src/")
        for name in _checkout_files()
        if name.startswith("src/regionreasoner/") and "__pycache__" not in name
    ]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET_VARIABLES}
    return {**env, **extra}


def _run(args: list[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-6000:]}"
    )
    return result


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """sdist and wheel built from a copy of the checkout (the checkout itself is not written)."""
    tree = tmp_path_factory.mktemp("checkout")
    for name in _checkout_files():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tree / name)
    out = tmp_path_factory.mktemp("dist")
    start = time.perf_counter()
    result = _run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(tree)],
        timeout=BUILD_TIMEOUT_S,
        env=_clean_env(),
        cwd=out,
    )
    build_s = time.perf_counter() - start
    name = f"regionreasoner-{regionreasoner.__version__}"
    sdist, wheel = out / f"{name}.tar.gz", out / f"{name}-py3-none-any.whl"
    assert sorted(p.name for p in out.iterdir()) == sorted([sdist.name, wheel.name])
    # build's default: the wheel is built from the unpacked sdist, not from the tree
    assert f"Successfully built {sdist.name} and {wheel.name}" in result.stdout
    return Dist(sdist=sdist, wheel=wheel, build_s=build_s)


@pytest.fixture(scope="module")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A fresh virtual environment with the wheel (and the demo's extra) installed."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    env = _clean_env(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    start = time.perf_counter()
    _run([sys.executable, "-m", "venv", str(venv)], timeout=RUN_TIMEOUT_S, env=env)
    python = venv / "bin" / "python"
    # --no-compile: byte-compiling all of torch and transformers at install time cost more
    # than the demo's compiling of the modules it imports (docs/benchmarks.md, "Packaging")
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "-c", str(REPO / "constraints" / "ci.txt"),
         f"{dist.wheel}[{DEMO_EXTRAS}]"],
        timeout=INSTALL_TIMEOUT_S,
        env=env,
    )  # fmt: skip
    install_s = time.perf_counter() - start
    site_packages = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            timeout=RUN_TIMEOUT_S,
            env=env,
        ).stdout.strip()
    )
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    try:
        yield Installed(
            bin=venv / "bin",
            python=python,
            site_packages=site_packages,
            env=env,
            install_s=install_s,
        )
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # several GB; pytest keeps old tmp folders


def test_sdist_holds_what_a_build_needs(dist: Dist) -> None:
    prefix = f"regionreasoner-{regionreasoner.__version__}/"
    with tarfile.open(dist.sdist) as sdist:
        names = {m.name.removeprefix(prefix) for m in sdist.getmembers() if m.isfile()}
        pkg_info = sdist.extractfile(f"{prefix}PKG-INFO")
        assert pkg_info is not None
        metadata = email.parser.BytesParser().parse(pkg_info)
    assert metadata["Version"] == regionreasoner.__version__
    assert set(SDIST_TOP_FILES) <= names
    missing = {f"src/{name}" for name in _package_files()} - names
    assert not missing, f"files of the package missing from the sdist: {sorted(missing)}"
    assert not [n for n in names if n.startswith("tests/")]  # MANIFEST.in: not shipped


def test_wheel_holds_every_package_file_and_the_metadata(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        info = f"regionreasoner-{regionreasoner.__version__}.dist-info"
        metadata = email.parser.Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    missing = set(_package_files()) - names
    assert not missing, f"files of the package missing from the wheel: {sorted(missing)}"
    assert metadata["Version"] == regionreasoner.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert f"{info}/licenses/LICENSE" in names
    assert DEMO_EXTRAS in metadata.get_all("Provides-Extra")
    assert "regionreasoner = regionreasoner.cli.main:main" in entry_points


def test_installed_wheel_runs_the_cli_and_the_demo_outside_the_checkout(
    dist: Dist, installed: Installed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "user"
    work.mkdir()
    assert REPO not in work.parents
    run = {"timeout": RUN_TIMEOUT_S, "env": installed.env, "cwd": work}

    where = _run(
        [str(installed.python), "-c",
         "import importlib.metadata as m, json, regionreasoner as r; "
         "print(json.dumps([r.__file__, r.__version__, m.version('regionreasoner')]))"],
        **run,
    )  # fmt: skip
    module_file, version, dist_version = json.loads(where.stdout)
    installed_pkg = installed.site_packages / "regionreasoner"
    assert Path(module_file) == installed_pkg / "__init__.py"  # not the checkout's src/
    assert version == dist_version == regionreasoner.__version__
    # every file of the package arrived intact (modules, the bundled model, its card)
    for name in _package_files():
        installed_file = installed.site_packages / name
        assert installed_file.is_file(), name
        assert _sha256(installed_file) == _sha256(REPO / "src" / name), name

    cli = str(installed.bin / "regionreasoner")
    assert _run([cli, "--version"], **run).stdout.strip() == f"regionreasoner {version}"
    help_text = _run([cli, "--help"], **run).stdout
    for command in ("demo", "eval", "score", "train", "serve", "validate"):
        assert f"    {command} " in help_text, command

    start = time.perf_counter()
    demo = _run([cli, "demo", "--dialogues", str(DEMO_DIALOGUES), "--out", "demo"], **run)
    demo_s = time.perf_counter() - start
    assert "no bundled micro model" not in demo.stderr  # the oracle fallback did not run
    assert "model acc@0.5" in demo.stdout and "random object" in demo.stdout
    run_dir = work / "demo" / "run"
    for name in ("metrics.json", "report.md", "report.html", "rounds.png", "baseline.json"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert config["model"] == f"hf:{installed_pkg / 'assets' / 'micro-model'}"
    assert config["versions"]["regionreasoner"] == regionreasoner.__version__
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["dialogues"] == DEMO_DIALOGUES
    assert metrics["overall"]["turns"] == config["turns"] > DEMO_DIALOGUES
    assert metrics["overall"]["failed_turns"] == 0
    assert metrics["overall"]["format_ok"] > 0.5  # the trained model, not random weights

    with capsys.disabled():
        print(
            f"\nwheel: build (sdist + wheel) {dist.build_s:.1f} s, fresh venv + install "
            f"{installed.install_s:.1f} s, demo --dialogues {DEMO_DIALOGUES} {demo_s:.1f} s"
        )
