"""The protected attributes: which features they take along, their groups, the options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring import features as F
from scoring.protected import PROTECTED, excluded, excluded_features, features_of


def test_age_takes_every_feature_computed_from_it():
    age = set(features_of("DAYS_BIRTH"))
    assert {"DAYS_BIRTH", "EMPLOYED_AGE_RATIO", "ID_PUBLISH_AGE_RATIO",
            "PHONE_CHANGE_AGE_RATIO", "EXT_SOURCE_2_AGE_RATIO", "AGE_AT_END"} <= age
    assert age - {"DAYS_BIRTH"} <= set(F.APPLICATION_FEATURES)
    assert not {"CREDIT_INCOME_RATIO", "EXT_SOURCE_MEAN"} & age
    assert features_of("CODE_GENDER") == ("CODE_GENDER",)
    assert features_of("NAME_FAMILY_STATUS") == ("NAME_FAMILY_STATUS",)


def test_no_application_feature_reads_an_excluded_field():
    """Changing gender or family status changes no derived feature of the model frame."""
    rows = pd.DataFrame({c: [-1000.0, -2000.0] for c in F.APPLICATION_INPUTS})
    rows["CODE_GENDER"], rows["NAME_FAMILY_STATUS"] = ["F", "F"], ["Married", "Married"]
    swapped = rows.assign(CODE_GENDER=["M", "M"], NAME_FAMILY_STATUS=["Widow", "Widow"])
    pd.testing.assert_frame_equal(F.application_features(rows), F.application_features(swapped))


def test_default_exclusion_and_the_options():
    assert [p.name for p in excluded()] == ["gender", "family_status"]
    assert [p.name for p in excluded(use=["CODE_GENDER"])] == ["family_status"]
    assert [p.name for p in excluded(exclude=["age"])] == ["gender", "family_status", "age"]
    assert excluded_features(excluded()) == {"CODE_GENDER", "NAME_FAMILY_STATUS"}
    with pytest.raises(ValueError, match="unknown protected attribute 'religion'.*gender"):
        excluded(use=["religion"])
    with pytest.raises(ValueError, match="both used and excluded: gender"):
        excluded(use=["gender"], exclude=["gender"])


def test_groups():
    years = np.array([25, 30, 39.9, 45, 59, 60, 75])
    rows = pd.DataFrame({"DAYS_BIRTH": list(-years * 365.25) + [None],
                         "CODE_GENDER": ["F", "M", "F", "XNA", "F", "M", None, "F"]})
    assert list(PROTECTED["age"].groups(rows)) == ["<30", "30-39", "30-39", "40-49", "50-59",
                                                   "60+", "60+", "missing"]
    assert list(PROTECTED["gender"].groups(rows))[-2:] == ["missing", "F"]
    assert list(PROTECTED["age"].groups(rows).categories) == ["<30", "30-39", "40-49", "50-59",
                                                              "60+", "missing"]
    with pytest.raises(KeyError, match="NAME_FAMILY_STATUS is absent"):
        PROTECTED["family_status"].groups(rows)
