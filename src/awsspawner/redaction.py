"""Secrets stay out of logs: a redacting filter on botocore's and aiobotocore's loggers.

At DEBUG, botocore logs every request's parameters and every response body. RunTask's
parameters carry the server's environment, which holds the hub API token of the user's
server (``JUPYTERHUB_API_TOKEN``), and DescribeTasks answers carry it back; request headers
carry the session token of temporary credentials, and the signing code logs the canonical
request with them. :func:`install` puts :class:`RedactingFilter` on those loggers, which
rewrites each record's message before any handler sees it:

* the ``value`` of an environment entry whose ``name`` looks secret (contains TOKEN,
  SECRET, PASSWORD, PASSWD, CREDENTIAL, API_KEY or PRIVATE_KEY; any case), in JSON and in
  Python reprs, in requests and in answers;
* values of keys and headers that are secret by definition: ``SecretAccessKey``,
  ``SessionToken``, ``aws_secret_access_key``, ``aws_session_token``,
  ``X-Amz-Security-Token``, and the signature part of ``Authorization``.

A filter on a logger sees only records created on that logger, not those of its children,
so it is put on every botocore/aiobotocore logger that exists, and again whenever awsspawner
creates a client (botocore creates some loggers lazily).
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "RedactingFilter", "install", "redact"]

REDACTED = "[secret]"
LOGGER_PREFIXES = ("botocore", "aiobotocore", "urllib3", "awsspawner")

_SECRET_NAME = re.compile(r"(?i)token|secret|passw(?:or)?d|credential|api_?key|private_?key")
# One flat {...} object (an environment entry has no nested braces).
_OBJECT = re.compile(r"\{[^{}]{0,4096}\}")
_NAME = re.compile(r"""\\?["']name\\?["']\s*:\s*\\?["']([^"'\\]*)\\?["']""")
_VALUE = re.compile(r"""(\\?["']value\\?["']\s*:\s*)(\\?["'])(.*?)(\2)""", re.S)
_KEYED = re.compile(
    r"""(?ix)
    ( \\?["']? (?:SecretAccessKey|SessionToken|aws_secret_access_key|aws_session_token
                 |X-Amz-Security-Token) \\?["']? \s* [:=] \s* b? )
    ( \\?["'] )? ( [^"'\\,\s}]+ )
    """
)
_CANONICAL_TOKEN = re.compile(r"(?im)^(x-amz-security-token:)(.+)$")
_SIGNATURE = re.compile(r"(Signature=)([0-9a-f]{16,})")


def _redact_entry(match: re.Match[str]) -> str:
    entry = match.group(0)
    name = _NAME.search(entry)
    if name is None or not _SECRET_NAME.search(name.group(1)):
        return entry
    return _VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(4)}", entry)


def redact(text: str) -> str:
    """``text`` with every secret this module knows how to recognise replaced."""
    if "name" in text:
        text = _OBJECT.sub(_redact_entry, text)
    text = _KEYED.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{REDACTED}", text)
    text = _CANONICAL_TOKEN.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _SIGNATURE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its exception text) with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Format the traceback now, redacted; handlers reuse exc_text as it is.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactingFilter()


def install() -> None:
    """Put the filter on every botocore, aiobotocore and urllib3 logger (idempotent)."""
    names = [
        name
        for name in list(logging.root.manager.loggerDict)
        if name.split(".", 1)[0] in LOGGER_PREFIXES
    ]
    for name in (*LOGGER_PREFIXES, *names):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
