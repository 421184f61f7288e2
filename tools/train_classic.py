#!/usr/bin/python3
"""Trains seed B's six classic-ML models on the emotion data set and exports them (docs/CLASSIC.md).

    /usr/bin/python3 tools/train_classic.py [--data CSV] [--out models/classic] [--models kmeans,gmm,...]

Needs Debian's python3-sklearn (tools/setup.sh train). Seed B's settings, unchanged:
  CountVectorizer(stop_words='english') counts (sparse) for
    LogisticRegression(max_iter=1000, random_state=42), LinearSVC(random_state=42, max_iter=5000),
    RandomForestClassifier(n_estimators=100, random_state=42)  -- fitted on the 80 % training part of
        train_test_split(test_size=0.2, random_state=42); the other 20 % gives the reported accuracy
    KMeans(n_clusters=3, random_state=42)                   -- fitted on every row
  CountVectorizer(stop_words='english', max_features=3000) dense counts for
    GaussianMixture(n_components=2, random_state=42), PCA(n_components=2, random_state=42) -- every row
Each vectorizer is fitted on every row (the functions serve arbitrary text, so the vocabulary is the data
set's). After export each model is loaded back from its files into scikit-learn and must predict exactly what
the fitted estimator predicts on every training row, so the files are known to be complete.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import classic_format as cf  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "data", "emotion-nlp", "emotion_dataset_raw.csv")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="emotion CSV (Emotion,Text)")
    ap.add_argument("--out", default=os.path.join(REPO, "models", "classic"), help="one sub-directory per model")
    ap.add_argument("--models", default=",".join(cf.KINDS), help="comma-separated subset of " + ",".join(cf.KINDS))
    ap.add_argument("--dense-max-features", type=int, default=3000,
                    help="max_features of the dense vectorizer (GMM, PCA); seed B: 3000. Test fixtures use less "
                         "so that the GMM's D x D matrices stay small")
    ap.add_argument("--jobs", type=int, default=1,
                    help="threads for the random forest's fit (the trees do not depend on it)")
    args = ap.parse_args()

    kinds = [k for k in args.models.split(",") if k]
    for k in kinds:
        if k not in cf.KINDS:
            sys.exit(f"train_classic: unknown model '{k}' (expected {', '.join(cf.KINDS)})")

    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.model_selection import train_test_split

    labels, texts = cf.read_emotion_csv(args.data)
    print(f"train_classic: {len(texts)} rows from {args.data}", flush=True)
    labels = np.array(labels, dtype=object)

    sparse_vec = dense_vec = None
    if any(k in kinds for k in ("kmeans", "logreg", "svm", "random-forest")):
        sparse_vec = CountVectorizer(stop_words="english")
        X_sparse = sparse_vec.fit_transform(texts).astype(np.float64)
        print(f"  sparse vocabulary: {len(sparse_vec.vocabulary_)} terms", flush=True)
        X_train, X_test, y_train, y_test = train_test_split(X_sparse, labels, test_size=0.2, random_state=42)
    if any(k in kinds for k in ("gmm", "pca")):
        dense_vec = CountVectorizer(stop_words="english", max_features=args.dense_max_features)
        X_dense = dense_vec.fit_transform(texts).toarray().astype(np.float64)
        print(f"  dense vocabulary: {len(dense_vec.vocabulary_)} terms", flush=True)

    summary = {}
    for kind in kinds:
        t0 = time.time()
        info = {}
        if kind == "kmeans":
            from sklearn.cluster import KMeans
            est = KMeans(n_clusters=3, random_state=42, n_init=10)  # n_init=10 is 1.2's default, said aloud
            est.fit(X_sparse)
            vec, X_all, dense = sparse_vec, X_sparse, False
        elif kind == "gmm":
            from sklearn.mixture import GaussianMixture
            est = GaussianMixture(n_components=2, random_state=42)
            est.fit(X_dense)
            info["converged"] = bool(est.converged_)
            info["n_iter"] = int(est.n_iter_)
            vec, X_all, dense = dense_vec, X_dense, True
        elif kind == "pca":
            from sklearn.decomposition import PCA
            est = PCA(n_components=2, random_state=42)
            est.fit(X_dense)
            info["explained_variance_ratio"] = [float(r) for r in est.explained_variance_ratio_]
            vec, X_all, dense = dense_vec, X_dense, True
        else:
            if kind == "logreg":
                from sklearn.linear_model import LogisticRegression
                est = LogisticRegression(max_iter=1000, random_state=42)
            elif kind == "svm":
                from sklearn.svm import LinearSVC
                est = LinearSVC(random_state=42, max_iter=5000)
            else:
                from sklearn.ensemble import RandomForestClassifier
                est = RandomForestClassifier(n_estimators=100, random_state=42, n_jobs=args.jobs)
            est.fit(X_train, y_train)
            if hasattr(est, "n_jobs"):
                est.n_jobs = None
            info["test_accuracy"] = float((est.predict(X_test) == y_test).mean())
            vec, X_all, dense = sparse_vec, X_sparse, False
        fit_s = time.time() - t0

        directory = os.path.join(args.out, kind)
        cf.export_estimator(directory, kind, vec, est, dense)
        _verify(directory, kind, est, X_all)
        size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
        info.update(fit_seconds=round(fit_s, 1), bytes=size)
        summary[kind] = info
        print(f"  {kind}: {json.dumps(info)}", flush=True)
    print("train_classic: done")


def _verify(directory, kind, fitted, X):
    """The exported files, loaded back into scikit-learn, must reproduce the fitted estimator."""
    import numpy as np
    meta, _, rebuilt = cf.load_sklearn(directory)
    if kind == "gmm":
        a, b = fitted.predict(X), rebuilt.predict(X)
        sa, sb = fitted.score_samples(X), rebuilt.score_samples(X)
        ok = np.array_equal(a, b) and np.array_equal(sa, sb)
    elif kind == "pca":
        ok = np.array_equal(fitted.transform(X), rebuilt.transform(X))
    else:
        ok = np.array_equal(fitted.predict(X), rebuilt.predict(X))
    if not ok:
        sys.exit(f"train_classic: {directory}: the exported model does not reproduce the fitted {kind}")


if __name__ == "__main__":
    main()
