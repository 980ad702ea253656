"""tools/sbom.sh: a CycloneDX SBOM and a licence listing of what each image installs.

    tools/sbom.sh [--out DIR] [IMAGE ...]
        Here, without Docker: each image's install is reproduced from its Dockerfile (its
        build stage's COPY and `uv sync` lines, as tests/infra/test_images_build.py does) and the
        resulting environment is listed. IMAGE defaults to every docker/*.Dockerfile.
    tools/sbom.sh --venv VENV [--os ROOT] [--out DIR] IMAGE ...
        An installed environment: the image build's `sbom` stage lists /app/.venv, and with
        `--os /` the Debian packages and the CPython of the image's file system.

Writes DIR/<image>.cdx.json (CycloneDX 1.6 JSON, validated against its schema) and
DIR/<image>-licences.md (DIR defaults to reports/sbom). Exits 1 after writing them when a
licence is unknown or denied (tools/sbom/licences.py), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from license_expression import (  # type: ignore[import-untyped]
    LicenseSymbol,
    get_spdx_licensing,
)

from tools.sbom import debian, images, licences

DEFAULT_OUT = images.ROOT / "reports" / "sbom"
PYTHON_IMAGE = re.compile(r"(?:^|/)python:(?P<python>\d+\.\d+\.\d+)-slim-(?P<codename>\w+)$")
DEBIAN_RELEASES = {"bookworm": "12", "trixie": "13"}


@dataclass
class Listing:
    """One image's SBOM, its licence listing and what the policy found wrong."""

    image: str
    bom: dict[str, Any]
    markdown: str
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class System:
    """The interpreter and the operating system under the Python packages."""

    python_version: str
    os_id: str
    os_version: str
    os_codename: str
    packages: list[debian.Package] | None
    """None when the image's file system is not at hand (listing without Docker)."""


