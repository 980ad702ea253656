"""The Debian packages of a file system: dpkg's database and each package's copyright file.

The images install no Debian package themselves; these are the base image's (the pinned
python:3.11 slim image, itself debian:bookworm-slim plus what CPython links against). Its
tag is rebuilt upstream whenever Debian publishes updates, so the versions are known only
in the build that pulled it: the Dockerfiles' `sbom` stage reads them there.

Licences are the `License:` short names of a machine-readable (DEP-5) copyright file, as
Debian writes them (`GPL-2+`, `BSD-3-clause`), not SPDX; a free-form copyright file gives
none, and the listing points at the file instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

STATUS = "var/lib/dpkg/status"
DOCS = "usr/share/doc"
DEP5 = re.compile(
    r"^Format:\s*https?://(www\.)?debian\.org/doc/packaging-manuals/copyright-format/"
)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    architecture: str
    source: str
    licences: tuple[str, ...]
    """DEP-5 short names; empty when the copyright file is not machine-readable or missing."""
    copyright: str
    """Where its copyright file is in the image (`/usr/share/doc/<name>/copyright`), or ''."""


def paragraphs(text: str) -> list[dict[str, str]]:
    """RFC 822-style paragraphs: field → value (continuation lines joined with newlines)."""
    found: list[dict[str, str]] = []
    current: dict[str, str] = {}
    field = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                found.append(current)
            current, field = {}, ""
        elif line[0] in " \t" and field:
            current[field] += "\n" + line.strip()
        elif ":" in line:
            field, _, value = line.partition(":")
            current[field] = value.strip()
    if current:
        found.append(current)
    return found


def copyright_licences(path: Path) -> tuple[str, ...]:
    """The distinct `License:` short names of a DEP-5 copyright file (nothing otherwise)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    if not DEP5.match(text):
        return ()
    names = {p["License"].split("\n", 1)[0].strip() for p in paragraphs(text) if "License" in p}
    return tuple(sorted(n for n in names if n))


def installed(root: Path) -> list[Package]:
    """Every package dpkg has installed under `root` (`/` inside an image build)."""
    status = root / STATUS
    packages = []
    for paragraph in paragraphs(status.read_text(encoding="utf-8", errors="replace")):
        if paragraph.get("Status", "").split()[-1:] != ["installed"]:
            continue
        name = paragraph["Package"]
        source = paragraph.get("Source", name).split(" ")[0]
        path = root / DOCS / name / "copyright"
        packages.append(
            Package(
                name=name,
                version=paragraph["Version"],
                architecture=paragraph.get("Architecture", ""),
                source=source,
                licences=copyright_licences(path),
                copyright=f"/{DOCS}/{name}/copyright" if path.exists() else "",
            )
        )
    return sorted(packages, key=lambda p: (p.name, p.architecture))


def os_release(root: Path) -> dict[str, str]:
    """/etc/os-release of `root` (`ID`, `VERSION_ID`, `VERSION_CODENAME`, ...)."""
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        path = root / candidate
        if path.exists():
            fields = {}
            for line in path.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    fields[key] = value.strip().strip('"')
            return fields
    return {}
