"""App-password secrets: at least 100 random bits, readable groups, a fast salted hash."""

from __future__ import annotations

import re

from accounts.mailauth import passwords


def test_a_new_secret_is_six_groups_of_four_letters_from_the_alphabet():
    secret = passwords.generate()
    assert re.fullmatch(r"([abcdefghjkmnpqrstuvwxyz]{4}-){5}[abcdefghjkmnpqrstuvwxyz]{4}", secret)
    assert passwords.generate() != secret


def test_it_carries_more_than_100_bits():
    assert passwords.bits_of_entropy() > 100


def test_normalise_accepts_what_people_type_and_refuses_the_rest():
    assert passwords.normalise("ABCD efgh-jkmn_pqrs.tuvw xyza") == "abcdefghjkmnpqrstuvwxyza"
    assert passwords.normalise("abcd") is None
    assert passwords.normalise("abcd-efgh-jkmn-pqrs-tuvw-xyzl") is None  # l is not in the alphabet
    assert passwords.normalise("x" * 65) is None


def test_the_digest_is_salted_and_compared_in_constant_time():
    salt_a, salt_b = passwords.new_salt(), passwords.new_salt()
    secret = "abcdefghjkmnpqrstuvwxyza"
    assert passwords.digest(salt_a, secret) != passwords.digest(salt_b, secret)
    assert passwords.matches(salt_a, passwords.digest(salt_a, secret), secret)
    assert not passwords.matches(salt_a, passwords.digest(salt_a, secret), "bbbbcccc" * 3)
