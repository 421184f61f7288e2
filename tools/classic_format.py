"""The portable classic-ML model format (docs/CLASSIC.md), shared by train_classic.py, check_classic.py and
bench/classic.sh.

A model is a directory with `model.json` (kind, settings, vectorizer, small arrays' names) and
`model.safetensors` (every numeric array, little-endian F64 / I32). `load_sklearn()` rebuilds real
scikit-learn estimators from those files, so the Python side of every comparison runs scikit-learn's own
predict code on exactly the parameters the C++ engine reads.
"""
import csv
import json
import os
import struct
import sys

import numpy as np

FORMAT = "mlfaas-classic"
FORMAT_VERSION = 1
KINDS = ("kmeans", "gmm", "pca", "logreg", "svm", "random-forest")
TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def read_emotion_csv(path):
    """(labels, texts) from an RFC 4180 CSV with header Emotion,Text."""
    if not os.path.isfile(path):
        sys.exit(f"classic: {path}: data set not found (the emotion-nlp CSV; see the data README or pass --data)")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:2] != ["Emotion", "Text"]:
        sys.exit(f"classic: {path}: expected a header 'Emotion,Text'")
    body = rows[1:]
    bad = [i + 2 for i, r in enumerate(body) if len(r) != 2]
    if bad:
        sys.exit(f"classic: {path}: line {bad[0]}: expected 2 fields")
    return [r[0] for r in body], [r[1] for r in body]


# ---- safetensors (written and read here without the safetensors package, which Debian does not ship) ----

