"""The sentences a refused Twilio signature is explained with: each cause's exact
words, the address PUBLIC_URL should be, and what is explained once."""

from __future__ import annotations

import pytest

from app.telephony.refusals import Cause, Refusal, base_of, explanation

CHECKED = "https://old.example.com/incoming-call"


@pytest.mark.parametrize(
    ("url", "path", "base"),
    [
        ("https://new.example.com/incoming-call", "/incoming-call", "https://new.example.com"),
        ("https://h.example/voice/incoming-call?x=1", "/incoming-call", "https://h.example/voice"),
        ("wss://h.example:8443/media-stream", "/media-stream", "https://h.example:8443"),
        ("ws://h.example/media-stream", "/media-stream", "http://h.example"),
        ("http://h.example/a/b/", "/c", "http://h.example/a/b"),  # not its path: kept whole
        ("https://h.example/", "/", "https://h.example"),
    ],
)
def test_the_base_is_the_address_without_the_route(url: str, path: str, base: str) -> None:
    assert base_of(url, path) == base


def test_a_missing_signature() -> None:
    assert explanation(Refusal(Cause.MISSING, CHECKED), "/incoming-call") == (
        "refused /incoming-call: no X-Twilio-Signature. Twilio signs every request it sends,"
        " so this one came from elsewhere, or a proxy in front of this server drops the header."
    )


def test_a_signature_for_another_address_names_the_public_url_to_set() -> None:
    refusal = Refusal(Cause.OTHER_URL, CHECKED, "https://abc.ngrok.app/incoming-call")
    assert explanation(refusal, "/incoming-call") == (
        "refused /incoming-call: signed for another address: the signature is valid for"
        " https://abc.ngrok.app/incoming-call, not for the address it was checked against"
        " https://old.example.com/incoming-call (built from PUBLIC_URL). PUBLIC_URL is out of"
        " date (a tunnel such as ngrok gets a new address at each start) or a proxy changes the"
        " path: set PUBLIC_URL=https://abc.ngrok.app."
    )


def test_another_account() -> None:
    assert explanation(Refusal(Cause.OTHER_ACCOUNT, CHECKED), "/call-ended") == (
        "refused /call-ended: for another Twilio account: the request names an AccountSid"
        " other than TWILIO_ACCOUNT_SID, so the number belongs to another Twilio account (or a"
        " subaccount), which signs with its own auth token: set TWILIO_AUTH_TOKEN and"
        " TWILIO_ACCOUNT_SID to that account's."
    )


@pytest.mark.parametrize(
    ("with_query", "said"), [(False, ""), (True, " and the request's query string")]
)
def test_a_mismatch_lists_the_usual_causes(with_query: bool, said: str) -> None:
    refusal = Refusal(Cause.MISMATCH, CHECKED, with_query=with_query)
    assert explanation(refusal, "/incoming-call") == (
        "refused /incoming-call: X-Twilio-Signature does not match, checked against"
        f" https://old.example.com/incoming-call (built from PUBLIC_URL){said}. The usual causes:"
        " PUBLIC_URL is not the address Twilio calls (a tunnel's address changed, or the"
        " number's webhook points elsewhere); TWILIO_AUTH_TOKEN is another account's, or not its"
        " current primary token; or a proxy rewrites the path or drops the query string before"
        " the request reaches this server."
    )


def test_each_cause_and_signed_address_is_its_own_key() -> None:
    assert Refusal(Cause.MISMATCH, "a").key == Refusal(Cause.MISMATCH, "b").key
    assert Refusal(Cause.OTHER_URL, "a", "x").key != Refusal(Cause.OTHER_URL, "a", "y").key
    assert Refusal(Cause.MISSING, "a").key != Refusal(Cause.MISMATCH, "a").key
    assert Refusal(Cause.MISSING, "a").key == (Cause.MISSING, None)
