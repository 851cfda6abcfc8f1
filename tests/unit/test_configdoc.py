"""docs/configuration.md's settings table is generated from the Settings classes: it lists
every variable, and the committed page is not stale."""

from __future__ import annotations

from smartpapers.devstack import configdoc


def test_every_setting_is_in_the_table_once() -> None:
    rows = configdoc.rows()
    names = [env for env, _, _, _ in rows]
    assert len(names) == len(set(names))
    for _, cls in configdoc.SOURCES:
        for field in cls.model_fields:
            assert f"SMARTPAPERS_{field.upper()}" in names
    assert all(meaning for _, _, _, meaning in rows), "every setting needs a description"
    by_name = {env: (default, who) for env, default, who, _ in rows}
    assert by_name["SMARTPAPERS_SQS_QUEUE_URL"] == ("— (required)", "api, worker")
    assert by_name["SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS"][1] == "worker, queues"


def test_the_committed_page_is_fresh() -> None:
    assert configdoc.main(["--check"]) == 0, "docs/configuration.md is stale: make docs-config"
