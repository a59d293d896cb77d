"""The pinned environment: pyproject.toml, environment.yml and the lock file agree."""
from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


def _normalise(name: str) -> str:
    """PEP 503 name normalisation: case-insensitive, runs of -, _ and . are one separator."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse_pins(requirements) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = PIN.match(requirement.strip())
        assert match, f"{requirement!r} is not an exact pin name==version"
        name = _normalise(match.group(1))
        assert name not in pins, f"{name} is pinned twice"
        pins[name] = match.group(2)
    return pins


@pytest.fixture(scope="module")
def pyproject_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        requirements += group
    return requirements


@pytest.fixture(scope="module")
def conda_pip_requirements() -> list[str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml should have one pip: section"
    return [r for r in pip_sections[0] if r.strip() != "-e ."]


def test_every_pin_is_exact(pyproject_requirements, conda_pip_requirements):
    for requirement in pyproject_requirements + conda_pip_requirements:
        assert PIN.match(requirement.strip()), f"{requirement!r} must be pinned exactly with =="


def test_pyproject_and_environment_yml_pin_the_same_packages(pyproject_requirements, conda_pip_requirements):
    from_pyproject = _parse_pins(pyproject_requirements)
    from_conda = _parse_pins(conda_pip_requirements)
    missing = sorted(set(from_pyproject) - set(from_conda))
    extra = sorted(set(from_conda) - set(from_pyproject))
    assert not missing, f"pinned in pyproject.toml but not in environment.yml: {missing}"
    assert not extra, f"pinned in environment.yml but not in pyproject.toml: {extra}"
    differ = {n: (from_pyproject[n], from_conda[n]) for n in from_pyproject if from_pyproject[n] != from_conda[n]}
    assert not differ, f"versions differ (pyproject.toml, environment.yml): {differ}"


def test_environment_yml_installs_the_package_itself():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip
    assert "python=3.11" in environment["dependencies"]


def test_torch_is_pinned_to_2_13_0(pyproject_requirements):
    assert _parse_pins(pyproject_requirements)["torch"] == "2.13.0"


def test_every_pin_is_in_the_lock_file_with_the_same_version(pyproject_requirements):
    lock = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lock.update(_parse_pins([line]))
    assert len(lock) > 50, "the lock file should list the transitive dependencies too"
    for name, version in _parse_pins(pyproject_requirements).items():
        assert name in lock, f"{name} is pinned in pyproject.toml but missing from requirements/constraints.txt"
        assert lock[name] == version, f"{name}: pyproject.toml pins {version}, constraints.txt {lock[name]}"


def test_name_normalisation():
    assert _normalise("scikit_learn") == _normalise("Scikit-Learn") == "scikit-learn"
    assert _normalise("PyYAML") == "pyyaml"


def test_no_cuda_packages_are_installed():
    names = {_normalise(d.metadata["Name"] or "") for d in importlib.metadata.distributions()}
    cuda = sorted(n for n in names if n.startswith("nvidia-"))
    assert not cuda, f"CUDA packages are installed: {cuda}; the course needs the CPU build of torch 2.13.0"


def test_installed_versions_match_the_pins(pyproject_requirements):
    for name, version in _parse_pins(pyproject_requirements).items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{name}=={version} is pinned but not installed: run `make setup`")
        assert installed.split("+")[0] == version, f"{name} {installed} is installed, {version} is pinned"
    assert importlib.metadata.version("torch").split("+")[1:] in ([], ["cpu"]), "torch must be the CPU build"
