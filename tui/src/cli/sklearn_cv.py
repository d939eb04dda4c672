"""5-fold cross-validated accuracy and time of scikit-learn classifiers on a CSV, for
`drover bench train`. Usage: sklearn_cv.py FILE.csv TARGET FOLDS [ALGORITHM...], FOLDS holding each row's
validation fold on its own line; prints JSON."""
import json
import sys
import time

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import PredefinedSplit, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

frame = pd.read_csv(sys.argv[1])
target = sys.argv[2]
y = frame.pop(target).astype(str)
numeric = frame.select_dtypes("number").columns
categorical = [c for c in frame.columns if c not in numeric]
prep = ColumnTransformer([
    ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
    ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), categorical),
])
models = {
    "logistic_regression": LogisticRegression(C=1.0, max_iter=100),
    "decision_tree": DecisionTreeClassifier(max_depth=8, random_state=0),
    "random_forest": RandomForestClassifier(n_estimators=50, max_depth=8, max_features=0.7, random_state=0, n_jobs=1),
    "gaussian_nb": GaussianNB(),
}
only = sys.argv[4:]
models = {name: model for name, model in models.items() if not only or name in only}
out = {}
with open(sys.argv[3]) as f:
    folds = PredefinedSplit([int(line) for line in f])
for name, model in models.items():
    started = time.perf_counter()
    scores = cross_val_score(make_pipeline(prep, model), frame, y, cv=folds, scoring="accuracy", n_jobs=1)
    out[name] = {"accuracy": float(scores.mean()), "seconds": time.perf_counter() - started}
print(json.dumps(out))
