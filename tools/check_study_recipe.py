#!/usr/bin/python3
"""Seed B's own training recipe against an exported model, through `mlfaas classic predict`.

    /usr/bin/python3 tools/check_study_recipe.py [--data CSV] [--models-dir models/classic] [--mlfaas build/mlfaas]
        [--models logreg,svm] [--rows N]

Fits what seed B's model_training/<model>.py fits -- CountVectorizer(stop_words='english') on every row, then
LogisticRegression(max_iter=1000, random_state=42) / LinearSVC(random_state=42, max_iter=5000) on every row --
and counts the rows (the first N, and all) on which the C++ engine's predictions from <models-dir>/<model> agree
with it. A model trained with tools/train_classic.py's default recipe agrees on every row; one trained with
--split-train (80 % of the rows) does not. Exit status 1 when any row differs.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_classic  # noqa: E402
import classic_format as cf  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def study_estimator(kind):
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression
        return LogisticRegression(max_iter=1000, random_state=42)
    if kind == "svm":
        from sklearn.svm import LinearSVC
        return LinearSVC(random_state=42, max_iter=5000)
    sys.exit(f"check_study_recipe: {kind}: only logreg and svm (the quick ones) are refitted here")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=check_classic.DEFAULT_DATA, help="emotion CSV (Emotion,Text)")
    ap.add_argument("--models-dir", default=os.path.join(REPO, "models", "classic"))
    ap.add_argument("--mlfaas", default=os.path.join(REPO, "build", "mlfaas"))
    ap.add_argument("--models", default="logreg")
    ap.add_argument("--rows", type=int, default=300, help="also report the first N rows (default 300)")
    args = ap.parse_args()

    from sklearn.feature_extraction.text import CountVectorizer
    labels, texts = cf.read_emotion_csv(args.data)
    vectorizer = CountVectorizer(stop_words="english")
    X = vectorizer.fit_transform(texts)
    failed = False
    for kind in [k for k in args.models.split(",") if k]:
        theirs = [str(c) for c in study_estimator(kind).fit(X, labels).predict(X)]
        ours, _ = check_classic.run_cpp(args.mlfaas, os.path.join(args.models_dir, kind), texts)
        ours = [p["label"] for p in ours]
        same = [a == b for a, b in zip(ours, theirs)]
        first = min(args.rows, len(same))
        print(f"{kind}: agrees with seed B's recipe on {sum(same[:first])}/{first} of the first rows, "
              f"{sum(same)}/{len(same)} of all")
        failed = failed or not all(same)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
