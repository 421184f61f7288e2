"""Readers for EmoContext (SemEval-2019 Task 3) and the emotion-NLP CSV, plus the task's metric."""
import csv
import os

LABELS = ("others", "happy", "sad", "angry")  # emo-mobilebert's label order
LABEL_ID = {name: i for i, name in enumerate(LABELS)}
EMOTION_IDS = (1, 2, 3)

# emotion-NLP has eight emotions; only three have an EmoContext counterpart, the rest are `others`.
EMOTION_NLP_MAP = {"joy": "happy", "sadness": "sad", "anger": "angry"}


class DataMissing(Exception):
    pass


def require_file(path):
    if not os.path.isfile(path):
        raise DataMissing(f"{path}: not found (the data lives in the project's shared data folder, "
                          f"see its README; pass --data DIR)")
    return path


def emocontext_text(turn1, turn2, turn3):
    return turn1 + " " + turn2 + " " + turn3


def read_emocontext(path):
    """Returns [(id, text, label_id)]; the label is -1 when the file has no usable label column."""
    rows = []
    with open(require_file(path), encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    header = lines[0].rstrip("\r").split("\t")
    if header[:4] != ["id", "turn1", "turn2", "turn3"]:
        raise ValueError(f"{path}: expected header 'id<TAB>turn1<TAB>turn2<TAB>turn3<TAB>label', got {lines[0]!r}")
    for number, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) < 4:
            raise ValueError(f"{path}:{number}: expected 5 tab-separated fields, got {len(fields)}")
        label = LABEL_ID.get(fields[4], None) if len(fields) > 4 else -1
        if label is None:
            raise ValueError(f"{path}:{number}: unknown label {fields[4]!r} (expected one of {', '.join(LABELS)})")
        rows.append((fields[0], emocontext_text(fields[1], fields[2], fields[3]), label))
    return rows


def read_emotion_nlp(path):
    """Returns [(text, label_id)] with the eight emotions folded onto EmoContext's four labels."""
    rows = []
    with open(require_file(path), encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != ["Emotion", "Text"]:
            raise ValueError(f"{path}: expected header 'Emotion,Text', got {header}")
        for emotion, text in reader:
            rows.append((text, LABEL_ID[EMOTION_NLP_MAP.get(emotion, "others")]))
    return rows


def confusion_matrix(gold, predicted, n=len(LABELS)):
    matrix = [[0] * n for _ in range(n)]
    for g, p in zip(gold, predicted):
        matrix[g][p] += 1
    return matrix


def metrics(gold, predicted):
    """SemEval-2019 Task 3 scoring: micro P/R/F1 over happy/sad/angry (`others` predictions are not counted as
    positives, but an emotion predicted for an `others` row is a false positive), plus per-class numbers."""
    matrix = confusion_matrix(gold, predicted)
    n = len(LABELS)

    def prf(tp, predicted_count, gold_count):
        p = tp / predicted_count if predicted_count else 0.0
        r = tp / gold_count if gold_count else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    per_class = {}
    for c in range(n):
        tp = matrix[c][c]
        predicted_count = sum(matrix[g][c] for g in range(n))
        gold_count = sum(matrix[c])
        p, r, f = prf(tp, predicted_count, gold_count)
        per_class[LABELS[c]] = {"precision": p, "recall": r, "f1": f, "support": gold_count}
    tp = sum(matrix[c][c] for c in EMOTION_IDS)
    predicted_emotion = sum(matrix[g][c] for g in range(n) for c in EMOTION_IDS)
    gold_emotion = sum(sum(matrix[c]) for c in EMOTION_IDS)
    p, r, f = prf(tp, predicted_emotion, gold_emotion)
    total = len(gold)
    return {
        "rows": total,
        "accuracy": sum(matrix[c][c] for c in range(n)) / total if total else 0.0,
        "micro_precision": p, "micro_recall": r, "micro_f1": f,
        "per_class": per_class,
        "confusion_matrix": matrix,
        "labels": list(LABELS),
    }
