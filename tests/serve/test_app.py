import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentscore import Scorer
from sentscore.serve.app import ServeSettings, batching_enabled, create_app


@pytest.fixture(scope="module")
def client(trained_tiny_dir):
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    limits = ServeSettings(max_sentences=5, max_chars=200, max_body_bytes=20_000, max_wait_ms=2)
    with TestClient(create_app(scorer, limits), raise_server_exceptions=False) as test_client:
        yield test_client


def assert_json_error(response, status, fragment):
    assert response.status_code == status, response.text
    body = response.json()
    assert fragment in json.dumps(body)
    assert "Traceback" not in response.text


def test_score_returns_results_in_order(client, trained_tiny_dir):
    sentences = ["the food was great", "the staff were rude and the room dirty", "ok"]
    response = client.post("/v1/score", json={"sentences": sentences})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3
    assert set(results[0]) == {"score", "confidence", "expected_score"}
    expected = [p.score for p in Scorer.load(trained_tiny_dir, backend="torch").predict(sentences)]
    assert [r["score"] for r in results] == expected


def test_score_with_probs(client):
    result = client.post("/v1/score", json={"sentences": ["great"], "probs": True}).json()["results"][0]
    assert set(result["probs"]) == {"1", "2", "3", "4", "5"}
    assert sum(result["probs"].values()) == pytest.approx(1.0, abs=1e-4)


