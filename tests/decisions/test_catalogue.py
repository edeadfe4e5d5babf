"""decisions/catalogue.py and reasons.toml: coverage, protected attributes, grouping."""

from __future__ import annotations

import pytest

from decisions.catalogue import load_catalogue, principal_reasons
from scoring.features import FEATURES

PROTECTED = ("CODE_GENDER", "NAME_FAMILY_STATUS", "DAYS_BIRTH", "CNT_FAM_MEMBERS",
             "CHILDREN_RATIO", "INCOME_PER_PERSON", "EMPLOYED_AGE_RATIO",
             "ID_PUBLISH_AGE_RATIO", "PHONE_CHANGE_AGE_RATIO", "AGE_AT_END",
             "EXT_SOURCE_2_AGE_RATIO")


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_catalogue_covers_every_model_input_and_nothing_else(catalogue):
    assert set(catalogue.features) == set(FEATURES)
    for feature in FEATURES:
        assert catalogue.group_of(feature)


def test_protected_attributes_and_what_derives_from_them_are_protected(catalogue):
    for feature in PROTECTED:
        assert catalogue.group_of(feature).protected, feature


def test_every_shown_group_has_both_languages(catalogue):
    shown = [g for g in catalogue.groups.values() if not g.protected]
    assert shown and all(g.en and g.fr and g.en != g.fr for g in shown)
    assert any(g.actionable for g in shown) and not all(g.actionable for g in shown)


def _item(feature: str, contribution: float) -> dict:
    return {"feature": feature, "label": feature, "value": 1.0, "contribution": contribution}


def test_only_positive_unprotected_contributions_count_grouped_top_four(catalogue):
    items = [_item("CODE_GENDER", 5.0), _item("DAYS_BIRTH", 4.0),  # protected: never shown
             _item("EXT_SOURCE_2", 0.3), _item("EXT_SOURCE_MEAN", 0.3),  # one group: 0.6
             _item("AMT_CREDIT", 0.5), _item("AMT_ANNUITY", 0.2),
             _item("INST_DPD_MEAN", 0.1), _item("BURO_COUNT", 0.05),
             _item("NAME_CONTRACT_TYPE", -3.0)]  # toward grant: not a reason
    reasons = principal_reasons(items, catalogue)
    assert [r["group"] for r in reasons] == ["external_scores", "credit_amount",
                                             "repayments", "repayment_delays"]
    assert reasons[0]["contribution"] == pytest.approx(0.6)
    assert reasons[0]["en"] == catalogue.groups["external_scores"].en
    assert {f["feature"] for f in reasons[0]["features"]} == {"EXT_SOURCE_2", "EXT_SOURCE_MEAN"}


def test_unknown_feature_is_named(catalogue):
    with pytest.raises(KeyError, match="NOT_A_FEATURE"):
        principal_reasons([_item("NOT_A_FEATURE", 1.0)], catalogue)


def test_a_reason_from_missing_history_says_so(catalogue):
    items = [{"feature": "INST_DPD_MEAN", "label": "x", "value": None, "contribution": 0.4},
             {"feature": "INST_IS_LATE_MEAN", "label": "x", "value": None, "contribution": 0.1}]
    (reason,) = principal_reasons(items, catalogue)
    group = catalogue.groups["repayment_delays"]
    assert reason["missing"] and reason["en"] == group.en_missing != group.en
    items[0]["value"] = 3.5
    (reason,) = principal_reasons(items, catalogue)
    assert not reason["missing"] and reason["en"] == group.en
