"""Secrets stay out of logs: a redacting filter on botocore's and aiobotocore's loggers.

At DEBUG, botocore logs every request's parameters and every response body. RunTask's
parameters carry the server's environment, which holds the hub API token of the user's
server (``JUPYTERHUB_API_TOKEN``), and DescribeTasks answers carry it back; STS and SSO
answers carry temporary credentials, SSO-OIDC answers carry access and refresh tokens;
request headers carry the session token or the SSO bearer token, and the signing code logs
the canonical request and the signature. :func:`install` puts :class:`RedactingFilter` on
those loggers, which rewrites each record's message before any handler sees it:

* the ``value`` of every object that also has a ``name`` (ECS environment entries, in
  RunTask, DescribeTasks, RegisterTaskDefinition and DescribeTaskDefinition, in either key
  order), whatever the name: the environment holds secrets under names we cannot guess. Tags
  (``key``/``value``) and all names stay readable;
* values of keys and headers that are secret by definition, in any case: ``SecretAccessKey``,
  ``SessionToken``, ``WebIdentityToken``, ``aws_secret_access_key``, ``aws_session_token``,
  ``X-Amz-Security-Token``, ``x-amz-sso_bearer_token``, ``accessToken``, ``refreshToken``,
  ``clientSecret``, and the hub API token variables ``JUPYTERHUB_API_TOKEN`` and
  ``JPY_API_TOKEN`` as a token file's ``NAME=VALUE`` lines carry them (in JSON, JSON inside
  strings however deeply escaped, Python reprs, header lines and url-encoded bodies), the
  token of ``Authorization: Bearer``, the ``x-amz-security-token`` line of a canonical
  request, and signatures (``Signature=`` of ``Authorization``, and the ``Signature:`` line
  of botocore.auth);
* the text of the XML elements ``SecretAccessKey`` and every ``...Token`` element (STS
  AssumeRole and AssumeRoleWithWebIdentity answers).

Environment values may hold anything, quotes and braces included, and a message nests them
several times (JSON inside a bytes repr inside a dict repr), so they are found by scanning
string literals the way Python and JSON end them (backslash escapes), one quoting layer at a
time, not by guessing with a regex. Credentials are simpler: they hold no quote, backslash,
comma or space, so a regex finds them after their key, whatever the escaping around it.
Everything is linear in the message's length, and a message without the words the rules look
for costs a few substring searches.

The filter never raises (it runs inside botocore's call, which an exception would break), and
fails closed: a message or traceback it cannot redact is withheld whole, not passed on.

A filter on a logger sees only records created on that logger, not those of its children,
so it is put on every botocore/aiobotocore logger that exists, and again whenever awsspawner
creates a client (botocore creates some loggers lazily).
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left
from itertools import accumulate

__all__ = ["REDACTED", "RedactingFilter", "install", "redact"]

REDACTED = "[secret]"
LOGGER_PREFIXES = ("botocore", "aiobotocore", "urllib3", "awsspawner")

Span = tuple[int, int]

# One token of JSON or of a Python repr. A literal's body (without its quotes) is the group
# "double" or "single"; an unterminated literal runs to the end of the text, so a cut-off
# message is over-redacted rather than leaked, and no match ever fails after its first
# character (no backtracking, no rescans). A quote right after a letter (other than a bytes
# prefix) opens nothing: it is prose ("didn't"), and taking it for a literal would read the
# rest of the message one quoting layer too deep. A "stray" escaped quote outside any literal
# means the text is itself the body of a literal whose quotes we cannot see (a JSON string's
# contents, say). Every alternative starts with a distinct character, and a body is runs of
# ordinary characters between escapes (never two ways to match the same text): linear time.
_TOKEN = re.compile(
    r"""
      (?:(?<!\w)|(?<=(?<!\w)b))
      (?: "(?P<double>[^"\\]*(?:\\.[^"\\]*)*)(?:"|\\?\Z)
        | '(?P<single>[^'\\]*(?:\\.[^'\\]*)*)(?:'|\\?\Z) )
    | (?P<stray>\\["'])
    | [{}\[\]:,]
    """,
    re.S | re.X,
)
_ESCAPE = re.compile(r"\\(.)", re.S)
# Literals inside literals inside literals: botocore's deepest is JSON in a bytes repr in a
# dict repr (depth 1 below the message); one more level of slack.
_MAX_DEPTH = 3

_SECRET_KEYS = (
    "SecretAccessKey",
    "SessionToken",
    "WebIdentityToken",
    "aws_secret_access_key",
    "aws_session_token",
    "X-Amz-Security-Token",
    # AWS SSO (IAM Identity Center): the bearer token header of GetRoleCredentials, and the
    # tokens and client secret of SSO-OIDC's RegisterClient and CreateToken.
    "x-amz-sso_bearer_token",
    "accessToken",
    "refreshToken",
    "clientSecret",
    # A server's token file (api_token_source 's3'): PutObject's body, NAME=VALUE lines.
    "JUPYTERHUB_API_TOKEN",
    "JPY_API_TOKEN",
)
_SECRET_KEYS_LOWER = tuple(key.lower() for key in _SECRET_KEYS)
_ANY_SECRET_KEY = "|".join(map(re.escape, _SECRET_KEYS))
# A quote under any number of escaping layers (JSON in a JSON string in a repr...): each layer
# doubles the backslashes before it and may add one (", \", \\\", \\", ...). Backslash pairs,
# then at most one more: a run of backslashes splits only one way, so it is read once per key
# found, and matching stays linear.
_QUOTE = r"""(?:\\\\)*\\?["']"""
# A credential's characters: up to the first one no credential contains (the end of a
# literal, an escape, a separator).
_CREDENTIAL = r"""[^"'\\,&\s}]+"""
# A key that is secret by definition, quoted or not (dict repr, JSON, JSON in a repr, header,
# url-encoded body), then its value. A "b" before the value's quote is a bytes prefix.
_KEYED = re.compile(
    rf"""(?ix)
    ( (?:{_ANY_SECRET_KEY}) (?:{_QUOTE})? \s* [:=] \s* (?:b(?={_QUOTE}))? )
    ( {_QUOTE} )? ( {_CREDENTIAL} )
    """
)
# Bearer auth's "Authorization: Bearer <token>" (SSO-OIDC), however the header is logged.
_BEARER = re.compile(rf"(?i)(\bBearer\s+){_CREDENTIAL}")
# The credential elements of STS answers (and any other *Token element: NextToken is no loss).
_XML_SECRET = re.compile(r"(<(?:SecretAccessKey|[A-Za-z]*Token)>)[^<]*(?=</)")
_CANONICAL_TOKEN = re.compile(r"(?im)^(x-amz-security-token:)(.+)$")
# Authorization's "Signature=<hex>", a presigned URL's "X-Amz-Signature=<hex>", and
# botocore.auth's "Signature:\n<hex>".
_SIGNATURE = re.compile(r"(Signature(?:=|:\s*))[0-9a-f]{16,}")


class _Object:
    """An object being scanned: has it a ``name`` key, and where are its ``value`` literals."""

    __slots__ = ("named", "values")

    def __init__(self) -> None:
        self.named = False
        self.values: list[Span] = []


def _unescape(body: str) -> tuple[str, list[int]]:
    """``body`` with one layer of backslash escaping removed, and the index (in the result) of
    each character that was escaped.

    ``\\n`` becomes ``n`` and ``\\x41`` becomes ``x41``: wrong as text, but neutral for
    tokenising, which is all the result is used for; the quotes and backslashes that matter
    (``\\"``, ``\\'``, ``\\\\``) come out right.
    """
    parts = _ESCAPE.split(body)  # text, escaped character, text, escaped character, ..., text
    ends = list(accumulate(map(len, parts)))
    return "".join(parts), ends[0:-1:2]


def _inner_spans(text: str, start: int, end: int, depth: int) -> list[Span]:
    """Environment values inside ``text[start:end]`` read one quoting layer down, as spans of
    ``text``."""
    decoded, escaped = _unescape(text[start:end])

    def position(index: int) -> int:  # an index of decoded, as an index of text
        return start + index + bisect_left(escaped, index)

    return [(position(a), position(b)) for a, b in _environment_values(decoded, depth + 1)]


def _might_hold_entries(text: str, start: int, end: int) -> bool:
    # {"name":"","value":""} is 22 characters; most literals are shorter, and skip the search.
    return (
        end - start >= 22
        and text.find("value", start, end) >= 0
        and text.find("name", start, end) >= 0
    )


def _environment_values(text: str, depth: int = 0) -> list[Span]:
    """Spans of ``text`` holding the body of the ``value`` literal of each object with a
    ``name`` key, at this quoting layer and the ones nested in its literals."""
    spans: list[Span] = []
    # Open objects, innermost last; None for one with neither key yet (most of them: no
    # allocation per brace).
    objects: list[_Object | None] = []
    literal = ""  # the literal just read, if short: a ":" after it makes it a key
    key = ""  # "name" or "value" when that key's value comes next
    escaped_layer = False
    for token in _TOKEN.finditer(text):
        group = token.lastgroup
        if group == "double" or group == "single":
            start, end = token.span(group)
            if key and objects:
                entry = objects[-1] = objects[-1] or _Object()
                if key == "name":
                    entry.named = True
                else:
                    entry.values.append((start, end))
            # Only "name" and "value" matter as keys: never copy a long body.
            literal = text[start:end] if end - start <= 5 and not key else ""
            key = ""
            if depth < _MAX_DEPTH and _might_hold_entries(text, start, end):
                spans += _inner_spans(text, start, end, depth)
        elif group == "stray":
            escaped_layer, key, literal = True, "", ""
        elif token.group() == ":":
            key = literal if literal in ("name", "value") else ""
            literal = ""
        else:
            key, literal = "", ""
            if token.group() == "{":
                objects.append(None)
            elif token.group() == "}" and objects:
                closed = objects.pop()
                if closed is not None and closed.named:
                    spans += closed.values
    # An object whose end we cannot see (a cut-off message): redact its values anyway.
    for unclosed in objects:
        if unclosed is not None:
            spans += unclosed.values
    if escaped_layer and depth < _MAX_DEPTH:
        spans += _inner_spans(text, 0, len(text), depth)
    return spans


def _replace(text: str, spans: list[Span]) -> str:
    """``text`` with each span replaced by REDACTED; nested spans count once."""
    parts: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if start < done:  # inside (or overlapping) a span already redacted
            done = max(done, end)
            continue
        parts += (text[done:start], REDACTED)
        done = end
    parts.append(text[done:])
    return "".join(parts)


def redact(text: str) -> str:
    """``text`` with every secret this module knows how to recognise replaced."""
    # Substring checks first: most records hold none of these, and they can be large.
    if "value" in text and "name" in text:
        text = _replace(text, _environment_values(text))
    lowered = text.lower()
    if any(key in lowered for key in _SECRET_KEYS_LOWER):
        text = _KEYED.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{REDACTED}", text)
    if "bearer" in lowered:
        text = _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    if "</" in text:
        text = _XML_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    if "x-amz-security-token:" in lowered:
        text = _CANONICAL_TOKEN.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    if "Signature" in text:
        text = _SIGNATURE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return text


def _withheld(what: str) -> str:
    return f"[redaction failed; {what} withheld]"


def _redact_message(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception as error:
        # A bad template or argument. Left as it is, the handler would fail the same way and
        # logging would print msg and args, unredacted, to stderr: say what is known instead.
        message = f"[message not formatted: {error!r}] {record.msg!r} % {record.args!r}"
        record.msg, record.args = message, None
    try:
        cleaned = redact(message)
    except Exception:
        cleaned = _withheld(f"{len(message)} characters")
    if cleaned != message:
        record.msg, record.args = cleaned, None


def _redact_exception(record: logging.LogRecord) -> None:
    if not record.exc_info or record.exc_text:
        return
    # Format the traceback now, redacted: handlers reuse exc_text as it is.
    text = logging.Formatter().formatException(record.exc_info)
    try:
        record.exc_text = redact(text)
    except Exception:
        record.exc_info, record.exc_text = None, _withheld(f"{len(text)} characters")


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its exception text) with secrets redacted.

    It never raises: a filter runs inside the logging call, so an exception here would break
    the AWS request botocore was logging. When redaction fails, the text is withheld whole
    (fail closed), never passed on as it is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            _redact_message(record)
        except Exception:  # even str() or repr() of the arguments failed
            record.msg, record.args = _withheld("message"), None
        try:
            _redact_exception(record)
        except Exception:  # the traceback could not be formatted
            record.exc_info, record.exc_text = None, _withheld("traceback")
        return True


_FILTER = RedactingFilter()


def install() -> None:
    """Put the filter on every botocore, aiobotocore, urllib3 and awsspawner logger (idempotent)."""
    names = [
        name
        for name in list(logging.root.manager.loggerDict)
        if name.split(".", 1)[0] in LOGGER_PREFIXES
    ]
    for name in (*LOGGER_PREFIXES, *names):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
