"""The emulated subset of Connect's query language: filters and absolute timeframes."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_exports_sandbox.connect.query import ExportQuery, QueryError

EVENT = {"price": 12.5, "product": "Coffee beans", "customer.tier": "gold", "paid": True}


@pytest.mark.parametrize(
    ("query_filter", "matches"),
    [
        ({"product": "Coffee beans"}, True),
        ({"product": {"neq": "Coffee beans"}}, False),
        ({"price": {"gt": 5, "lt": 10}}, False),
        ({"price": {"gte": 12.5, "lte": 12.5}}, True),
        ({"price": {"gt": "5"}}, False),
        ({"customer.tier": {"in": ["gold", "silver"]}}, True),
        ({"customer.tier": {"startsWith": "go", "endsWith": "ld", "contains": "ol"}}, True),
        ({"note": {"exists": False}}, True),
        ({"note": {"exists": True}}, False),
        ({"note": {"neq": "x"}}, True),
        ({"paid": True}, True),
        ({"paid": 1}, False),
    ],
)
def test_filters_follow_connects_operators(query_filter, matches):
    assert ExportQuery.parse({"filter": query_filter}).matches(EVENT) is matches


def test_absolute_timeframe_is_parsed_as_utc_instants():
    query = ExportQuery.parse(
        {"timeframe": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00"}}
    )
    assert query.start == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert query.end == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert not query.filtered


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"select": {"n": "count"}}, "query", "only use filter and timeframe"),
        ({"timeframe": "last_7_days"}, "timeframe", "absolute"),
        ({"timeframe": {"start": "yesterday"}}, "timeframe", "not an ISO-8601"),
        ({"timeframe": {"start": "2024-02-01", "end": "2024-01-01"}}, "timeframe", "before"),
        ({"timeframe": {"start": "2024-01-01"}, "timezone": 10}, "timezone", "absolute"),
        ({"filter": {"price": {"between": [1, 2]}}}, "filter", "not a known operator"),
        ({"filter": {"price": {"in": 5}}}, "filter", "non-empty list"),
        ({"filter": {"price": {"in": [1, "a"]}}}, "filter", "one type"),
        ({"filter": {"id": "abc"}}, "filter", "reserved"),
        ({"filter": {"tp_batch": "abc"}}, "filter", "reserved"),
        ({"filter": {"customer..tier": "x"}}, "filter", "not a property name"),
        ({"filter": {"note": {"exists": "yes"}}}, "filter", "true or false"),
        ({"filter": {"note": {"startsWith": 3}}}, "filter", "string"),
        ([], "query", "JSON object"),
    ],
)
def test_invalid_queries_name_the_field_and_the_problem(query, field, words):
    with pytest.raises(QueryError) as error:
        ExportQuery.parse(query)
    assert error.value.field == field
    assert words in error.value.description
