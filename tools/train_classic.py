#!/usr/bin/python3
"""Trains seed B's six classic-ML models on the emotion data set and exports them (docs/CLASSIC.md).

    /usr/bin/python3 tools/train_classic.py [--data CSV] [--out models/classic] [--models kmeans,gmm,...]

Needs Debian's python3-sklearn (tools/setup.sh train). Seed B's recipe (its model_training/*.py), unchanged:
every model is fitted on every row.
  CountVectorizer(stop_words='english') counts (sparse, the full vocabulary) for
    LogisticRegression(max_iter=1000, random_state=42), LinearSVC(random_state=42, max_iter=5000),
    RandomForestClassifier(n_estimators=100, random_state=42), KMeans(n_clusters=3, random_state=42),
    PCA(n_components=2, random_state=42)
  CountVectorizer(stop_words='english', max_features=3000) dense counts for
    GaussianMixture(n_components=2, random_state=42)
Seed B fitted its PCA on the dense full-vocabulary matrix (34,792 x 36,736 doubles, 10 GB); the same
principal components come here from the sparse counts with the centring left implicit (ARPACK, exact to
rounding), signs as scikit-learn fixes them (svd_flip). Accuracy is reported, not used: the classifiers'
held-out accuracy comes from a second fit on the 80 % training part of train_test_split(test_size=0.2,
random_state=42) (LogReg, LinearSVC), the forest's from its out-of-bag samples (which leaves its trees as
they are) -- the exported models are the ones fitted on every row. --split-train restores the old recipe
(classifiers fitted on the 80 % part).
After export each model is loaded back from its files into scikit-learn and must predict exactly what the
fitted estimator predicts on every row, so the files are known to be complete.
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
                    help="max_features of the GMM's dense vectorizer; seed B: 3000. Test fixtures use less "
                         "so that the GMM's D x D matrices stay small")
    ap.add_argument("--split-train", action="store_true",
                    help="fit the classifiers on the 80 %% training part only (not seed B's recipe)")
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
    if any(k in kinds for k in ("kmeans", "pca", "logreg", "svm", "random-forest")):
        sparse_vec = CountVectorizer(stop_words="english")
        X_sparse = sparse_vec.fit_transform(texts).astype(np.float64)
        print(f"  sparse vocabulary: {len(sparse_vec.vocabulary_)} terms", flush=True)
        X_train, X_test, y_train, y_test = train_test_split(X_sparse, labels, test_size=0.2, random_state=42)
    if "gmm" in kinds:
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
            est = fit_pca_sparse(X_sparse, n_components=2, random_state=42)
            info["explained_variance_ratio"] = [float(r) for r in est.explained_variance_ratio_]
            vec, X_all, dense = sparse_vec, X_sparse, True
        else:
            def classifier():
                if kind == "logreg":
                    from sklearn.linear_model import LogisticRegression
                    return LogisticRegression(max_iter=1000, random_state=42)
                if kind == "svm":
                    from sklearn.svm import LinearSVC
                    return LinearSVC(random_state=42, max_iter=5000)
                from sklearn.ensemble import RandomForestClassifier
                return RandomForestClassifier(n_estimators=100, random_state=42, n_jobs=args.jobs)
            est = classifier()
            if args.split_train:
                est.fit(X_train, y_train)
                info["test_accuracy"] = float((est.predict(X_test) == y_test).mean())
            elif kind == "random-forest":
                # Out-of-bag accuracy: computed after the trees are grown, from draws that do not touch them.
                est.set_params(oob_score=True)
                est.fit(X_sparse, labels)
                info["oob_accuracy"] = float(est.oob_score_)
                est.set_params(oob_score=False)
            else:
                est.fit(X_sparse, labels)
                held_out = classifier().fit(X_train, y_train)
                info["test_accuracy_of_80_percent_fit"] = float((held_out.predict(X_test) == y_test).mean())
            if hasattr(est, "n_jobs"):
                est.n_jobs = None
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


def fit_pca_sparse(X, n_components, random_state):
    """scikit-learn's PCA(n_components, random_state) of the dense matrix X.toarray() -- what seed B fitted --
    computed from sparse X. PCA centres X and runs randomized_svd on it (its 'auto' solver for a matrix this
    size); here the same randomized_svd runs on a LinearOperator that centres on the fly, so the random draws,
    power iterations and sign flips are PCA's own and only the rounding of the products differs (1e-15 on the
    test subset)."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator
    from sklearn.decomposition import PCA
    from sklearn.utils.extmath import randomized_svd

    class Centred(LinearOperator):
        """X - 1 mean^T (or its transpose) without forming it."""
        __array_ufunc__ = None  # so that `ndarray @ Centred` reaches __rmatmul__

        def __init__(self, X, Xt, mean, transposed=False):
            self.X, self.Xt, self.mean, self.transposed = X, Xt, mean, transposed
            super().__init__(np.float64, X.shape[::-1] if transposed else X.shape)

        def _matmat(self, V):
            if self.transposed:
                return self.Xt @ V - np.outer(self.mean, V.sum(axis=0))
            return self.X @ V - np.outer(np.ones(self.X.shape[0]), self.mean @ V)

        def _matvec(self, v):
            return self._matmat(np.reshape(v, (-1, 1))).ravel()

        def _transpose(self):
            return Centred(self.X, self.Xt, self.mean, not self.transposed)

        _adjoint = _transpose

        def __rmatmul__(self, Q):  # Q @ A = (A^T @ Q^T)^T
            return (self._transpose() @ Q.T).T

    n, d = X.shape
    mean = np.asarray(X.mean(axis=0)).ravel()
    pca = PCA(n_components=n_components, random_state=random_state)
    # PCA._fit_truncated's call with its defaults (iterated_power='auto', n_oversamples=10, normalizer 'auto').
    U, S, Vt = randomized_svd(Centred(X, X.T.tocsr(), mean), n_components=n_components, n_oversamples=10,
                              n_iter="auto", power_iteration_normalizer="auto", flip_sign=True,
                              random_state=np.random.RandomState(random_state))
    total_var = float((np.asarray(X.multiply(X).sum(axis=0)).ravel() - n * mean ** 2).sum() / (n - 1))
    pca.components_ = Vt
    pca.mean_ = mean
    pca.singular_values_ = S
    pca.explained_variance_ = S ** 2 / (n - 1)
    pca.explained_variance_ratio_ = pca.explained_variance_ / total_var
    pca.noise_variance_ = (total_var - pca.explained_variance_.sum()) / max(min(n, d) - n_components, 1)
    pca.n_components_ = n_components
    pca.n_features_in_ = d
    pca.n_samples_ = n
    return pca


def _verify(directory, kind, fitted, X):
    """The exported files, loaded back into scikit-learn, must reproduce the fitted estimator."""
    import numpy as np
    meta, _, rebuilt = cf.load_sklearn(directory)
    if kind == "pca":  # dense rows a thousand at a time: the full vocabulary is too wide for one dense matrix
        ok = all(np.array_equal(fitted.transform(X[i:i + 1000].toarray()), rebuilt.transform(X[i:i + 1000].toarray()))
                 for i in range(0, X.shape[0], 1000))
        if not ok:
            sys.exit(f"train_classic: {directory}: the exported model does not reproduce the fitted {kind}")
        return
    if kind == "gmm":
        a, b = fitted.predict(X), rebuilt.predict(X)
        sa, sb = fitted.score_samples(X), rebuilt.score_samples(X)
        ok = np.array_equal(a, b) and np.array_equal(sa, sb)
    else:
        ok = np.array_equal(fitted.predict(X), rebuilt.predict(X))
    if not ok:
        sys.exit(f"train_classic: {directory}: the exported model does not reproduce the fitted {kind}")


if __name__ == "__main__":
    main()