_DTYPES = {"F64": np.dtype("<f8"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8")}


def write_safetensors(path, arrays):
    header, blobs, offset = {}, [], 0
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        code = {np.dtype("float64"): "F64", np.dtype("int32"): "I32", np.dtype("int64"): "I64"}[arr.dtype]
        data = arr.astype(_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)  # keeps every tensor 8-byte aligned in the mapping
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        lo, hi = meta["data_offsets"]
        out[name] = np.frombuffer(blob[base + lo:base + hi], dtype=_DTYPES[meta["dtype"]]).reshape(meta["shape"])
    return out


# ---- export ----

def vectorizer_json(vectorizer):
    vocab = vectorizer.vocabulary_
    terms = [None] * len(vocab)
    for term, column in vocab.items():
        terms[column] = term
    return {
        "lowercase": bool(vectorizer.lowercase),
        "token_pattern": vectorizer.token_pattern,
        "stop_words": sorted(vectorizer.get_stop_words()),
        "max_features": vectorizer.max_features,
        "dense_input": False,
        "vocabulary": terms,
    }


def save_model(directory, kind, vectorizer, estimator, extra_json, arrays, dense_input):
    os.makedirs(directory, exist_ok=True)
    import sklearn
    vec = vectorizer_json(vectorizer)
    vec["dense_input"] = dense_input
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "sklearn_version": sklearn.__version__,
        "estimator": type(estimator).__name__,
        "params": {k: v for k, v in estimator.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))},
        "vectorizer": vec,
        "tensors": "model.safetensors",
    }
    meta.update(extra_json)
    with open(os.path.join(directory, "model.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    write_safetensors(os.path.join(directory, "model.safetensors"), arrays)


def export_estimator(directory, kind, vectorizer, est, dense_input):
    extra, arrays = {}, {}
    if kind == "kmeans":
        from sklearn.utils.extmath import row_norms as norms
        arrays["cluster_centers"] = est.cluster_centers_
        # sklearn ranks centres by ||c||^2 - 2 x.c with ||c||^2 from row_norms; storing its exact values keeps
        # near-ties decided the same way.
        arrays["center_squared_norms"] = norms(est.cluster_centers_, squared=True)
    elif kind == "gmm":
        if est.covariance_type != "full":
            raise SystemExit("classic: only covariance_type='full' is exported")
        extra["covariance_type"] = "full"
        arrays["weights"] = est.weights_
        arrays["means"] = est.means_
        arrays["precisions_cholesky"] = est.precisions_cholesky_
    elif kind == "pca":
        extra["whiten"] = bool(est.whiten)
        arrays["components"] = est.components_
        arrays["mean"] = est.mean_
        arrays["explained_variance"] = est.explained_variance_
    elif kind in ("logreg", "svm"):
        extra["classes"] = [str(c) for c in est.classes_]
        if kind == "logreg":
            # sklearn 1.2 resolves multi_class='auto' at fit time: multinomial for lbfgs with >2 classes.
            from sklearn.linear_model._logistic import _check_multi_class
            extra["multi_class"] = _check_multi_class(est.multi_class, est.solver, len(est.classes_))
        arrays["coef"] = est.coef_
        arrays["intercept"] = est.intercept_
    elif kind == "random-forest":
        extra["classes"] = [str(c) for c in est.classes_]
        extra["n_features"] = int(est.n_features_in_)
        lefts, rights, features, thresholds, offsets = [], [], [], [], [0]
        leaf_rows, leaf_values = [], []
        for tree in est.estimators_:
            t = tree.tree_
            lefts.append(t.children_left.astype(np.int32))
            rights.append(t.children_right.astype(np.int32))
            features.append(t.feature.astype(np.int32))
            thresholds.append(t.threshold)
            leaves = np.flatnonzero(t.children_left == -1)
            leaf_rows.append((leaves + offsets[-1]).astype(np.int32))
            leaf_values.append(t.value[leaves, 0, :])
            offsets.append(offsets[-1] + t.node_count)
        arrays["tree_offsets"] = np.array(offsets, dtype=np.int64)
        arrays["children_left"] = np.concatenate(lefts)
        arrays["children_right"] = np.concatenate(rights)
        arrays["feature"] = np.concatenate(features)
        arrays["threshold"] = np.concatenate(thresholds)
        # Only leaves' values are read by predict; internal nodes' values are left out to halve the file.
        arrays["leaf_node"] = np.concatenate(leaf_rows)
        arrays["leaf_value"] = _compact_counts(np.concatenate(leaf_values))
    else:
        raise ValueError(kind)
    save_model(directory, kind, vectorizer, est, extra, arrays, dense_input)


def _compact_counts(values):
    """Leaf values of a bootstrap forest are whole (weighted) sample counts: stored as I32 when exactly so,
    which halves the largest array of the file; F64 otherwise (e.g. class_weight)."""
    if np.all(values == np.round(values)) and values.min() >= 0 and values.max() < 2**31:
        return values.astype(np.int32)
    return values


# ---- load back into scikit-learn ----

def load_sklearn(directory):
    """(meta, vectorizer, estimator): scikit-learn objects carrying exactly the exported parameters."""
    from sklearn.feature_extraction.text import CountVectorizer
    with open(os.path.join(directory, "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    arrays = read_safetensors(os.path.join(directory, meta["tensors"]))
    v = meta["vectorizer"]
    vectorizer = CountVectorizer(lowercase=v["lowercase"], token_pattern=v["token_pattern"],
                                 stop_words=list(v["stop_words"]))
    vectorizer.vocabulary_ = {term: i for i, term in enumerate(v["vocabulary"])}
    n_features = len(v["vocabulary"])
    kind = meta["kind"]
    if kind == "kmeans":
        from sklearn.cluster import KMeans
        est = KMeans(n_clusters=arrays["cluster_centers"].shape[0], n_init=10)
        est.cluster_centers_ = arrays["cluster_centers"].copy()
        est._n_threads = 1
    elif kind == "gmm":
        from sklearn.mixture import GaussianMixture
        est = GaussianMixture(n_components=arrays["weights"].shape[0], covariance_type="full")
        est.weights_ = arrays["weights"].copy()
        est.means_ = arrays["means"].copy()
        est.precisions_cholesky_ = arrays["precisions_cholesky"].copy()
    elif kind == "pca":
        from sklearn.decomposition import PCA
        est = PCA(n_components=arrays["components"].shape[0], whiten=meta["whiten"])
        est.components_ = arrays["components"].copy()
        est.mean_ = arrays["mean"].copy()
        est.explained_variance_ = arrays["explained_variance"].copy()
        est.n_components_ = est.components_.shape[0]
    elif kind in ("logreg", "svm"):
        if kind == "logreg":
            from sklearn.linear_model import LogisticRegression
            est = LogisticRegression(multi_class=meta["multi_class"])
        else:
            from sklearn.svm import LinearSVC
            est = LinearSVC()
        est.classes_ = np.array(meta["classes"], dtype=object)
        est.coef_ = arrays["coef"].copy()
        est.intercept_ = arrays["intercept"].copy()
    elif kind == "random-forest":
        est = _rebuild_forest(meta, arrays)
    else:
        raise ValueError(f"{directory}: unknown kind {kind}")
    est.n_features_in_ = n_features
    return meta, vectorizer, est


def _rebuild_forest(meta, arrays):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.tree._tree import NODE_DTYPE, Tree
    classes = np.array(meta["classes"], dtype=object)
    n_classes = len(classes)
    n_features = meta["n_features"]
    offsets = arrays["tree_offsets"]
    values_all = np.zeros((int(offsets[-1]), n_classes))
    values_all[arrays["leaf_node"]] = arrays["leaf_value"].astype(np.float64)
    trees = []
    for i in range(len(offsets) - 1):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        nodes = np.zeros(hi - lo, dtype=NODE_DTYPE)
        nodes["left_child"] = arrays["children_left"][lo:hi]
        nodes["right_child"] = arrays["children_right"][lo:hi]
        nodes["feature"] = arrays["feature"][lo:hi]
        nodes["threshold"] = arrays["threshold"][lo:hi]
        tree = Tree(n_features, np.array([n_classes], dtype=np.intp), 1)
        tree.__setstate__({"max_depth": _depth(nodes), "node_count": hi - lo, "nodes": nodes,
                           "values": values_all[lo:hi].reshape(hi - lo, 1, n_classes).copy()})
        dt = DecisionTreeClassifier()
        dt.tree_ = tree
        dt.n_outputs_ = 1
        dt.n_classes_ = n_classes
        dt.classes_ = np.arange(n_classes)
        dt.n_features_in_ = n_features
        trees.append(dt)
    forest = RandomForestClassifier(n_estimators=len(trees))
    forest.estimators_ = trees
    forest.classes_ = classes
    forest.n_classes_ = n_classes
    forest.n_outputs_ = 1
    return forest


def _depth(nodes):
    depth = np.zeros(len(nodes), dtype=np.int64)
    for i in range(len(nodes)):  # children always come after their parent in sklearn's node order
        for child in (nodes["left_child"][i], nodes["right_child"][i]):
            if child != -1:
                depth[child] = depth[i] + 1
    return int(depth.max())


# ---- predictions in the shape both sides print ----

def sklearn_predict(meta, vectorizer, est, texts):
    """One dict per text: {"label"|"cluster"|"component"+"score"|"projection": ...}."""
    X = vectorizer.transform(texts)
    if meta["vectorizer"]["dense_input"] and X.shape[0] > 1000:
        # Dense rows a thousand at a time: the PCA's full vocabulary makes one dense matrix of every row 10 GB.
        out = []
        for i in range(0, X.shape[0], 1000):
            out += _sklearn_predict_rows(meta, est, X[i:i + 1000])
        return out
    return _sklearn_predict_rows(meta, est, X)


def _sklearn_predict_rows(meta, est, X):
    kind = meta["kind"]
    if meta["vectorizer"]["dense_input"]:
        X = X.toarray().astype(np.float64)
    if kind == "kmeans":
        return [{"cluster": int(c)} for c in est.predict(X)]
    if kind == "gmm":
        comp = est.predict(X)
        score = est.score_samples(X)
        return [{"component": int(c), "score": float(s)} for c, s in zip(comp, score)]
    if kind == "pca":
        return [{"projection": [float(a) for a in row]} for row in est.transform(X)]
    return [{"label": str(c)} for c in est.predict(X)]
