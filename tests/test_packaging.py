"""Packaging kept in step (issue 13, "Operations"; SPEC O1 is what the image serves): the hashed
locks in requirements/ against setup.cfg, the environment `make install` built against the dev
lock, the Dockerfile and its build context, and the README's configuration table against
``idp.config.Settings``. File reading only: no network, no server, well under a second.

When one fails after a change to setup.cfg: ``make lock`` rewrites both locks (README,
"Dependencies").
"""

from __future__ import annotations

import configparser
import dataclasses
import importlib.metadata
import re
import shlex
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from idp.config import Settings

ROOT = Path(__file__).resolve().parent.parent
BASE_LOCK = ROOT / "requirements" / "base.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"
#: The pip that installs the two above (`make install`, the image).
PIP_LOCK = ROOT / "requirements" / "pip.txt"
#: How uv names the project in a lock's "# via" comments.
PROJECT_VIA = "worksdrive-idp (setup.cfg)"


@dataclass
class Pin:
    version: str
    marker: Marker | None
    hashes: set[str] = field(default_factory=set)
    via: set[str] = field(default_factory=set)


def read_lock(path: Path) -> dict[str, Pin]:
    """``uv pip compile --generate-hashes`` output: each pin, its hashes and its "via" list."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in path.read_text().splitlines():
        stripped = line.strip().rstrip("\\").strip()
        if not stripped:
            continue
        if not line[0].isspace():
            if line.startswith("#"):  # the header
                continue
            spec, _, marker = stripped.partition(";")
            name, _, version = spec.strip().partition("==")
            assert version, f"{path.name}: not pinned with ==: {line!r}"
            current = Pin(version, Marker(marker.strip()) if marker.strip() else None)
            pins[canonicalize_name(name)] = current
            continue
        assert current is not None, f"{path.name}: an indented line before any pin: {line!r}"
        if stripped.startswith("--hash="):
            current.hashes.add(stripped.removeprefix("--hash="))
        elif stripped.startswith("#"):
            parent = stripped.lstrip("#").strip().removeprefix("via").strip()
            if parent:
                current.via.add(parent)
    return pins


def setup_cfg_requirements() -> tuple[list[Requirement], list[Requirement]]:
    """install_requires and the ``dev`` extra of setup.cfg."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")

    def parse(value: str) -> list[Requirement]:
        lines = (line.split("#", 1)[0].strip() for line in value.splitlines())
        return [Requirement(line) for line in lines if line]

    return (
        parse(config["options"]["install_requires"]),
        parse(config["options.extras_require"]["dev"]),
    )


def direct(pins: dict[str, Pin]) -> set[str]:
    return {name for name, pin in pins.items() if PROJECT_VIA in pin.via}


@pytest.mark.parametrize(
    ("lock", "with_dev"), [(BASE_LOCK, False), (DEV_LOCK, True)], ids=["base", "dev"]
)
def test_O1_each_lock_pins_exactly_setup_cfgs_requirements_within_their_ranges(lock, with_dev):
    base, dev = setup_cfg_requirements()
    wanted = base + dev if with_dev else base
    pins = read_lock(lock)
    names = {canonicalize_name(r.name) for r in wanted}
    assert direct(pins) == names, (
        f"{lock.name} was written from another setup.cfg: run `make lock` "
        f"(only in setup.cfg: {sorted(names - direct(pins))}, "
        f"only in the lock: {sorted(direct(pins) - names)})"
    )
    for requirement in wanted:
        pin = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{lock.name} pins {requirement.name}=={pin.version} outside setup.cfg's "
            f"{requirement}: run `make lock`"
        )


