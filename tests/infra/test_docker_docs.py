"""The container commands the docs give, checked against what they run.

Every shell line of docker/README.md, and of README.md's "Containers" section, is read as a
command and checked against the files it depends on: `docker/build.sh`'s modes and
variables (and its real `--list`), each `docker build`'s Dockerfile, stage and build
arguments, each `docker run`'s image (built by a documented command), its entrypoint and
command (a handler of functions.json, or `concertbook ...` as the real command line parses
it), the ports it publishes against the port that command listens on (8080 under the
emulator), its volumes against the data folder the image's configuration names, its
`CONCERTBOOK_*` variables against booking/settings.py, and every `curl` against a port a
command of the same block published. A command this test does not know fails it, so a new
kind of command in the docs gets a check here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

from api.cli import _parser
from booking.settings import Settings, variables
from tools.sbom.images import (
    DOCKER,
    ROOT,
    all_images,
    build_args,
    exec_form,
    final_from,
    function_images,
    stages,
)

FUNCTIONS = json.loads((DOCKER / "functions.json").read_text())
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SETTINGS = {v.name for v in variables()}
AWS_SDK = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
RIE_PORT = "8080"
"""Where the Runtime Interface Emulator listens by default (it is started without flags)."""
RIE_INVOKE = "/2015-03-31/functions/function/invocations"
TAG = "dev"


# -- the docs' commands ------------------------------------------------------------------------
def shell_blocks(text: str) -> list[list[str]]:
    """Each ```sh block's commands: continuation lines joined, blank and comment lines gone."""
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        joined = block.replace("\\\n", " ")
        lines = [line.strip() for line in joined.splitlines()]
        blocks.append([line for line in lines if line and not line.startswith("#")])
    return blocks


def documented() -> list[tuple[str, list[str]]]:
    """(where, commands) of every block: docker/README.md, README.md's Containers section."""
    readme = (ROOT / "README.md").read_text()
    containers = readme.split("\n## Containers", 1)[1].split("\n## ", 1)[0]
    found = [("docker/README.md", b) for b in shell_blocks((DOCKER / "README.md").read_text())]
    found += [("README.md", b) for b in shell_blocks(containers)]
    return found


def words_of(line: str) -> tuple[dict[str, str], list[str]]:
    """A command line's leading NAME=value assignments and its words (comments dropped)."""
    words = shlex.split(line, comments=True)
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


# -- what an image is configured with ------------------------------------------------------------
@dataclass
class ImageConfig:
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    expose: set[str] = field(default_factory=set)
    runs: list[str] = field(default_factory=list)


def image_config(image: str) -> ImageConfig:
    """The final stage's configuration, over that of the concertbook image it starts from."""
    dockerfile = all_images()[image]
    parent = final_from(dockerfile).split(":")[0]
    config = (
        image_config(parent.removeprefix("concertbook-"))
        if parent.startswith("concertbook-")
        else ImageConfig()
    )
    _, final = stages(dockerfile)[-1]
    for instruction in final[1:]:
        if instruction.keyword == "ENTRYPOINT":
            config.entrypoint = exec_form(instruction)
        elif instruction.keyword == "CMD":
            config.cmd = exec_form(instruction)
        elif instruction.keyword in {"ENV", "LABEL"}:
            pairs = dict(w.split("=", 1) for w in shlex.split(instruction.arguments))
            (config.env if instruction.keyword == "ENV" else config.labels).update(pairs)
        elif instruction.keyword == "EXPOSE":
            config.expose |= set(instruction.arguments.split())
        elif instruction.keyword == "RUN":
            config.runs.append(instruction.arguments)
    return config


def compose_published() -> dict[str, str]:
    """Host port → the compose service publishing it on 127.0.0.1."""
    published = {}
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            address, host, _ = str(port).split(":")
            assert address == "127.0.0.1", name
            published[host] = name
    return published


# -- the checks, one per kind of command --------------------------------------------------------
@dataclass
class Block:
    """What earlier commands of a block leave for later ones: published ports."""

    published: dict[str, str] = field(default_factory=dict)
    """Host port → container port."""
    built: set[str] = field(default_factory=set)


def built_by_build_sh(env: dict[str, str]) -> set[str]:
    listed = subprocess.run(
        ["bash", str(DOCKER / "build.sh"), "--list"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert sorted(listed) == sorted(f"concertbook-{i}:{env['TAG']}" for i in function_images())
    return {*listed, f"concertbook-base:{env['TAG']}"}


def check_build_sh(env: dict[str, str], args: list[str], block: Block) -> None:
    script = (DOCKER / "build.sh").read_text()
    for name in env:
        assert "${" + name in script, f"docker/build.sh does not read {name}"
    cases = script.split('case "$mode" in', 1)[1].split("esac", 1)[0]
    labels = re.findall(r"^\s+([-\w| ]+)\)", cases, re.MULTILINE)
    allowed = {mode.strip() for label in labels for mode in label.split("|")}
    assert allowed >= {"build", "--push", "--list", "--sbom"}
    assert not args or args[0] in allowed, args
    if args and args[0] == "--sbom":
        assert len(args) == 2, "--sbom takes the folder to write"
        assert "--target sbom" in script
    if not args and env.get("TAG") == TAG:
        block.built |= built_by_build_sh(env)


def check_docker_build(args: list[str], block: Block) -> None:
    options: dict[str, list[str]] = {}
    words = iter(args)
    rest = []
    for word in words:
        if word.startswith("-"):
            name, equals, value = word.partition("=")
            options.setdefault(name, []).append(value if equals else next(words))
        else:
            rest.append(word)
    assert rest == ["."], "the build context is the repository root"
    (dockerfile,) = options.pop("-f")
    path = ROOT / dockerfile
    assert path.parent == DOCKER and path.is_file(), dockerfile
    image = path.name.removesuffix(".Dockerfile")
    for argument in options.pop("--build-arg", []):
        name, _, value = argument.partition("=")
        assert name in build_args(path), f"{dockerfile} has no ARG {name}"
        if name == "BASE_IMAGE":
            assert value in block.built, f"{value} is not built by an earlier command"
    target = options.pop("--target", [None])[0]
    if target is not None:
        assert target in [name for name, _ in stages(path)], f"{dockerfile} has no stage {target}"
    outputs = options.pop("--output", [])
    assert not outputs or target == "sbom", "only the sbom stage is written out"
    for tag in options.pop("-t", []):
        assert tag == f"concertbook-{image}:{TAG}", tag
        block.built.add(tag)
    assert options.pop("--provenance", ["false"]) == ["false"], "Lambda takes no attestation"
    assert set(options) <= {"--platform"}, options


def parse_run(args: list[str]) -> tuple[dict[str, list[str]], str, list[str]]:
    """`docker run` options (each option's values), the image, the command after it."""
    flags = {"--rm", "-d", "-it", "-i", "-t"}
    options: dict[str, list[str]] = {}
    words = iter(args)
    for word in words:
        if word in flags:
            options.setdefault(word, [])
            continue
        if word.startswith("-"):
            options.setdefault(word, []).append(next(words))
            continue
        return options, word, list(words)
    raise AssertionError(f"no image in docker run {args}")


def check_volume(
    volume: list[str],
    image_tag: str,
    config: ImageConfig,
    environment: dict[str, str],
    options: dict[str, list[str]],
    *,
    lambda_rie: bool,
) -> None:
    """A `-v source:destination[:ro]` of `docker run`: the emulator's folder, or the data."""
    source, destination, *mode = volume
    if destination == "/aws-lambda":
        assert lambda_rie and mode == ["ro"]
        assert source == "$PWD/.cache/bin"
        assert 'BIN_DIR="$PWD/.cache/bin"' in (ROOT / "tools" / "build-rie.sh").read_text()
        assert "/aws-lambda/aws-lambda-rie" in (DOCKER / "lambda-entrypoint.sh").read_text()
    elif destination == "/data":
        assert environment.get("CONCERTBOOK_DATA_DIR") == "/data", (
            f"{image_tag}: the volume at /data holds nothing unless CONCERTBOOK_DATA_DIR=/data"
        )
        assert any("mkdir /data" in run for run in config.runs), image_tag
        if source.startswith("concertbook_"):
            assert source.removeprefix(f"{COMPOSE['name']}_") in COMPOSE["volumes"], source
        elif source.startswith("$PWD/"):
            assert "--user" in options, "a folder of yours needs --user to be writable"
    else:
        raise AssertionError(f"a volume this test does not know: {source}:{destination}")


def check_docker_run(args: list[str], block: Block) -> None:
    options, image_tag, command = parse_run(args)
    known = {"--rm", "-p", "-v", "-e", "--env-file", "--network", "--user", "--entrypoint"}
    assert set(options) <= known, f"docker run option(s) to check: {set(options) - known}"
    image = re.fullmatch(r"concertbook-([\w-]+):(\w+)", image_tag)
    assert image and image[1] in all_images(), image_tag
    assert image_tag in block.built or image[2] == TAG, image_tag
    config = image_config(image[1])

    environment = dict(config.env)
    for env_file in options.get("--env-file", []):
        path = ROOT / env_file
        assert path.is_file(), env_file
        lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
        environment |= dict(ln.split("=", 1) for ln in lines)
    environment |= dict(e.split("=", 1) for e in options.get("-e", []))
    for name in environment:
        assert (
            name in SETTINGS or name in AWS_SDK or name.startswith("AWS_ENDPOINT_URL_")
        ) or name in {"PATH", "PYTHONUNBUFFERED"}, f"{name} is no setting"
    for network in options.get("--network", []):
        assert network == f"{COMPOSE['name']}_default", network

    entrypoint = [options["--entrypoint"][0]] if "--entrypoint" in options else config.entrypoint
    effective = command or config.cmd
    lambda_rie = False
    listens: str | None = None
    if entrypoint == ["/usr/local/bin/lambda-entrypoint"] and len(effective) == 1:
        handler = effective[0]
        assert [handler] in [f["command"] for f in FUNCTIONS.values() if f["image"] == image[1]], (
            f"{handler} is no function of the {image[1]} image"
        )
        lambda_rie, listens = True, RIE_PORT
    elif entrypoint == ["cat"]:
        (sbom,) = effective
        assert sbom in config.labels.values(), f"{sbom} is not the SBOM the image's label names"
    else:
        assert effective[0] == "concertbook", effective
        parsed = _parser().parse_args(effective[1:])
        if effective[1] == "serve":
            assert parsed.host == "0.0.0.0", "a published port needs the server on every address"
            listens = str(parsed.port or Settings().local.port)
            assert listens in config.expose, f"{image_tag} does not EXPOSE {listens}"

    volumes = [v.split(":") for v in options.get("-v", [])]
    for volume in volumes:
        check_volume(volume, image_tag, config, environment, options, lambda_rie=lambda_rie)
    if lambda_rie:
        assert any(d == "/aws-lambda" for _, d, *_ in volumes), "the emulator is not mounted"
    for port in options.get("-p", []):
        host, container = port.split(":")
        assert container == listens, f"{image_tag} listens on {listens}, not {container}"
        block.published[host] = container


def check_curl(args: list[str], block: Block) -> None:
    (url,) = [w for w in args if w.startswith("http")]
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/\S*)", url)
    assert match, url
    port, path = match.groups()
    assert port in block.published or port in compose_published(), f"nothing publishes {port}"
    if path == RIE_INVOKE:
        assert block.published.get(port) == RIE_PORT, f"{port} is not the emulator's"
    data = [args[i + 1] for i, w in enumerate(args) if w == "-d"]
    for body in data:
        if body.startswith("@"):
            event = json.loads((ROOT / body[1:]).read_text())
            assert event["version"] == "2.0" and event["requestContext"]["http"]["method"], body
        else:
            json.loads(body)


def check_compose(args: list[str]) -> None:
    assert args[:2] == ["-f", "docker/compose.yaml"], args
    subcommand, *rest = args[2:]
    assert subcommand in {"up", "down", "logs"}, subcommand
    services = [w for w in rest if not w.startswith("-")]
    assert set(services) <= set(COMPOSE["services"]), services


def check_pytest(env: dict[str, str], args: list[str]) -> None:
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    published = compose_published()
    for name, value in env.items():
        assert f'"{name}"' in conftest, f"tests/conftest.py does not read {name}"
        port = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", value)
        assert port and port[1] in published, value
    for path in args:
        assert (ROOT / path).is_file(), path


def check_make(args: list[str]) -> None:
    makefile = (ROOT / "Makefile").read_text()
    target, *variables = args
    assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), f"no make {target}"
    for variable in variables:
        name, _, value = variable.partition("=")
        assert f"$({name})" in makefile, name
        if name == "PYTEST_ARGS":
            assert all((ROOT / p).is_file() for p in value.split()), value


def check(line: str, block: Block) -> None:
    env, words = words_of(line)
    head, *args = words
    if head == "docker/build.sh":
        check_build_sh(env, args, block)
    elif head == "docker" and args[0] == "build":
        check_docker_build(args[1:], block)
    elif head == "docker" and args[0] == "run":
        check_docker_run(args[1:], block)
    elif head == "docker" and args[0] == "compose":
        check_compose(args[1:])
    elif head == "curl":
        check_curl(args, block)
    elif head.startswith("tools/") and head.endswith(".sh"):
        assert os.access(ROOT / head, os.X_OK), head
        if head == "tools/sbom.sh":
            values = {args[i + 1] for i, w in enumerate(args) if w.startswith("--")}
            images = [w for w in args if not w.startswith("-") and w not in values]
            assert set(images) <= set(all_images()), images
    elif head == "make":
        check_make(args)
    elif head == ".venv/bin/pytest":
        check_pytest(env, args)
    else:
        raise AssertionError(f"a documented command this test does not check: {line}")
    assert not env or head in {"docker/build.sh", ".venv/bin/pytest"}, line


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "commands"),
    documented(),
    ids=[f"{w}-{n}" for n, (w, _) in enumerate(documented())],
)
def test_each_documented_command_matches_the_files(where: str, commands: list[str]) -> None:
    """GIVEN a shell block of the docs WHEN each command is checked in order THEN it names
    images, stages, settings, handlers, ports and files that exist and fit together."""
    block = Block(built={f"concertbook-{i}:{TAG}" for i in all_images()})
    for line in commands:
        check(line, block)


def test_the_docs_show_every_run_the_brief_asks_for() -> None:
    """GIVEN docker/README.md WHEN its commands are read THEN it builds every image, runs the
    local image with its data volume, the API under the emulator and invoked with an API
    Gateway v2 event, and runs the integration tests against the images' services."""
    lines = [line for where, block in documented() if where == "docker/README.md" for line in block]
    joined = re.sub(r"[ \t]+", " ", "\n".join(lines))
    assert "TAG=dev docker/build.sh" in joined
    assert f"docker build -f docker/local.Dockerfile -t concertbook-local:{TAG} ." in joined
    assert (
        f"docker run --rm -p 8000:8000 -v concertbook-data:/data concertbook-local:{TAG}" in joined
    )
    rie = f'docker run --rm -p 9000:8080 -v "$PWD/.cache/bin:/aws-lambda:ro" concertbook-api:{TAG}'
    assert rie in joined
    assert f"{RIE_INVOKE} -d @tests/events/apigw_v2_get.json" in joined
    assert "CONCERTBOOK_TEST_DYNAMODB_ENDPOINT=" in joined and "make pytest" in joined


def test_the_checks_refuse_commands_that_do_not_fit() -> None:
    """GIVEN commands that are wrong in one thing each WHEN checked THEN each is refused: a
    port the command does not listen on, a setting that does not exist, an image nothing
    builds, a handler of another image, a volume the data folder does not point at, a curl
    to a port nothing publishes, an unknown build.sh mode."""
    wrong = {
        'docker run --rm -p 9000:9000 -v "$PWD/.cache/bin:/aws-lambda:ro" concertbook-api:dev': (
            "listens on 8080, not 9000"
        ),
        "docker run --rm -p 8000:8000 -e CONCERTBOOK_DATADIR=/data concertbook-api:dev "
        "concertbook serve --host 0.0.0.0 --port 8000": "CONCERTBOOK_DATADIR is no setting",
        "docker run --rm -p 8000:8000 concertbook-api:dev concertbook serve --port 8000": (
            "on every address"
        ),
        "docker run --rm -p 8000:8000 concertbook-web:dev": "concertbook-web:dev",
        'docker run --rm -p 9000:8080 -v "$PWD/.cache/bin:/aws-lambda:ro" concertbook-api:dev '
        "workers.expiry.handler": "no function of the api image",
        "docker run --rm -p 8000:8000 -v concertbook-data:/data concertbook-api:dev "
        "concertbook serve --host 0.0.0.0 --port 8000": "unless CONCERTBOOK_DATA_DIR=/data",
        "curl -s http://127.0.0.1:9999/healthz": "nothing publishes 9999",
        "docker/build.sh --publish": "--publish",
        "docker build -f docker/api.Dockerfile --target sbom -t concertbook-api:dev .": (
            "has no stage sbom"
        ),
    }
    for line, why in wrong.items():
        block = Block(built={f"concertbook-{i}:{TAG}" for i in all_images()})
        with pytest.raises(AssertionError, match=re.escape(why)):
            check(line, block)
