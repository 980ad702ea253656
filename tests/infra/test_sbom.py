"""What each image installs, as tools/sbom.sh lists it (CycloneDX SBOM + licence listing).

- every image's SBOM lists exactly the packages of uv.lock that its Dockerfile's `uv sync`
  installs (what `uv export` with the same flags names, markers evaluated for the image's
  linux/amd64 CPython), each at the locked version, and the project itself;
- no licence is unknown or on the deny list (tools/sbom/licences.py), and both checks fail
  when they should: a package missing or at another version, a denied or unknown licence in
  an environment, a reviewed licence whose package now declares something else;
- the Dockerfiles' `sbom` stage runs as written (its COPY and RUN lines repeated on the
  image's install reproduced here, with this machine's Debian as the stand-in for the base
  image's), and its Debian packages are the ones dpkg-query reports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, cast

import pytest
from packaging.markers import Marker, default_environment
from packaging.utils import canonicalize_name

from tools.sbom import licences
from tools.sbom.__main__ import PYTHON_IMAGE
from tools.sbom.images import (
    DOCKER,
    ROOT,
    all_images,
    base_of,
    copy_context,
    final_from,
    function_images,
    install_like,
    install_of,
    stage,
    stages,
    steps_of,
    sync_flags,
    uv,
)

SBOM = ROOT / "tools" / "sbom.sh"
EXPORT_FORMAT = ["--no-emit-project", "--no-hashes", "--no-annotate", "--no-header", "--quiet"]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


# -- what uv.lock says each image installs -----------------------------------------------------
def export_flags(dockerfile: Path) -> list[str]:
    """The image's `uv sync` flags that choose packages, as `uv export` takes them."""
    flags, words = [], iter(sync_flags(dockerfile))
    for word in words:
        name = word.split("=", 1)[0]
        if name in {"--frozen", "--no-dev", "--all-extras", "--no-default-groups"}:
            flags.append(word)
        elif name in {"--extra", "--group", "--only-group", "--no-group"}:
            flags += [word] if "=" in word else [word, next(words)]
    return flags


def image_environment(dockerfile: Path) -> dict[str, str]:
    """Marker variables of the image: linux/amd64 (docker/build.sh) and the CPython of its tag."""
    match = PYTHON_IMAGE.search(final_from(base_of(dockerfile)))
    assert match, dockerfile.name
    # packaging types this as a TypedDict whose fields are all str; mypy does not take a
    # TypedDict for the Mapping[str, str] that Marker.evaluate expects.
    return cast(dict[str, str], default_environment()) | {
        "python_full_version": match["python"],
        "python_version": ".".join(match["python"].split(".")[:2]),
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
    }