# -- the environment, through cyclonedx-py ----------------------------------------------------
def cyclonedx_environment(python: Path, pyproject: Path, work: Path) -> dict[str, Any]:
    """cyclonedx-py's SBOM of the environment of `python`, licence texts gathered (they are
    the evidence for packages whose metadata names no SPDX licence)."""
    out = work / f"environment-{len(list(work.glob('environment-*')))}.cdx.json"
    # Not validated here: the SBOM made from it is (validate), once per environment.
    command = [sys.executable, "-m", "cyclonedx_py", "environment", "--gather-license-texts"]
    command += ["--pyproject", str(pyproject), "--output-reproducible", "--sv", "1.6"]
    command += ["--no-validate"]
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments, no shell
        [*command, "-o", str(out), str(python)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cyclonedx-py failed:\n{done.stderr}")
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def python_version_of(python: Path) -> str:
    done = subprocess.run(  # noqa: S603 - the listed environment's interpreter
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


# -- one image's SBOM -------------------------------------------------------------------------
def _purl_name(component: dict[str, Any]) -> str:
    return str(component.get("purl", "")).split("@")[0]


def _properties(**values: str) -> list[dict[str, str]]:
    return [{"name": f"concertbook:{k.replace('_', '-')}", "value": v} for k, v in values.items()]


def _concluded(licence: str) -> list[dict[str, Any]]:
    """A reviewed licence as CycloneDX `concluded` licence objects when it is one licence or
    several that all apply; nothing for a choice (the property carries it)."""
    parsed = get_spdx_licensing().parse(licence)
    parts = [parsed] if isinstance(parsed, LicenseSymbol) else list(parsed.args)
    if not isinstance(parsed, LicenseSymbol) and " OR " in licence:
        return []
    if not all(isinstance(p, LicenseSymbol) for p in parts):
        return []
    return [{"license": {"id": p.key, "acknowledgement": "concluded"}} for p in parts]


def _judge_python(
    components: list[dict[str, Any]], table: dict[str, dict[str, Any]]
) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """Each Python package's licence verdict, recorded on it as properties (and a reviewed
    licence as `concluded`); the listing's rows and the problems."""
    rows: list[tuple[str, str, str, str]] = []
    problems: list[str] = []
    for component in components:
        verdict = licences.conclude(component, table)
        how = {"declared": "metadata", "reviewed": "reviewed.toml"}.get(verdict.source, "-")
        component.setdefault("properties", []).extend(
            _properties(licence=verdict.licence or "unknown", licence_source=verdict.source)
        )
        if verdict.source == "reviewed" and verdict.licence:
            component["licenses"] = component.get("licenses", []) + _concluded(verdict.licence)
        if verdict.problem:
            problems.append(f"{component['name']} {component['version']}: {verdict.problem}")
        rows.append((component["name"], component["version"], verdict.licence or "UNKNOWN", how))
    return rows, problems


def _debian_component(package: debian.Package, distro: str) -> dict[str, Any]:
    ref = f"pkg:deb/{distro.split('-', maxsplit=1)[0]}/{package.name}@{package.version}"
    ref += f"?arch={package.architecture}&distro={distro}"
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": ref,
        "name": package.name,
        "version": package.version,
        "purl": ref,
        "properties": _properties(
            source_package=package.source, copyright=package.copyright or "none"
        ),
    }
    if package.licences:
        component["licenses"] = [
            {"license": {"name": n, "acknowledgement": "declared"}} for n in package.licences
        ]
    return component


def _debian_problems(package: debian.Package) -> list[str]:
    """A denied licence named anywhere in a DEP-5 short name (`GPL-2+ or AGPL-3+` too)."""
    return [
        f"{package.name} {package.version} (Debian): {name} is on the deny list"
        for name in package.licences
        if any(
            licences.is_denied(word, licences.DENIED_ANYWHERE)
            for word in re.split(r"[\s(),]+", name)
            if word
        )
    ]


def _system_components(system: System) -> tuple[list[dict[str, Any]], list[str]]:
    """CPython, the operating system and its Debian packages; with the dependency entries."""
    python_ref = f"pkg:generic/cpython@{system.python_version}"
    os_ref = f"os:{system.os_id}@{system.os_version}"
    cpython = {
        "type": "application",
        "bom-ref": python_ref,
        "name": "cpython",
        "version": system.python_version,
        "purl": python_ref,
        "licenses": [{"license": {"id": "Python-2.0", "acknowledgement": "declared"}}],
        "description": "the interpreter of the image (built into /usr/local by its base image)",
    }
    os_component: dict[str, Any] = {
        "type": "operating-system",
        "bom-ref": os_ref,
        "name": system.os_id,
        "version": system.os_version,
        "description": f"{system.os_id} {system.os_codename}, the base image's",
    }
    if system.packages is None:
        os_component["properties"] = _properties(
            packages="not recorded: the base image's Debian packages are read only where it is "
            "pulled (the Dockerfile's sbom stage); its tag is rebuilt upstream"
        )
    distro = f"{system.os_id}-{system.os_version.split('.')[0]}"
    debs = [_debian_component(p, distro) for p in system.packages or []]
    return [cpython, os_component, *debs], [python_ref, os_ref]


def describe(
    image: str,
    environment: dict[str, Any],
    system: System,
    installed_by: str,
    table: dict[str, dict[str, Any]],
    *,
    validate: bool,
) -> Listing:
    """The image's SBOM: the container at the top, the project, its Python packages (each with
    its licence verdict), CPython and the operating system with its Debian packages."""
    bom = json.loads(json.dumps(environment))
    project = bom["metadata"]["component"]
    project_ref = f"pkg:pypi/{licences.normalise(project['name'])}@{project['version']}"
    project |= {"bom-ref": project_ref, "purl": project_ref}
    for dependency in bom["dependencies"]:
        if dependency["ref"] == "root-component":
            dependency["ref"] = project_ref
    python_packages = [c for c in bom["components"] if _purl_name(c).startswith("pkg:pypi/")]
    rows, problems = _judge_python([project, *python_packages], table)

    system_components, (python_ref, os_ref) = _system_components(system)
    deb_refs = [c["bom-ref"] for c in system_components[2:]]
    deb_rows = []
    for package in system.packages or []:
        problems += _debian_problems(package)
        shown = ", ".join(package.licences) or f"see {package.copyright or 'no copyright file'}"
        deb_rows.append((package.name, package.version, shown))

    bom["components"] = [project, *system_components[:2], *bom["components"]]
    bom["components"] += system_components[2:]
    container_ref = f"concertbook-{image}"
    bom["metadata"]["component"] = {
        "type": "container",
        "bom-ref": container_ref,
        "name": container_ref,
        "description": f"the concertbook-{image} image: what its build installs",
        "properties": _properties(installed_by=installed_by),
    }
    bom["dependencies"] += [
        {"ref": container_ref, "dependsOn": [project_ref, python_ref, os_ref]},
        {"ref": python_ref, "dependsOn": []},
        {"ref": os_ref, "dependsOn": deb_refs},
        *({"ref": ref, "dependsOn": []} for ref in deb_refs),
    ]
    if validate:
        # Strict schema validation takes seconds (format checks of every URL); the images
        # of one environment differ only in the container's name, so one is validated.
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom))
        if error is not None:
            raise RuntimeError(f"{image}: the SBOM is not valid CycloneDX 1.6: {error}")
    markdown = render(image, installed_by, system, rows, deb_rows, problems)
    return Listing(image, bom, markdown, problems)


