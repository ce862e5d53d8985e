"""Shared by the interop scripts: strict environment reading, error description, the result line.

tests/interop/python.ts runs the scripts and reads the last line that starts with the marker.
"""

import json
import os
import sys

RESULT_MARKER = "@@agentgate-result "


def env(name: str) -> str:
    """A required environment variable; a missing one stops the script with a clear message."""
    value = os.environ.get(name)
    if not value:
        sys.exit(f"environment variable {name} is required")
    return value


def describe_error(exc: BaseException) -> dict:
    """What a test asserts about an exception: its class (and bases), HTTP status, code, body."""
    body = getattr(exc, "body", None)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return {
        "class": type(exc).__name__,
        "module": type(exc).__module__,
        "bases": [c.__name__ for c in type(exc).__mro__],
        "status": getattr(exc, "status_code", None),
        "code": getattr(exc, "code", None),
        "type": getattr(exc, "type", None),
        "body": body if isinstance(body, (dict, list, str)) or body is None else str(body),
        "message": str(exc),
        "request_id": headers.get("x-agentgate-request-id") if headers is not None else None,
    }


def attempt(fn) -> dict:
    """Runs `fn`; {"ok": value} or {"error": describe_error(exc)}."""
    try:
        return {"ok": fn()}
    except Exception as exc:  # noqa: BLE001 - the test asserts on whatever was raised
        return {"error": describe_error(exc)}


def agentgate_headers(headers) -> dict:
    """The x-agentgate-* response headers, lower-cased."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-agentgate-")}


def emit(result) -> None:
    print(RESULT_MARKER + json.dumps(result, default=str), flush=True)
