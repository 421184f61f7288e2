#!/usr/bin/python3
"""Compares the C++ classic-ML models with scikit-learn on every row of a data set.

    /usr/bin/python3 tools/check_classic.py [--data CSV] [--models-dir models/classic] [--mlfaas build/mlfaas]
        [--write-expected FILE]

For each model directory (kmeans, gmm, pca, logreg, svm, random-forest) the exported files are loaded back
into scikit-learn (classic_format.load_sklearn) and into `mlfaas classic predict`; both predict every text.
Labels, clusters and components must agree on 100 % of rows; GMM scores and PCA coordinates within 1e-6
relative. Exit status 1 when any model misses that. --write-expected stores scikit-learn's outputs as JSONL
(tests/data/classic/expected.jsonl is made so).
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import classic_format as cf  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "data", "emotion-nlp", "emotion_dataset_raw.csv")
RELATIVE_TOLERANCE = 1e-6


def relative_error(a, b):
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def run_cpp(mlfaas, model_dir, texts):
    payload = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts).encode("utf-8")
    t0 = time.time()
    proc = subprocess.run([mlfaas, "classic", "predict", "--model", model_dir, "--jsonl"], input=payload,
                          capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"check_classic: {mlfaas} failed on {model_dir}: {proc.stderr.decode(errors='replace').strip()}")
    lines = proc.stdout.decode("utf-8").splitlines()
    if len(lines) != len(texts):
        sys.exit(f"check_classic: {model_dir}: {len(lines)} C++ predictions for {len(texts)} texts")
    return [json.loads(line) for line in lines], time.time() - t0


def compare(kind, ours, theirs):
    """(rows agreeing on the discrete output, worst relative error of the continuous output, worst absolute)."""
    same, worst_rel, worst_abs = 0, 0.0, 0.0
    for a, b in zip(ours, theirs):
        if kind == "pca":
            errs = [relative_error(x, y) for x, y in zip(a["projection"], b["projection"])]
            absd = [abs(x - y) for x, y in zip(a["projection"], b["projection"])]
            ok = len(a["projection"]) == len(b["projection"]) and max(errs) <= RELATIVE_TOLERANCE
            worst_rel, worst_abs = max(worst_rel, *errs), max(worst_abs, *absd)
        elif kind == "gmm":
            err = relative_error(a["score"], b["score"])
            worst_rel, worst_abs = max(worst_rel, err), max(worst_abs, abs(a["score"] - b["score"]))
            ok = a["component"] == b["component"] and err <= RELATIVE_TOLERANCE
        else:
            ok = a == b
        same += ok
    return same, worst_rel, worst_abs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--models-dir", default=os.path.join(REPO, "models", "classic"))
    ap.add_argument("--models", default=",".join(cf.KINDS))
    ap.add_argument("--mlfaas", default=os.path.join(REPO, "build", "mlfaas"))
    ap.add_argument("--write-expected", help="write scikit-learn's predictions here as JSONL")
    args = ap.parse_args()

    _, texts = cf.read_emotion_csv(args.data)
    if not os.access(args.mlfaas, os.X_OK):
        sys.exit(f"check_classic: {args.mlfaas}: not built (cmake --build build --target mlfaas)")
    print(f"check_classic: {len(texts)} rows from {args.data}")
    print("| model | rows | identical | worst relative error | worst absolute error | sklearn s | C++ s |")
    print("|---|---|---|---|---|---|---|")
    expected = [{"text": t} for t in texts]
    failed = False
    for kind in [k for k in args.models.split(",") if k]:
        model_dir = os.path.join(args.models_dir, kind)
        if not os.path.isfile(os.path.join(model_dir, "model.json")):
            print(f"| {kind} | - | missing: {model_dir} (tools/train_classic.py builds it) | | | | |")
            failed = True
            continue
        meta, vectorizer, est = cf.load_sklearn(model_dir)
        t0 = time.time()
        theirs = cf.sklearn_predict(meta, vectorizer, est, texts)
        sk_s = time.time() - t0
        ours, cpp_s = run_cpp(args.mlfaas, model_dir, texts)
        same, worst_rel, worst_abs = compare(kind, ours, theirs)
        failed |= same != len(texts)
        cont = kind in ("pca", "gmm")
        print(f"| {kind} | {len(texts)} | {same} ({100.0 * same / len(texts):.3f} %) | "
              f"{f'{worst_rel:.2e}' if cont else 'n/a'} | {f'{worst_abs:.2e}' if cont else 'n/a'} | "
              f"{sk_s:.1f} | {cpp_s:.1f} |", flush=True)
        for row, pred in zip(expected, theirs):
            row[kind] = pred
    if args.write_expected:
        with open(args.write_expected, "w", encoding="utf-8") as f:
            for row in expected:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