@pytest.mark.parametrize("lock", [PIP_LOCK, BASE_LOCK, DEV_LOCK], ids=["pip", "base", "dev"])
def test_O1_every_pin_is_hashed_and_pulled_in_by_something_in_the_lock(lock):
    pins = read_lock(lock)
    assert pins, f"{lock.name} pins nothing"
    for name, pin in pins.items():
        assert pin.hashes and all(h.startswith("sha256:") for h in pin.hashes), name
        # "-c requirements/base.txt", "-r requirements/pip.in": an input file, not a package
        parents = {canonicalize_name(p) for p in pin.via - {PROJECT_VIA} if p[0] != "-"}
        assert pin.via and parents <= set(pins), f"{lock.name}: {name} is wanted by {pin.via}"


def test_O1_the_dev_lock_runs_the_images_versions():
    """The image installs the base lock, the tests run the dev lock: the same files."""
    base, dev = read_lock(BASE_LOCK), read_lock(DEV_LOCK)
    for name, pin in base.items():
        assert name in dev, f"{name} is in the base lock but not in the dev lock"
        assert (dev[name].version, dev[name].hashes) == (pin.version, pin.hashes), name


def test_O1_this_environment_is_the_dev_lock():
    """`make install` reinstalls when a lock changes; a version that differs here means the
    environment was built from something else (a hand-installed package, an old lock)."""
    differ = {}
    for name, pin in read_lock(DEV_LOCK).items():
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pin.version:
            differ[name] = (installed, pin.version)
    assert not differ, f"installed vs locked: {differ}; run `make install`"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = (line.strip() for line in text.splitlines())
    pairs = (line.split(None, 1) for line in lines if line and not line.startswith("#"))
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def test_O1_the_image_installs_the_base_lock_with_hashes_and_runs_as_a_user():
    steps = dockerfile_instructions()
    pip_runs = [
        shlex.split(command)
        for kind, args in steps
        if kind == "RUN"
        for command in args.split("&&")
        if command.split()[:2] == ["pip", "install"]
    ]
    assert [argv[-3:] for argv in pip_runs[:2]] == [
        ["--require-hashes", "-r", "requirements/pip.txt"],
        ["--require-hashes", "-r", "requirements/base.txt"],
    ], "the image's pip and dependencies come from the hashed locks"
    for argv in pip_runs:
        assert "--require-hashes" in argv or "--no-deps" in argv, (
            f"`{' '.join(argv)}` would install unlocked dependencies"
        )
    users = [args for kind, args in steps if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the provider runs as root"
    assert any(kind == "HEALTHCHECK" for kind, _ in steps)
    for kind, args in steps:
        if kind in ("ENV", "ARG"):
            assert not re.search(r"SECRET|PASSWORD|TOKEN|ENCRYPTION_KEY", args), args


def test_O1_the_image_build_context_holds_every_copied_path():
    """.dockerignore lets in only what the Dockerfile copies: a path missing there fails the
    build (docker is not on every machine that runs this test)."""
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = [
        source
        for kind, args in dockerfile_instructions()
        if kind == "COPY"
        for source in shlex.split(args)[:-1]
        if not source.startswith("--")
    ]
    assert copied
    for source in copied:
        source = source.removeprefix("./").rstrip("/")
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is missing"
        assert source in allowed, f".dockerignore keeps {source} out of the build context"


def test_O1_the_readme_configuration_names_every_setting():
    """Each ``IDP_*`` setting is documented in the README, and the README names no setting
    that ``idp.config`` does not read (the ``IDP_SMS_*``/``IDP_BROKER_*`` groups have their
    own tables and tests)."""
    readme = (ROOT / "README.md").read_text()
    groups = {"sms": "IDP_SMS_", "brokers": "IDP_BROKER_"}
    settings = set()
    for setting in dataclasses.fields(Settings):
        if setting.name == "extra":  # tests only: never read from the environment
            continue
        name = groups.get(setting.name, f"IDP_{setting.name.upper()}")
        settings.add(name)
        assert name in readme, f"the README does not document {name}"
    named = set(re.findall(r"\bIDP_[A-Z0-9_]*[A-Z0-9]\b", readme))
    unknown = {n for n in named if n not in settings and not n.startswith(tuple(groups.values()))}
    assert not unknown, f"the README names settings that idp.config does not read: {unknown}"