def test_model_health_docs_and_page(client):
    model = client.get("/v1/model").json()
    assert model["labels"] == [1, 2, 3, 4, 5] and model["max_length"] == 32 and model["backend"] == "torch"
    assert model["device"] == "cpu"
    assert "accuracy" in model["metrics"]
    assert model["batching"] is True  # unset: on for the torch backend
    assert client.get("/health").json() == {"status": "ok"}
    schema = client.get("/openapi.json").json()
    assert "/v1/score" in schema["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "Score sentences" in page.text
    assert "http" not in client.get("/static/app.js").text  # no CDN: everything comes from this server


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ('{"sentences": ["unclosed"', 400, "not valid JSON"),
        ('{"sentences": "just a string"}', 422, "sentences"),
        ('{"sentences": [1, 2]}', 422, "sentences"),
        ('{"probs": true}', 422, "sentences"),
        ('{"sentences": []}', 422, "'sentences' is empty"),
        ('{"sentences": ["Great food!"], "probs": 0}', 422, "probs"),
        ('{"sentences": ["Great food!"], "probs": "yes"}', 422, "probs"),
        ('{"sentences": ["a", "b", "c", "d", "e", "f"]}', 422, "the limit is 5"),
        (json.dumps({"sentences": ["x" * 201]}), 422, "longer than 200 characters"),
        ('{"sentences": ["fine", "   "]}', 422, "sentence [1] is blank (counted from 0)"),
        ("[1, 2, 3]", 422, "schema"),
        (json.dumps({"sentences": ["y" * 100] * 300}), 413, "over 20000 bytes"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_reason(client, body, status, fragment):
    response = client.post("/v1/score", content=body, headers={"Content-Type": "application/json"})
    assert_json_error(response, status, fragment)
    assert client.post("/v1/score", json={"sentences": ["still serving"]}).status_code == 200


def test_body_limit_holds_without_a_content_length(client):
    def chunks(total):
        body = json.dumps({"sentences": ["z" * 150] * (total // 160)}).encode()
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    headers = {"Content-Type": "application/json"}
    assert client.post("/v1/score", content=chunks(400), headers=headers).status_code == 200
    too_big = client.post("/v1/score", content=chunks(40_000), headers=headers)
    assert_json_error(too_big, 413, "over 20000 bytes")


def test_unknown_route_and_method(client):
    assert_json_error(client.get("/v1/nothing"), 404, "Not Found")
    assert_json_error(client.get("/v1/score"), 405, "Method Not Allowed")


def test_score_file_upload(client):
    csv = "id,sentence\n7,the food was great\n8,awful room\n"
    response = client.post("/v1/score-file", files={"file": ("reviews.csv", csv, "text/csv")}, data={"probs": "true"})
    assert response.status_code == 200, response.text
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("id,sentence,score,confidence,expected_score,prob_1")
    assert lines[1].startswith("7,the food was great,") and len(lines) == 3
    assert 'filename="reviews-scored.csv"' in response.headers["content-disposition"]
    text = client.post("/v1/score-file", files={"file": ("a.txt", "one\ntwo\n", "text/plain")})
    assert text.status_code == 200 and text.text.splitlines()[0].startswith("sentence,score")
    labelled = client.post("/v1/score-file", files={"file": ("l.csv", "sentence,score\nfine,5\n", "text/csv")})
    assert labelled.text.splitlines()[0] == "sentence,input_score,score,confidence,expected_score"
    assert labelled.text.splitlines()[1].startswith("fine,5,")  # the given score is kept, not overwritten


def test_score_file_errors(client):
    wrong_column = client.post("/v1/score-file", files={"file": ("r.csv", "text\nhello\n", "text/csv")})
    assert_json_error(wrong_column, 422, "'sentence' not found")
    binary = client.post("/v1/score-file", files={"file": ("r.csv", b"sentence\n\xff\xfe\n", "text/csv")})
    assert_json_error(binary, 422, "not valid UTF-8")
    assert_json_error(client.post("/v1/score-file"), 422, "file")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values, st.fixed_dictionaries({"sentences": json_values, "probs": json_values})))
def test_fuzzed_json_never_causes_a_server_error(client, body):
    response = client.post("/v1/score", json=body)
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_fuzzed_bytes_never_cause_a_server_error(client, raw):
    response = client.post("/v1/score", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize(
    ("setting", "backend", "expected"),
    [(None, "torch", True), (None, "onnx", False), (True, "onnx", True), (False, "torch", False)],
)
def test_batching_follows_the_setting_or_else_the_backend(setting, backend, expected):
    assert batching_enabled(ServeSettings(batching=setting), backend) is expected


def test_an_overloaded_server_answers_503_with_retry_after(trained_tiny_dir):
    import asyncio
    import time

    import httpx
    import numpy as np

    limits = ServeSettings(max_queue=2, request_timeout_s=5, batching=False)
    app = create_app(Scorer.load(trained_tiny_dir, backend="torch"), limits)

    def slow(texts):
        time.sleep(0.4)
        return np.full((len(texts), 5), 0.2)

    app.state.batcher.score_fn = slow

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*(http.post("/v1/score", json={"sentences": ["fine"]}) for _ in range(6)))

    responses = asyncio.run(main())
    refused = [r for r in responses if r.status_code == 503]
    assert len(refused) == 4 and sum(r.status_code == 200 for r in responses) == 2
    assert refused[0].headers["retry-after"] == "1" and "requests waiting" in refused[0].json()["error"]


def test_the_page_download_is_safe_for_spreadsheets(client):
    csv = "sentence\n=1+1 was great\nfine\n"
    safe = client.post("/v1/score-file", files={"file": ("r.csv", csv, "text/csv")}, data={"spreadsheet_safe": "true"})
    assert safe.status_code == 200 and safe.text.splitlines()[1].startswith("'=1+1 was great,")
    raw = client.post("/v1/score-file", files={"file": ("r.csv", csv, "text/csv")})
    assert raw.text.splitlines()[1].startswith("=1+1 was great,")


def test_explain_endpoint_gives_each_words_weight(client, trained_tiny_dir):
    response = client.post("/v1/explain", json={"sentences": ["the food was great", "awful"]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    expected = scorer.explain(["the food was great", "awful"])
    for result, words in zip(results, expected, strict=True):
        assert [w["word"] for w in result["words"]] == [w.word for w in words]
        assert [w["weight"] for w in result["words"]] == pytest.approx([w.weight for w in words], abs=1e-5)
        assert {"score", "confidence", "expected_score"} <= set(result)


def test_explain_endpoint_limits_the_work_of_one_request(client):
    long = " ".join(["word"] * 30)  # 31 texts to score for one sentence; the limit here is 5 x 4
    assert_json_error(client.post("/v1/explain", json={"sentences": [long]}), 422, "Send fewer or shorter")
    assert_json_error(client.post("/v1/explain", json={"sentences": []}), 422, "sentences")


def test_an_empty_upload_is_refused_as_the_schema_says_naming_the_upload_not_a_server_path(client):
    schema = client.get("/openapi.json").json()
    form = schema["components"]["schemas"]["UploadOptions"]
    assert form["properties"]["file"]["minLength"] == 1 and form["additionalProperties"] is False
    response = client.post("/v1/score-file", files={"file": ("reviews.txt", b"", "text/plain")})
    assert_json_error(response, 422, "reviews.txt is empty")
    assert "upload" not in response.text and "/tmp" not in response.text


def test_a_field_the_api_does_not_know_is_refused_in_a_form_or_a_json_body(client):
    files = {"file": ("reviews.txt", b"Great food\n")}
    refused = client.post("/v1/score-file", files=files, data={"prob": "true"})  # a typo of probs
    assert refused.status_code == 422 and "prob" in refused.text
    assert_json_error(client.post("/v1/score", json={"sentences": ["Great"], "prob": True}), 422, "prob")
    assert client.post("/v1/score-file", files=files, data={"probs": "true"}).status_code == 200