def locked(dockerfile: Path) -> dict[str, str]:
    """Normalised name → version of every package of uv.lock the image installs."""
    exported = subprocess.run(
        [uv(), "export", *export_flags(dockerfile), *EXPORT_FORMAT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    environment = image_environment(dockerfile)
    packages: dict[str, str] = {}
    for line in exported.splitlines():
        requirement, _, marker = line.partition(";")
        if not requirement.strip() or requirement.startswith(("#", " ")):
            continue
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        name, _, version = requirement.strip().partition("==")
        packages[canonicalize_name(name)] = version
    return packages


def python_packages(bom: dict[str, Any]) -> dict[str, str]:
    """Normalised name → version of the SBOM's Python packages, the project left out."""
    listed: dict[str, str] = {}
    for component in bom["components"]:
        purl = str(component.get("purl", ""))
        if purl.startswith("pkg:pypi/"):
            listed[canonicalize_name(component["name"])] = component["version"]
    listed.pop(canonicalize_name(PROJECT["name"]), None)
    return listed


def differences(expected: dict[str, str], listed: dict[str, str]) -> list[str]:
    """What an SBOM gets wrong against the lock: missing, extra, at another version."""
    found = [f"missing {n}=={v}" for n, v in sorted(expected.items()) if n not in listed]
    found += [f"not in the lock: {n}=={v}" for n, v in sorted(listed.items()) if n not in expected]
    found += [
        f"{n}: listed {listed[n]}, locked {v}"
        for n, v in sorted(expected.items())
        if n in listed and listed[n] != v
    ]
    return found


def run_sbom(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        ["bash", str(cwd / "tools" / "sbom.sh"), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tools/sbom.sh's output for every image (one reproduced install per distinct install)."""
    out = tmp_path_factory.mktemp("sbom")
    done = run_sbom("--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def load(out: Path, image: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / f"{image}.cdx.json").read_text())
    return loaded


# -- the SBOMs against the lock ----------------------------------------------------------------
@pytest.mark.parametrize("image", sorted(all_images()))
def test_each_image_lists_exactly_the_locked_packages_it_installs(
    generated: Path, image: str
) -> None:
    """GIVEN tools/sbom.sh's SBOM of an image WHEN compared with `uv export` of the same flags
    as the Dockerfile's `uv sync` THEN every locked package the image installs is listed at
    its locked version, nothing else is, and the project is there at its own version."""
    dockerfile = all_images()[image]
    bom = load(generated, image)
    expected = locked(dockerfile)
    assert len(expected) > 30
    assert differences(expected, python_packages(bom)) == []
    assert bom["metadata"]["component"]["name"] == f"concertbook-{image}"
    assert bom["metadata"]["component"]["type"] == "container"
    project = [c for c in bom["components"] if c["name"] == PROJECT["name"]]
    assert [p["version"] for p in project] == [PROJECT["version"]]
    listing = (generated / f"{image}-licences.md").read_text()
    for name, version in expected.items():
        assert any(
            canonicalize_name(row.split("|")[1].strip()) == name and f"| {version} |" in row
            for row in listing.splitlines()
            if row.startswith("| ")
        ), name


def test_the_images_differ_as_their_installs_do(generated: Path) -> None:
    """GIVEN the SBOMs WHEN compared THEN the function images list what the base lists (they add
    only a CMD), and the embedded runtime's has none of the `aws` extra."""
    base = python_packages(load(generated, "base"))
    for image in function_images():
        assert python_packages(load(generated, image)) == base, image
    local = python_packages(load(generated, "local"))
    assert {"awslambdaric", "aiobotocore", "mangum"} <= set(base) - set(local)
    assert set(local) < set(base)


def test_a_package_missing_or_at_another_version_is_caught(generated: Path) -> None:
    """GIVEN the base's SBOM with one package dropped, one at another version and one added
    WHEN compared with the lock THEN each is named."""
    listed = python_packages(load(generated, "base"))
    listed.pop("litestar")
    listed["msgspec"] = "0.0.1"
    listed["left-pad"] = "1.0"
    assert differences(locked(DOCKER / "base.Dockerfile"), listed) == [
        f"missing litestar=={locked(DOCKER / 'base.Dockerfile')['litestar']}",
        "not in the lock: left-pad==1.0",
        f"msgspec: listed 0.0.1, locked {locked(DOCKER / 'base.Dockerfile')['msgspec']}",
    ]


# -- licences ---------------------------------------------------------------------------------
def properties(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


@pytest.mark.parametrize("image", sorted(all_images()))
def test_no_licence_is_unknown_or_denied(generated: Path, image: str) -> None:
    """GIVEN an image's SBOM WHEN each Python package's recorded licence is read THEN it is a
    valid SPDX expression that passes the deny list, it is the one the package declares
    (or a reviewed one where it declares none), and the listing says so."""
    bom = load(generated, image)
    packages = [c for c in bom["components"] if str(c.get("purl")).startswith("pkg:pypi/")]
    assert len(packages) == len(python_packages(bom)) + 1
    for component in packages:
        recorded = properties(component)
        licence = recorded["concertbook:licence"]
        assert licences.spdx_problem(licence) is None, component["name"]
        assert licences.passes(licence, licences.DENIED_PYTHON), component["name"]
        declared, _ = licences.declared(component)
        if recorded["concertbook:licence-source"] == "declared":
            assert licences.symbols(licence) == sorted(
                {s for expression in declared for s in licences.symbols(expression)}
            ), component["name"]
        else:
            assert recorded["concertbook:licence-source"] == "reviewed", component["name"]
            assert not declared, component["name"]
    listing = (generated / f"{image}-licences.md").read_text()
    assert "UNKNOWN" not in listing and "## Problems" not in listing


def test_every_reviewed_licence_is_still_needed(generated: Path) -> None:
    """GIVEN tools/sbom/reviewed.toml WHEN compared with the SBOMs THEN each entry is the
    licence of some installed package that declares none itself (no stale entries)."""
    used = {
        canonicalize_name(c["name"])
        for image in all_images()
        for c in load(generated, image)["components"]
        if properties(c).get("concertbook:licence-source") == "reviewed"
    }
    assert used == set(licences.reviewed())


@pytest.mark.parametrize(
    ("expression", "allowed"),
    [
        ("MIT", True),
        ("MIT OR AGPL-3.0-only", True),
        ("MIT AND AGPL-3.0-only", False),
        ("Apache-2.0 AND (MIT OR GPL-2.0-only)", True),
        ("GPL-3.0-or-later", False),
        ("GPL-2.0-or-later WITH Classpath-exception-2.0", True),
        ("LGPL-3.0-or-later", True),
        ("SSPL-1.0", False),
        ("BUSL-1.1 OR Elastic-2.0", False),
        ("CC-BY-NC-4.0", False),
    ],
)
def test_the_deny_list_reads_licence_expressions(expression: str, allowed: bool) -> None:
    """GIVEN an SPDX expression WHEN judged THEN it passes when some choice of its
    alternatives avoids every denied licence, and only then."""
    assert licences.spdx_problem(expression) is None
    assert licences.passes(expression, licences.DENIED_PYTHON) is allowed


def test_a_reviewed_licence_applies_only_to_what_was_reviewed() -> None:
    """GIVEN a package that declares no SPDX licence WHEN its declaration is the one reviewed
    THEN the reviewed licence is its licence; WHEN it declares something else, or nothing is
    reviewed, or the declaration is no SPDX licence THEN it is unknown."""
    classifier = {"license": {"name": "License :: OSI Approved :: BSD License"}}
    component = {"name": "Segno", "version": "9", "licenses": [classifier]}
    table = {"segno": {"licence": "BSD-3-Clause", "declared": [classifier["license"]["name"]]}}
    assert licences.conclude(component, table) == licences.Verdict(
        "BSD-3-Clause", "reviewed", (classifier["license"]["name"],)
    )
    changed = {**component, "licenses": [{"license": {"name": "License :: Other/Proprietary"}}]}
    assert licences.conclude(changed, table).problem
    assert licences.conclude(component, {}).problem
    assert licences.conclude({"name": "x", "version": "1", "licenses": []}, {}).problem
    bogus = {"name": "x", "version": "1", "licenses": [{"expression": "LicenseRef-Mine"}]}
    assert licences.conclude(bogus, {}).licence is None


def fake_distribution(site: Path, name: str, **metadata: str) -> None:
    """An installed distribution as importlib.metadata finds one: a .dist-info folder."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    fields = {"Metadata-Version": "2.4", "Name": name, "Version": "1.0", **metadata}
    text = "".join(f"{key.replace('_', '-')}: {value}\n" for key, value in fields.items())
    (info / "METADATA").write_text(text)
    (info / "RECORD").write_text("")
    (info / "INSTALLER").write_text("test\n")


def test_a_denied_or_unknown_licence_fails_the_generation(tmp_path: Path) -> None:
    """GIVEN an environment holding packages under AGPL, GPL (a classifier only) and no licence
    at all, beside MIT-or-AGPL and LGPL ones WHEN tools/sbom.sh lists it THEN it exits 1,
    naming the first three in its output and in the listing's problems, and still writes
    the SBOM and the listing."""
    subprocess.run(
        [uv(), "venv", "--quiet", str(tmp_path / ".venv")],
        env={k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))},
        check=True,
        timeout=60,
    )
    (site,) = (tmp_path / ".venv" / "lib").glob("python3.*/site-packages")
    fake_distribution(site, "agpl-thing", License_Expression="AGPL-3.0-only")
    fake_distribution(
        site,
        "gpl-thing",
        Classifier="License :: OSI Approved :: GNU General Public License v3 (GPLv3)",
    )
    fake_distribution(site, "mystery-thing")
    fake_distribution(site, "choice-thing", License_Expression="MIT OR AGPL-3.0-or-later")
    fake_distribution(site, "lgpl-thing", License_Expression="LGPL-3.0-or-later")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "fixture-app"\nversion = "1.0"\nlicense = "Apache-2.0"\n'
    )
    done = run_sbom("--venv", tmp_path / ".venv", "--out", tmp_path / "out", "fixture")
    assert done.returncode == 1, done.stdout + done.stderr
    named = {line.split(":")[1].split()[0] for line in done.stderr.splitlines() if ":" in line}
    assert named == {"agpl-thing", "gpl-thing", "mystery-thing"}
    listing = (tmp_path / "out" / "fixture-licences.md").read_text()
    problems = listing.split("## Problems", 1)[1].split("##", 1)[0]
    assert {"agpl-thing", "gpl-thing", "mystery-thing"} <= set(problems.split())
    assert "choice-thing" not in problems and "lgpl-thing" not in problems
    assert json.loads((tmp_path / "out" / "fixture.cdx.json").read_text())["components"]


# -- the sbom stage of the Dockerfiles ----------------------------------------------------------
def sbom_run(dockerfile: Path) -> list[str]:
    (run,) = [s.command for s in steps_of(stage(dockerfile, "sbom-scan")) if s.command]
    return list(run)


@pytest.mark.parametrize("image", ["base", "local"])
def test_the_sbom_stage_covers_every_image_and_ships_in_it(image: str) -> None:
    """GIVEN a Dockerfile that installs the project WHEN read THEN its sbom stage lists it and
    every image built on it, the image copies its own SBOM and listing from that stage to
    the folder its label names, and the build context lets the tool in."""
    dockerfile = DOCKER / f"{image}.Dockerfile"
    built_on = {name for name, path in all_images().items() if base_of(path) == dockerfile}
    run = sbom_run(dockerfile)
    assert run[:7] == ["tools/sbom.sh", "--venv", ".venv", "--os", "/", "--out", "sbom"]
    assert set(run[7:]) == built_on
    _, final = stages(dockerfile)[-1]
    copies = [i.arguments.split() for i in final if i.keyword == "COPY" and "sbom" in i.arguments]
    assert copies == [
        [
            "--from=sbom",
            f"/{image}.cdx.json",
            f"/{image}-licences.md",
            "/usr/share/doc/concertbook/",
        ]
    ]
    labels = " ".join(i.arguments for i in final if i.keyword == "LABEL")
    assert f'example.concertbook.sbom="/usr/share/doc/concertbook/{image}.cdx.json"' in labels
    ignore = (DOCKER / f"{image}.Dockerfile.dockerignore").read_text().splitlines()
    assert {"!tools/sbom.sh", "!tools/sbom/"} <= set(ignore)


def test_the_sbom_stage_runs_as_written(tmp_path: Path) -> None:
    """GIVEN the base image's install reproduced here WHEN its sbom stage's COPY and RUN lines
    run on it, with uv on the PATH as in the image and no dev tools (so cyclonedx-bom is
    installed from the lock, as in a build) THEN every image's SBOM and listing are written,
    without problems, listing the locked packages and, from this machine's dpkg database
    (the stand-in for the base image's), exactly what dpkg-query says is installed."""
    dpkg_query = shutil.which("dpkg-query")
    if dpkg_query is None or not Path("/var/lib/dpkg/status").exists():
        pytest.skip("needs a Debian file system (dpkg) as the stand-in for the base image's")
    dockerfile = DOCKER / "base.Dockerfile"
    app = tmp_path / "app"
    install_like(install_of(dockerfile), app)
    for step in steps_of(stage(dockerfile, "sbom-scan")):
        if not step.command:
            copy_context(step, app)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{Path(uv()).parent}:/usr/bin:/bin"
    run = sbom_run(dockerfile)
    done = subprocess.run(
        ["bash", *run], cwd=app, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    installed = subprocess.run(
        [dpkg_query, "-W", "-f", "${db:Status-Abbrev}\\t${Package}\\t${Version}\\n"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    dpkg = {
        (name, version)
        for status, name, version in (line.split("\t") for line in installed.splitlines())
        if status.strip() in {"ii", "hi"}
    }
    for image in run[7:]:
        bom = load(app / "sbom", image)
        assert differences(locked(dockerfile), python_packages(bom)) == [], image
        debs = {
            (c["name"], c["version"])
            for c in bom["components"]
            if str(c.get("purl")).startswith("pkg:deb/debian/")
        }
        assert debs == dpkg, image
        listing = (app / "sbom" / f"{image}-licences.md").read_text()
        assert "## Debian packages" in listing and "## Problems" not in listing
