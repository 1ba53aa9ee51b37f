"""schemathesis fuzzes the live app from its own /openapi.json: no 5xx, and every response fits the schema
(status codes, content types, bodies), for valid requests and for invalid ones."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from sentscore import Scorer
from sentscore.serve.app import ServeSettings, create_app


@pytest.fixture(scope="module")
def api_schema(trained_tiny_dir):
    limits = ServeSettings(max_sentences=8, max_chars=300, max_body_bytes=50_000, batching=False)
    app = create_app(Scorer.load(trained_tiny_dir, backend="torch"), limits)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_holds_to_its_schema_under_generated_requests(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {"POST /v1/score", "POST /v1/score-file"}
    for operation in operations:
        check_operation(operation, mode)


def check_operation(operation, mode) -> None:
    """Fuzz one operation with requests of ``mode``."""
    # An upload is bytes, which no schema describes beyond "not empty": they can fit it and still not be a
    # table with a sentence column (a 422 that says so), so valid-looking uploads need not be accepted. And a
    # multipart form carries every field as text: a "negative" case that turns text_column into the boolean
    # true arrives as the valid column name "true", so the upload's refusals of invalid fields that can travel
    # (unknown fields, an empty file, probs "maybe", set 1.5) are tested by name instead
    # (test_the_upload_is_published_as_the_multipart_form_it_must_be, tests/serve/test_app.py).
    excluded = [positive_data_acceptance, negative_data_rejection] if operation.path == "/v1/score-file" else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(excluded_checks=excluded)

    try:
        check()
    except Unsatisfiable:  # an operation with no inputs has no invalid request to send
        assert mode is GenerationMode.NEGATIVE and operation.method == "get"


def test_the_upload_is_published_as_the_multipart_form_it_must_be(trained_tiny_dir):
    """A file cannot travel in a urlencoded form: the schema offers only multipart, so that a client (or
    schemathesis) following it sends a request the endpoint accepts."""
    from fastapi.testclient import TestClient

    app = create_app(Scorer.load(trained_tiny_dir, backend="torch"))
    body = app.openapi()["paths"]["/v1/score-file"]["post"]["requestBody"]
    assert list(body["content"]) == ["multipart/form-data"]
    with TestClient(app) as client:
        sent = client.post("/v1/score-file", files={"file": ("in.txt", b"Great food.\n")}, data={"probs": "true"})
        refused = [
            client.post("/v1/score-file", files={"file": ("in.txt", b"Great food.\n")}, data=fields)
            for fields in ({"probs": "maybe"}, {"set": "1.5"}, {"colour": "blue"}, {"spreadsheet_safe": "2"})
        ]
    assert sent.status_code == 200 and "prob_5" in sent.text.splitlines()[0]
    assert [response.status_code for response in refused] == [422] * 4
