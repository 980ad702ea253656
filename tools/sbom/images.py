"""The Dockerfiles of docker/ read as data, and an image's install reproduced without Docker.

An image's Python environment is what its build stage's `COPY` lines put into /app and its
`uv sync` lines install from uv.lock; both are read from the Dockerfile itself and repeated
in a folder with the same uv (the Makefile's) and the local uv cache.
tests/infra/test_images_build.py imports every handler there; tools/sbom.sh lists what it holds.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
NOT_FUNCTION_IMAGES = {"base", "local"}
"""Dockerfiles that are no Lambda function's image: the shared base and the embedded runtime."""
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(dockerfile: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return found


def exec_form(instruction: Instruction) -> list[str]:
    value = json.loads(instruction.arguments)
    if not isinstance(value, list):
        raise ValueError(f"{instruction.keyword} must be in exec (JSON) form")
    return [str(v) for v in value]


def image_name(dockerfile: Path) -> str:
    return dockerfile.name.removesuffix(".Dockerfile")


def all_images() -> dict[str, Path]:
    """Every image docker/ builds: `base`, `local` and the function images."""
    return {image_name(path): path for path in sorted(DOCKER.glob("*.Dockerfile"))}


def function_images() -> dict[str, Path]:
    return {name: path for name, path in all_images().items() if name not in NOT_FUNCTION_IMAGES}


def build_args(dockerfile: Path) -> dict[str, str]:
    """`ARG NAME=default` of the Dockerfile (the defaults a plain `docker build` uses)."""
    args = {}
    for instruction in instructions(dockerfile):
        if instruction.keyword == "ARG" and "=" in instruction.arguments:
            name, _, default = instruction.arguments.partition("=")
            args[name] = default
    return args


def substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), text)


def stages(dockerfile: Path) -> list[tuple[str, list[Instruction]]]:
    """Each stage's name (`FROM ... AS name`, else its number) and its instructions, the
    FROM first."""
    found: list[tuple[str, list[Instruction]]] = []
    for instruction in instructions(dockerfile):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(found))
            found.append((name, []))
        if found:
            found[-1][1].append(instruction)
    return found


def stage(dockerfile: Path, name: str) -> list[Instruction]:
    for stage_name, parsed in stages(dockerfile):
        if stage_name == name:
            return parsed
    raise KeyError(f"{dockerfile.name} has no stage {name!r}")


def final_from(dockerfile: Path) -> str:
    """The image the last stage (the image itself) starts from, ARGs substituted."""
    *_, (_, last) = stages(dockerfile)
    return substitute(last[0].arguments.split()[0], build_args(dockerfile))


def base_of(dockerfile: Path) -> Path:
    """The Dockerfile that builds this image's `FROM` (`concertbook-<name>` ← `<name>.Dockerfile`),
    or the image's own file when it installs the project itself."""
    name = final_from(dockerfile).split(":")[0]
    if name.startswith("concertbook-"):
        return base_of(DOCKER / f"{name.removeprefix('concertbook-')}.Dockerfile")
    return dockerfile


@dataclass(frozen=True)
class Step:
    """A COPY from the build context (`sources` → `destination` under /app) or a RUN."""

    sources: tuple[str, ...] = ()
    destination: str = ""
    command: tuple[str, ...] = ()


def steps_of(parsed: list[Instruction]) -> list[Step]:
    """What a stage copies from the build context and runs, in order (`--mount` dropped)."""
    steps: list[Step] = []
    for instruction in parsed:
        words = shlex.split(instruction.arguments)
        if instruction.keyword == "WORKDIR" and words != ["/app"]:
            raise ValueError("the build stages work in /app (the reproduction copies into it)")
        if instruction.keyword == "COPY" and not any(w.startswith("--from") for w in words):
            paths = [w for w in words if not w.startswith("--")]
            steps.append(Step(sources=tuple(paths[:-1]), destination=paths[-1]))
        if instruction.keyword == "RUN":
            steps.append(Step(command=tuple(w for w in words if not w.startswith("--mount="))))
    return steps


def install_of(dockerfile: Path) -> list[Step]:
    """What the stage that fills /app/.venv (the first) copies and runs, in order."""
    _, first = stages(dockerfile)[0]
    steps = steps_of(first)
    for step in steps:
        if step.command and step.command[0] != "uv":
            raise ValueError(f"{dockerfile.name}: only uv runs in the build stage")
    return steps


def sync_flags(dockerfile: Path) -> list[str]:
    """The flags of the install's last `uv sync` (the one that installs the project too)."""
    syncs = [s.command for s in install_of(base_of(dockerfile)) if s.command[:2] == ("uv", "sync")]
    if not syncs:
        raise ValueError(f"{dockerfile.name}: no uv sync in the build stage")
    return list(syncs[-1][2:])


def uv() -> str:
    found = shutil.which("uv", path=str(VENV_BIN)) or shutil.which("uv")
    if not found:
        raise RuntimeError("uv is installed in .venv by the Makefile")
    return found


def clean_env() -> dict[str, str]:
    """This environment without uv's or a virtualenv's settings, on this interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    return env | {
        "UV_PYTHON": getattr(sys, "_base_executable", sys.executable),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
    }


def copy_context(step: Step, app: Path) -> None:
    """A COPY from the build context (the repository) into `app`, as Docker copies: a
    folder's contents into the destination, a file into it when it ends with `/`."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    destination = app / step.destination
    for source in step.sources:
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, destination, ignore=ignore, dirs_exist_ok=True)
            continue
        target = destination / Path(source).name if step.destination.endswith("/") else destination
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / source, target)


def install_like(steps: list[Step], app: Path) -> Path:
    """Copy the build context as the Dockerfile's COPY lines do and run its `uv` lines, in
    their order, in `app`; the interpreter of the resulting /app/.venv."""
    app.mkdir(parents=True)
    for step in steps:
        if not step.command:
            copy_context(step, app)
            continue
        done = subprocess.run(  # noqa: S603 - the Dockerfile's own uv line, no shell
            [uv(), *step.command[1:]],
            cwd=app,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(step.command)}\n{done.stderr}")
    python = app / ".venv" / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"the steps made no {python}")
    return python
