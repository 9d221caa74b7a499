"""schemathesis hooks for SchemathesisE2ETests.

JSON Schema counts 255.0 as an integer, but apusd requires integer fields to be written as integers (255, not
255.0: a client sending 255.0 has a bug worth hearing about), and docs/openapi.yaml says so. Generated bodies are
therefore written the way the document describes: an integral float becomes the integer it equals. Nothing else is
changed, so invalid values (2.5, strings, nulls) still reach the server.
"""
import schemathesis


def _as_written(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {key: _as_written(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_written(item) for item in value]
    return value


@schemathesis.hook
def map_body(context, body):
    return _as_written(body)
