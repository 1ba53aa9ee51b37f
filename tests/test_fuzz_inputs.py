"""Property-based tests: any bytes fed to the data loader or the config parser either load or raise the
project's own error with a message; no other exception escapes."""

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentscore.config import TrainConfig
from sentscore.data import load_labelled, read_texts, scan_rows_to_score
from sentscore.errors import SentscoreError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

cells = st.one_of(st.text(max_size=12), st.integers(-3, 9).map(str), st.sampled_from(["", " ", '"', "\n", ",", ";"]))
rows = st.lists(st.lists(cells, min_size=0, max_size=4), max_size=8)


def csv_like(separator: str):
    return rows.map(lambda table: "\n".join(separator.join(row) for row in [["sentence", "score"], *table]))


def jsonl_like():
    values = st.one_of(st.none(), st.booleans(), st.integers(-3, 9), st.text(max_size=10))
    record = st.dictionaries(st.sampled_from(["sentence", "score", "other"]), values, max_size=3)
    lines = st.lists(st.one_of(record.map(json.dumps), st.text(max_size=20)), max_size=6)
    return lines.map("\n".join)


def load_or_own_error(load, *args) -> None:
    try:
        load(*args)
    except SentscoreError as error:
        assert error.message.strip()


@FUZZ
@given(raw=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".txt"]))
def test_random_bytes_load_or_raise_our_error(tmp_path, raw, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(raw)
    load_or_own_error(load_labelled, path)
    load_or_own_error(read_texts, path)
    load_or_own_error(scan_rows_to_score, path)


@FUZZ
@given(text=st.one_of(csv_like(","), csv_like(";"), csv_like("\t").map(lambda t: ("tsv", t)), jsonl_like()))
def test_table_like_text_loads_or_raises_our_error(tmp_path, text):
    suffix, text = (".tsv", text[1]) if isinstance(text, tuple) else (".jsonl" if "{" in text else ".csv", text)
    path = tmp_path / f"data{suffix}"
    path.write_text(text, encoding="utf-8")
    load_or_own_error(load_labelled, path)
    load_or_own_error(read_texts, path)
    load_or_own_error(scan_rows_to_score, path)


config_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
config_keys = st.sampled_from(["learning_rate", "num_train_epochs", "labels", "objective", "pooling", "seed", "bf16"])


@FUZZ
@given(mapping=st.dictionaries(st.one_of(config_keys, st.text(max_size=10)), config_values, max_size=5))
def test_config_mappings_load_or_raise_our_error(tmp_path, mapping):
    load_or_own_error(TrainConfig.from_dict, mapping)
    for suffix, dump in ((".json", json.dumps), (".yaml", yaml.safe_dump)):
        try:
            text = dump(mapping)
        except (TypeError, ValueError, yaml.YAMLError):
            continue  # not representable in that format
        path = tmp_path / f"config{suffix}"
        path.write_text(text, encoding="utf-8")
        load_or_own_error(TrainConfig.from_file, path)


@FUZZ
@given(raw=st.binary(max_size=300), suffix=st.sampled_from([".json", ".yaml", ".yml"]))
def test_random_config_bytes_load_or_raise_our_error(tmp_path, raw, suffix):
    path = tmp_path / f"config{suffix}"
    path.write_bytes(raw)
    load_or_own_error(TrainConfig.from_file, path)
