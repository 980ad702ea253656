"""What a new password must not be, after NIST SP 800-63B (5.1.1.2, memorized secrets).

No composition rules (no "one digit, one symbol"): length, and a refusal of what guessers
try first — a commonly used password, the account's own e-mail address or name, and
repetitive or sequential characters. The list of common passwords is given by an adapter
(booking/adapters/security/common_passwords.py); the rest is here.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass

from booking.domain.errors import WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_CONTEXT_WORD = 3
"""Context words shorter than this (an e-mail's `ab@…`) are not looked for."""
SERVICE_WORDS = ("concertbook",)
"""The service's own name: NIST's example of a context-specific word."""
MIN_DISTINCT = 4
"""Fewer different characters than this is a repetition ('1010101010', 'aaaaaaaaab')."""
KEYBOARD_WALKS = (
    "`1234567890-=",
    "~!@#$%^&*()_+",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "qazwsxedcrfvtgbyhnujmikolp",
)
"""Rows and columns of a US keyboard: a password lying along one is a walk, not a secret."""
_TRIM = string.digits + string.punctuation + string.whitespace


def normalise_password(password: str) -> str:
    """NFKC, as SP 800-63B 5.1.1.2 asks of a verifier: Hangul typed as decomposed jamo (as
    macOS sends it) and as precomposed syllables (as phones do) is one password, and so
    is full-width Latin and its ASCII. Applied before the policy, the hash and every
    verification."""
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True)
class Refusal:
    rule: str
    """`length`, `context`, `repetitive`, `sequential` or `common`."""
    detail: str


class PasswordPolicy:
    """Refuses a new password with the first rule it breaks; `common` holds lower-case
    passwords known from breaches."""

    def __init__(self, common: Container[str]) -> None:
        self._common = common

    def check(self, password: str, email: str, display_name: str) -> None:
        """Raises WeakPassword naming the rule a new password breaks."""
        refusal = self.refusal(password, email, display_name)
        if refusal is not None:
            raise WeakPassword(refusal.detail, rule=refusal.rule)

    def refusal(self, password: str, email: str, display_name: str) -> Refusal | None:
        folded = password.casefold()
        context = [email, email.partition("@")[0], display_name]
        rules: list[tuple[str, Callable[[], bool], str]] = [
            (
                "length",
                lambda: len(password) < MIN_LENGTH,
                f"the password needs at least {MIN_LENGTH} characters",
            ),
            (
                "length",
                lambda: len(password) > MAX_LENGTH,
                f"the password may have at most {MAX_LENGTH} characters",
            ),
            (
                "context",
                lambda: _contains_context(folded, context),
                "the password must not contain your e-mail address, the name before its @,"
                " your display name or the service's name",
            ),
            (
                "repetitive",
                lambda: _repetitive(password),
                "the password must not be one character or a short part repeated",
            ),
            (
                "sequential",
                lambda: _sequential(folded),
                "the password must not be a run of consecutive characters or keys"
                " (like 1234567890, abcdefghij or qwertyuiop)",
            ),
            (
                "common",
                lambda: self._is_common(folded),
                "the password is on a list of commonly used passwords"
                " (with digits or symbols around it, too)",
            ),
        ]
        for rule, broken, detail in rules:
            if broken():
                return Refusal(rule, detail)
        return None

    def _is_common(self, folded: str) -> bool:
        if folded in self._common:
            return True
        core = folded.strip(_TRIM)  # 'Summer2024!' is 'summer' to a guesser
        return len(core) >= MIN_CONTEXT_WORD and core != folded and core in self._common


def _alnum(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


def _contains_context(folded: str, words: Iterable[str]) -> bool:
    squeezed = _alnum(folded)
    for given in [*words, *SERVICE_WORDS]:
        word = given.casefold().strip()
        for form, within in ((word, folded), (_alnum(word), squeezed)):
            if len(form) >= MIN_CONTEXT_WORD and form in within:
                return True
    return False


def _repetitive(password: str) -> bool:
    if len(set(password)) < MIN_DISTINCT:
        return True
    length = len(password)
    return any(
        password == (password[:size] * (length // size + 1))[:length]
        for size in range(1, length // 2 + 1)
    )


def _sequential(folded: str) -> bool:
    """At most two runs of characters, each the same as the last or one code point on in
    one direction ('1234567890' is '123456789' and '0'; '1234abcd', 'aaaaa12345' two), or
    a keyboard walk."""
    if _runs(folded) <= 2:
        return True
    return any(folded in walk or folded in walk[::-1] for walk in KEYBOARD_WALKS)


def _runs(text: str) -> int:
    runs, i = 0, 0
    while i < len(text):
        runs += 1
        j = i + 1
        if j < len(text):
            step = ord(text[j]) - ord(text[i])
            if step in (-1, 0, 1):
                while j < len(text) and ord(text[j]) - ord(text[j - 1]) == step:
                    j += 1
        i = j
    return runs
