"""A plain logistic regression on the X Education export, over the columns
examples/x-education/mapping.toml maps as traits (so none of the leaky
ones it ignores): text and yes/no columns one-hot encoded with "missing" as
a value of its own, numbers standardised with the median for a missing
value plus a missing flag. Stratified 5-fold cross-validated AUC, seed 1.

    python bench/x_education_lr.py DATA.csv MAPPING.toml   -> JSON on stdout
"""

import json
import sys
import tomllib

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
import csv


def main(data_path, mapping_path):
    mapping = tomllib.load(open(mapping_path, "rb"))
    missing = set(mapping["source"].get("missing", [])) | {""}
    traits = mapping["trait"]
    rows = list(csv.DictReader(open(data_path, encoding="utf-8-sig")))
    outcome = mapping["outcome"]
    labels = np.array([outcome["values"][row[outcome["column"]]] == "won" for row in rows])

    numeric = [trait["column"] for trait in traits if trait["type"] == "number"]
    categorical = [trait["column"] for trait in traits if trait["type"] != "number"]
    x_numeric = np.array(
        [[float(row[column]) if row[column].strip() not in missing else np.nan for column in numeric] for row in rows]
    )
    x_categorical = np.array(
        [[row[column].strip() if row[column].strip() not in missing else "(missing)" for column in categorical]
         for row in rows],
        dtype=object,
    )
    x = np.concatenate([x_numeric.astype(object), x_categorical], axis=1)
    n_numeric = len(numeric)
    transform = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
         list(range(n_numeric))),
        ("categories", OneHotEncoder(handle_unknown="ignore"), list(range(n_numeric, x.shape[1]))),
    ])
    model = make_pipeline(transform, LogisticRegression(max_iter=5000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=1)
    scores = cross_val_score(model, x, labels, cv=folds, scoring="roc_auc")
    features = transform.fit(x).transform(x).shape[1]
    print(json.dumps({"auc": float(scores.mean()), "auc_by_fold": [float(s) for s in scores], "features": features}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