def render(
    image: str,
    installed_by: str,
    system: System,
    rows: list[tuple[str, str, str, str]],
    deb_rows: list[tuple[str, str, str]],
    problems: list[str],
) -> str:
    counts = Counter(symbol for _, _, licence, _ in rows for symbol in _symbols(licence))
    lines = [
        f"# concertbook-{image}: licences of what the image installs",
        "",
        f"Python environment: {installed_by}. Listed by tools/sbom.sh (cyclonedx-py); the SBOM "
        f"is `{image}.cdx.json` beside this file.",
        "",
        f"- Python packages: {len(rows)} (the project and {len(rows) - 1} from uv.lock)",
        f"- CPython {system.python_version} (Python-2.0)",
        f"- {system.os_id} {system.os_version} ({system.os_codename}): "
        + (
            f"{len(deb_rows)} Debian packages"
            if system.packages is not None
            else "Debian packages of the base image not recorded here (only in the image "
            "build: `docker build --target sbom`, docker/README.md)"
        ),
        "- Policy (tools/sbom/licences.py): no unknown licence and none of "
        + ", ".join(f"`{p}`" for p in licences.DENIED_PYTHON)
        + " among the Python packages; none of "
        + ", ".join(f"`{p}`" for p in licences.DENIED_ANYWHERE if not p.startswith("LicenseRef"))
        + " among the Debian packages",
        "",
    ]
    if problems:
        lines += ["## Problems", "", *(f"- {p}" for p in problems), ""]
    lines += ["## Licences of the Python packages", "", "| licence | packages |", "|---|---|"]
    lines += [f"| {symbol} | {n} |" for symbol, n in sorted(counts.items(), key=_by_count)]
    lines += ["", "## Python packages", "", "| package | version | licence | from |"]
    lines += ["|---|---|---|---|"]
    lines += [f"| {n} | {v} | {lic} | {how} |" for n, v, lic, how in sorted(rows, key=_by_name)]
    if deb_rows:
        lines += ["", "## Debian packages", "", "| package | version | licences (DEP-5) |"]
        lines += ["|---|---|---|"]
        lines += [f"| {n} | {v} | {lic} |" for n, v, lic in deb_rows]
    return "\n".join(lines) + "\n"


def _symbols(licence: str) -> list[str]:
    return ["UNKNOWN"] if licence == "UNKNOWN" else licences.symbols(licence)


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _by_name(row: tuple[str, str, str, str]) -> str:
    return row[0].lower()


