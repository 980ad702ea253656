"""Each package's licence, and the policy every image must meet.

A Python package's licence is the SPDX identifier or expression its metadata declares
(PEP 639 `License-Expression`, or what cyclonedx-py recognises in `License`). A package that
declares none (only a trove classifier such as "BSD License", which does not say which BSD,
or free text) is looked up in `reviewed.toml`: a licence someone read from the licence file
in the wheel, bound to what the metadata declared when it was read. If the declaration has
changed since, the entry no longer applies and the package is unknown again.

Policy: no package of unknown licence, and none whose licence is on the deny list. An
expression passes when some choice of its OR-alternatives avoids every denied licence.
"""

from __future__ import annotations

import base64
import fnmatch
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from license_expression import (  # type: ignore[import-untyped]
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    get_spdx_licensing,
)

REVIEWED = Path(__file__).with_name("reviewed.toml")

DENIED_ANYWHERE = (
    "AGPL-*",  # network copyleft: serving the API would oblige us to publish the whole stack
    "SSPL-*",
    "BUSL-*",  # source-available, not open source: use in production is restricted
    "Elastic-*",
    "Commons-Clause",
    "CC-BY-NC*",  # no commercial use
    "LicenseRef-*",  # not an SPDX licence: nobody has read it
)
"""Licences no image may contain, Python or Debian package."""
DENIED_PYTHON = (
    *DENIED_ANYWHERE,
    # Strong copyleft would extend to the Apache-2.0 application that imports the package and
    # ships with it in one image. LGPL is allowed: a Python import is dynamic linking, and
    # the library can be replaced in the image.
    "GPL-*",
)
"""Licences no Python package of an image may have."""
PERMITTING_EXCEPTIONS = {"Classpath-exception-2.0", "GCC-exception-3.1", "LLVM-exception"}
"""`X WITH exception` passes when the exception permits linking without X's obligations."""

_licensing = get_spdx_licensing()


@dataclass(frozen=True)
class Verdict:
    """A package's licence, how it is known, and what is wrong with it (if anything)."""

    licence: str | None
    """SPDX expression; None when unknown."""
    source: str
    """`declared` (SPDX in its metadata), `reviewed` (reviewed.toml) or `unknown`."""
    evidence: tuple[str, ...] = ()
    """What its metadata declared when that was no SPDX licence."""
    problem: str | None = None


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _text(text: dict[str, Any]) -> str:
    content = str(text.get("content", ""))
    if text.get("encoding") == "base64":
        return base64.b64decode(content).decode("utf-8", "replace")
    return content


def declared(component: dict[str, Any]) -> tuple[list[str], tuple[str, ...]]:
    """The SPDX expressions a CycloneDX component declares, and the rest of what it declares
    (classifiers, the first line of a free-text `License`), for the review table. Licence
    files gathered with their texts are neither, and nor are concluded licences."""
    spdx: list[str] = []
    evidence: set[str] = set()
    for entry in component.get("licenses", []):
        if entry.get("license", entry).get("acknowledgement") == "concluded":
            continue  # a conclusion (a reviewed licence), not what the package declares
        if "expression" in entry:
            spdx.append(str(entry["expression"]))
            continue
        licence = entry.get("license", {})
        if "id" in licence:
            spdx.append(str(licence["id"]))
        elif str(licence.get("name", "")).startswith("declared license file:"):
            continue
        elif str(licence.get("name", "")).startswith("declared license of"):
            first_line = _text(licence.get("text", {})).strip().splitlines()[:1]
            evidence.update(first_line)
        elif "name" in licence:
            evidence.add(str(licence["name"]))
    return spdx, tuple(sorted(evidence))


def reviewed(path: Path = REVIEWED) -> dict[str, dict[str, Any]]:
    """Normalised package name → its reviewed entry (`licence`, `declared`, `read`)."""
    with path.open("rb") as file:
        table = tomllib.load(file)
    return {normalise(name): entry for name, entry in table.items()}


def spdx_problem(expression: str) -> str | None:
    """Why `expression` is no valid SPDX expression, or None."""
    try:
        validated = _licensing.validate(expression)
    except ExpressionError as exc:
        return str(exc)
    return "; ".join(validated.errors) or None


def is_denied(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key.lower(), p.lower()) for p in patterns)


def passes(expression: str, patterns: Iterable[str]) -> bool:
    """Whether some choice of `expression`'s alternatives avoids every denied licence."""
    deny = tuple(patterns)

    def ok(node: Any) -> bool:
        if isinstance(node, LicenseWithExceptionSymbol):
            licence, exception = node.license_symbol.key, node.exception_symbol.key
            return not is_denied(licence, deny) or exception in PERMITTING_EXCEPTIONS
        if isinstance(node, LicenseSymbol):
            return not is_denied(node.key, deny)
        if isinstance(node, _licensing.AND):
            return all(ok(arg) for arg in node.args)
        if isinstance(node, _licensing.OR):
            return any(ok(arg) for arg in node.args)
        raise TypeError(f"unexpected part of a licence expression: {node!r}")

    return ok(_licensing.parse(expression))


def conclude(
    component: dict[str, Any],
    table: dict[str, dict[str, Any]],
    deny: Iterable[str] = DENIED_PYTHON,
) -> Verdict:
    """A Python package's licence (declared, else reviewed) and the policy's verdict on it."""
    spdx, evidence = declared(component)
    if spdx:
        licence = spdx[0] if len(spdx) == 1 else " AND ".join(f"({e})" for e in spdx)
        source = "declared"
    else:
        entry = table.get(normalise(component["name"]))
        if entry is None:
            return Verdict(None, "unknown", evidence, f"unknown licence, declared {evidence}")
        if tuple(sorted(entry["declared"])) != evidence:
            return Verdict(
                None,
                "unknown",
                evidence,
                f"declares {evidence} now; reviewed.toml read it when it declared "
                f"{tuple(sorted(entry['declared']))}",
            )
        licence, source = str(entry["licence"]), "reviewed"
    invalid = spdx_problem(licence)
    if invalid:
        return Verdict(None, "unknown", evidence, f"{licence!r} is no SPDX licence: {invalid}")
    licence = str(_licensing.parse(licence).render())
    if not passes(licence, deny):
        return Verdict(licence, source, evidence, f"{licence} is on the deny list")
    return Verdict(licence, source, evidence)


def symbols(expression: str) -> list[str]:
    """The licences an expression names, for counting (`MIT OR Apache-2.0` names both)."""
    return sorted({str(key) for key in _licensing.license_keys(_licensing.parse(expression))})
