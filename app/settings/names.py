"""Misspelled setting names: a name that is not a setting but is close to one. Pure.

``.env`` belongs to this server alone, so such a name there stops startup; the
environment is shared with the shell, the platform and other programs (PATH, HOME,
PYTHON*, DYNO, K_SERVICE…), so there it is only a warning, and only for a name that
also looks like ours (it has a word one of our settings has). Which names are
settings comes from the settings model itself (see ``setting_names`` in the model),
so a setting added tomorrow is known tomorrow.

Close means one of:

- at most one edit (a letter added, dropped, replaced, or two swapped) from a known
  name under 10 characters, at most two from a longer one: ``OPERATER_TOKEN``,
  ``ENABLE_SOFTFONE``, ``MAX_CONCURENT_CALLS``, ``GEMINI_VOICES``, ``LOGLEVEL``;
- the same words in another order: ``SOFTPHONE_ENABLE``;
- a known name with one word left out, the first word kept: ``GEMINI_KEY``,
  ``TWILIO_TOKEN``, ``MAX_CALLS``.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.spelling import distance, one_of

LONG_NAME = 10  # characters from which a second edit still counts as close


def words(name: str) -> list[str]:
    return [w for w in name.upper().split("_") if w]


def is_close(name: str, known: str) -> bool:
    """Whether ``name`` (not a setting) reads like a misspelling of the setting ``known``."""
    name, known = name.upper(), known.upper()
    if name == known:
        return False
    if distance(name, known) <= (2 if len(known) >= LONG_NAME else 1):
        return True
    mine, theirs = words(name), words(known)
    if sorted(mine) == sorted(theirs):
        return True
    left_out = (theirs[:i] + theirs[i + 1 :] for i in range(1, len(theirs)))
    return len(mine) >= 2 and mine in left_out


def suggestions(name: str, known: Iterable[str]) -> list[str]:
    """The settings ``name`` is close to, nearest first (ties alphabetical)."""
    upper = name.upper()
    close = [k for k in known if is_close(upper, k)]
    return sorted(close, key=lambda k: (distance(upper, k), k))


def looks_like_ours(name: str, known: Iterable[str]) -> bool:
    """Whether ``name`` has a word that one of our settings has."""
    vocabulary = {w for k in known for w in words(k)}
    return bool(vocabulary.intersection(words(name)))


def dotenv_problems(names: Iterable[str], known: frozenset[str], where: str) -> list[str]:
    """A sentence for each name in the ``.env`` file ``where`` that is not a setting but
    is close to one (other names are left alone: tools such as docker compose share it)."""
    problems = []
    for name in names:
        if name.upper() in known:
            continue
        close = suggestions(name, known)
        if close:
            problems.append(
                f"{name} in {where} is not a setting: did you mean {one_of(close)}? Rename it"
                " (as written it is ignored)."
            )
    return problems


def environment_warnings(names: Iterable[str], known: frozenset[str]) -> list[str]:
    """A sentence for each environment variable that looks like a misspelled setting."""
    warnings = []
    for name in sorted(names):
        if name.upper() in known or not looks_like_ours(name, known):
            continue
        close = suggestions(name, known)
        if close:
            warnings.append(
                f"the environment variable {name} is not a setting, so it is ignored: did you"
                f" mean {one_of(close)}?"
            )
    return warnings
