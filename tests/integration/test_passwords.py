"""The password policy (after NIST SP 800-63B) over HTTP — 422 weak-password naming the rule
a new password breaks, a long passphrase accepted — and `PasswordPolicy` itself, with the
real common-password list, by example and by property (Hypothesis)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.adapters.security.common_passwords import common_passwords
from booking.domain.errors import WeakPassword
from booking.domain.passwords import MAX_LENGTH, MIN_LENGTH, PasswordPolicy
from tests.live_server import start_local
from tests.support import assert_problem, unique_email

RULES = {"length", "context", "repetitive", "sequential", "common"}
EMAIL = "minji.kim@example.com"
NAME = "Kim Minji Fan"
PASSPHRASE = "violet harbour quantum lantern"

policy = PasswordPolicy(common_passwords())


# -- over HTTP -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    server = start_local(tmp_path_factory.mktemp("passwords") / "data", {})
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            yield http
    finally:
        server.stop()


def sign_up(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(
        "/api/v1/accounts", json={"email": email, "password": password, "display_name": NAME}
    )


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("aaaaaaaaaa", "repetitive"),
        ("password12", "common"),
        ("1234567890", "sequential"),
        (" " * 10, "repetitive"),
        (EMAIL, "context"),
        (NAME, "context"),
    ],
)
def test_a_weak_password_is_refused_with_the_rule_it_breaks(
    client: httpx.Client, password: str, rule: str
) -> None:
    body = assert_problem(sign_up(client, EMAIL, password), 422, "weak-password")
    assert body["rule"] == rule
    assert body["detail"]


def test_a_nine_character_password_is_refused_for_its_length(client: httpx.Client) -> None:
    body = assert_problem(sign_up(client, unique_email("fan"), "v1olet-hq"), 422, "weak-password")
    assert body["rule"] == "length"


def test_a_long_passphrase_is_accepted_and_logs_in(client: httpx.Client) -> None:
    email = unique_email("fan")
    r = sign_up(client, email, PASSPHRASE)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/sessions", json={"email": email, "password": PASSPHRASE})
    assert r.status_code == 201, r.text


def test_a_password_logs_in_however_its_unicode_was_composed(client: httpx.Client) -> None:
    email = unique_email("fan")
    composed = "민지의 비밀 응원봉 2026"  # precomposed Hangul syllables, as a phone types them
    decomposed = unicodedata.normalize("NFD", composed)  # conjoining jamo, as macOS sends them
    assert decomposed != composed
    r = sign_up(client, email, decomposed)
    assert r.status_code == 201, r.text
    for typed in (composed, decomposed):
        r = client.post("/api/v1/sessions", json={"email": email, "password": typed})
        assert r.status_code == 201, r.text
    r = client.post("/api/v1/sessions", json={"email": email, "password": composed + "!"})
    assert_problem(r, 401, "invalid-credentials")


# -- PasswordPolicy ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("v1olet-hq", "length"),
        ("x" * (MAX_LENGTH + 1), "length"),
        ("MINJI.KIM@EXAMPLE.COM", "context"),
        ("my name is minjikim!", "context"),  # the name before the @, without its dot
        ("kimminjifan2024", "context"),  # the display name, squeezed
        ("ConcertBook rocks", "context"),
        ("1010101010", "repetitive"),
        ("abcabcabcabc", "repetitive"),
        ("aaaaaaaaab", "repetitive"),
        ("abcdefghij", "sequential"),
        ("9876543210", "sequential"),
        ("qwertyuiop", "sequential"),
        ("1qaz2wsx3edc", "sequential"),
        ("aaaaa12345", "sequential"),
        ("iloveyou12", "common"),
        ("Dragon2024!", "common"),
        ("!!sunshine!!", "common"),
    ],
)
def test_the_policy_names_the_first_rule_a_password_breaks(password: str, rule: str) -> None:
    refusal = policy.refusal(password, EMAIL, NAME)
    assert refusal is not None
    assert refusal.rule == rule
    with pytest.raises(WeakPassword) as raised:
        policy.check(password, EMAIL, NAME)
    assert raised.value.extra == {"rule": rule}
    assert raised.value.detail == refusal.detail


@pytest.mark.parametrize(
    "password",
    [
        PASSPHRASE,
        "Kim's 1st IU concert!",
        "아이유 콘서트 티켓 예매",
        "tr0ub4dor&3-horse",
        "Zq8#mVp2!kL",
    ],
)
def test_a_good_password_is_accepted(password: str) -> None:
    assert policy.refusal(password, EMAIL, NAME) is None
    policy.check(password, EMAIL, NAME)


@given(st.text(max_size=MIN_LENGTH - 1))
def test_anything_shorter_than_the_minimum_is_refused_for_its_length(password: str) -> None:
    refusal = policy.refusal(password, EMAIL, NAME)
    assert refusal is not None
    assert refusal.rule == "length"


@given(st.text(max_size=300), st.emails(), st.text(max_size=40))
def test_any_text_is_accepted_or_refused_with_one_of_the_rules(
    password: str, email: str, name: str
) -> None:
    refusal = policy.refusal(password, email, name)
    assert refusal is None or refusal.rule in RULES


letters = st.text(alphabet="bdfhjlnprtvxz", min_size=3, max_size=12)
"""Context words: consonants only, so no run and no common word inside by chance."""
padding = st.text(alphabet="0123456789!@#$%^&*-_ aeiou", max_size=20)


@given(letters, padding, padding, st.booleans())
def test_a_password_holding_the_e_mails_name_is_refused_in_any_case(
    local: str, before: str, after: str, shout: bool
) -> None:
    word = local.upper() if shout else local
    password = (before + word + after).ljust(MIN_LENGTH, "7")
    refusal = policy.refusal(password, f"{local}@example.test", "Q")
    assert refusal is not None
    assert refusal.rule == "context"


@given(letters, padding, padding)
def test_a_password_holding_the_display_name_is_refused(name: str, before: str, after: str) -> None:
    password = (before + name + after).ljust(MIN_LENGTH, "7")
    refusal = policy.refusal(password, "zq@example.test", name)
    assert refusal is not None
    assert refusal.rule == "context"


@given(st.text(min_size=1, max_size=5), st.integers(MIN_LENGTH, 60))
def test_a_short_part_repeated_is_refused(part: str, length: int) -> None:
    password = (part * length)[:length]
    refusal = policy.refusal(password, "zq@example.test", "Q")
    assert refusal is not None
    assert refusal.rule == "repetitive"


common_words = st.sampled_from(
    sorted(w for w in common_passwords() if w.isalpha() and 3 <= len(w) <= 16)
)
decoration = st.text(alphabet="0123456789!@#$%?*._ ", max_size=8)


@given(common_words, decoration, decoration, st.booleans())
def test_a_common_password_is_refused_also_with_digits_or_symbols_around_it(
    word: str, before: str, after: str, capital: bool
) -> None:
    password = before + (word.capitalize() if capital else word) + after
    password = password.ljust(MIN_LENGTH, "!")
    assert policy.refusal(password, "zq@example.test", "Q") is not None


vocabulary = [
    "violet", "harbour", "quantum", "lantern", "saffron", "glacier", "pebble", "orbit",
    "juniper", "tundra", "marble", "cobalt", "willow", "ember", "falcon", "meadow",
]  # fmt: skip


@given(
    st.lists(st.sampled_from(vocabulary), min_size=4, max_size=6, unique=True),
    st.sampled_from([" ", "-", ".", "_", ""]),
)
def test_a_passphrase_of_distinct_words_is_accepted(words: list[str], joiner: str) -> None:
    password = joiner.join(words)
    assert policy.refusal(password, "zq@example.test", "Q") is None, password


def test_the_common_list_is_zxcvbns_lower_cased() -> None:
    common = common_passwords()
    assert len(common) > 20_000
    assert {"password", "123456", "iloveyou", "qwerty"} <= common
    assert all(word == word.lower() for word in common)