def write(listing: Listing, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{listing.image}.cdx.json").write_text(json.dumps(listing.bom, indent=2) + "\n")
    (out / f"{listing.image}-licences.md").write_text(listing.markdown)


# -- the two ways in --------------------------------------------------------------------------
def system_of_dockerfile(dockerfile: Path) -> System:
    """CPython and Debian as the image's base image tag names them (no packages)."""
    base = images.final_from(images.base_of(dockerfile))
    match = PYTHON_IMAGE.search(base)
    if not match:
        raise ValueError(
            f"{dockerfile.name}: the image starts from {base}, not python:X.Y.Z-slim-*"
        )
    codename = match["codename"]
    release = DEBIAN_RELEASES.get(codename, codename)
    return System(match["python"], "debian", release, codename, None)


def system_of_root(root: Path, python: Path) -> System:
    release = debian.os_release(root)
    os_id = release.get("ID", "linux")
    version_file = root / "etc" / "debian_version"
    version = version_file.read_text().strip() if version_file.exists() else ""
    return System(
        python_version_of(python),
        os_id,
        version or release.get("VERSION_ID", "unknown"),
        release.get("VERSION_CODENAME", ""),
        debian.installed(root) if (root / debian.STATUS).exists() else [],
    )


def reproduce(names: list[str], work: Path) -> list[Listing]:
    """Each image's install reproduced from its Dockerfile (one per distinct install)."""
    known = images.all_images()
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"unknown image(s) {unknown}; docker/ builds {sorted(known)}")
    table = licences.reviewed()
    environments: dict[Path, dict[str, Any]] = {}
    listings = []
    for name in names:
        install = images.base_of(known[name])
        first = install not in environments
        if first:
            app = work / images.image_name(install) / "app"
            python = images.install_like(images.install_of(install), app)
            environments[install] = cyclonedx_environment(python, app / "pyproject.toml", work)
        flags = " ".join(images.sync_flags(known[name]))
        how = f"docker/{install.name}'s build stage (`uv sync {flags}`), reproduced here"
        system = system_of_dockerfile(known[name])
        listings.append(describe(name, environments[install], system, how, table, validate=first))
    return listings


def installed(names: list[str], venv: Path, os_root: Path | None, work: Path) -> list[Listing]:
    """An installed environment (an image build's /app/.venv)."""
    python = venv / "bin" / "python"
    pyproject = venv.resolve().parent / "pyproject.toml"
    environment = cyclonedx_environment(python, pyproject, work)
    if os_root is not None:
        system = system_of_root(os_root, python)
    else:
        system = System(python_version_of(python), "unknown", "unknown", "", None)
    how = f"{venv} as installed by the image build"
    table = licences.reviewed()
    return [
        describe(name, environment, system, how, table, validate=number == 0)
        for number, name in enumerate(names)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/sbom.sh", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: reports/sbom")
    parser.add_argument("--venv", type=Path, help="list this installed environment")
    parser.add_argument("--os", type=Path, dest="os_root", help="with --venv: the file system")
    args = parser.parse_args(argv)
    if args.venv is None and args.os_root is not None:
        parser.error("--os goes with --venv")
    if args.venv is not None and not args.images:
        parser.error("--venv needs the names of the images it is the environment of")
    with tempfile.TemporaryDirectory(prefix="concertbook-sbom-") as temporary:
        work = Path(temporary)
        if args.venv is None:
            listings = reproduce(args.images or list(images.all_images()), work)
        else:
            listings = installed(args.images, args.venv, args.os_root, work)
    for listing in listings:
        write(listing, args.out)
        python = sum(1 for c in listing.bom["components"] if _purl_name(c).startswith("pkg:pypi/"))
        debs = sum(1 for c in listing.bom["components"] if _purl_name(c).startswith("pkg:deb/"))
        print(
            f"{listing.image}: {python} Python packages, {debs} Debian packages, "
            f"{len(listing.problems)} problems -> {args.out / listing.image}.cdx.json"
        )
    problems = [f"{listing.image}: {p}" for listing in listings for p in listing.problems]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
