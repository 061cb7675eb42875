"""The indicators of each kind, named as the rankings and the evaluation rules name them."""

from __future__ import annotations

import workflow


def test_indicators_match_the_rules_and_the_rankings(client, auth):
    answer = client.get("/api/v1/evaluation/indicators", headers=auth("supervisor"))
    assert answer.status_code == 200
    kinds = {row["kind"]: row for row in answer.get_json()}
    assert set(kinds) == {kind.value for kind in workflow.Kind}
    weights = workflow.evaluation.default_rules()["weights"]
    for kind, row in kinds.items():
        assert row["label"]
        assert [i["name"] for i in row["indicators"]] == list(weights[kind])
        assert all(i["label"] for i in row["indicators"])
    bands = {i["band"] for row in kinds.values() for i in row["indicators"]} - {None}
    assert bands <= set(workflow.evaluation.default_rules()["bands"])


def test_indicators_are_for_the_readers_of_rankings(client, auth):
    assert client.get("/api/v1/evaluation/indicators", headers=auth("handler")).status_code == 403
