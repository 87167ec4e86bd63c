"""Shared helpers for the SDK scenario scripts.

Each script is run as `python tests/sdk/<sdk>_sdk.py <scenario>` with GEMPOOL_URL (the gateway's
base URL, no trailing slash) and GEMPOOL_KEY (a gempool client key, or anything in open mode) in
the environment. A scenario is a function; a failed `assert` exits non-zero with a message.
"""

import base64
import os
import sys
import traceback

GEMPOOL_URL = os.environ.get("GEMPOOL_URL", "").rstrip("/")
GEMPOOL_KEY = os.environ.get("GEMPOOL_KEY", "")

# A 1x1 transparent PNG.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PNG_B64 = base64.b64encode(PNG_1X1).decode()

# Tool parameter schemas a strict Gemini would reject unless sanitized (protocols.md §1.14).
AWKWARD_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "$defs": {
        "Unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "Place": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": ["string", "null"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    "properties": {
        "place": {"$ref": "#/$defs/Place"},
        "unit": {"$ref": "#/$defs/Unit"},
        "format": {"type": "string", "description": "a user property named like a keyword"},
        "pattern": {"type": "string"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "kind": {"const": "weather"},
        "source": {"type": "string", "format": "uri"},
        "when": {"type": "string", "format": "date-time"},
        "count": {"type": "integer", "minimum": 1, "exclusiveMaximum": 100},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "extra": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["place", "unit", "format", "kind"],
}

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
}

TIME_SCHEMA = {
    "type": "object",
    "properties": {"zone": {"type": "string"}},
    "required": ["zone"],
}


def run(scenarios):
    """Runs the scenario named by argv[1]; exits 1 with a clear message on failure."""
    if len(sys.argv) != 2 or sys.argv[1] not in scenarios:
        print(f"usage: {sys.argv[0]} <{'|'.join(sorted(scenarios))}>", file=sys.stderr)
        sys.exit(2)
    assert GEMPOOL_URL, "GEMPOOL_URL is not set"
    name = sys.argv[1]
    try:
        scenarios[name]()
    except AssertionError as e:
        traceback.print_exc()
        print(f"\nFAILED {sys.argv[0]} {name}: assertion failed: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - any SDK exception is a failure of the scenario
        traceback.print_exc()
        print(f"\nFAILED {sys.argv[0]} {name}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"ok {name}")


def expect_raises(exc_type, fn, what):
    """Calls fn, asserts it raises exc_type; returns the exception."""
    try:
        result = fn()
    except exc_type as e:
        return e
    raise AssertionError(f"{what}: expected {exc_type.__name__}, got a result: {result!r}")
