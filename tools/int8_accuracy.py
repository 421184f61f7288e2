#!/usr/bin/python3
"""int8 vs fp32 on EmoContext: runs `mlfaas eval` at both precisions and compares them row by row.

usage: tools/int8_accuracy.py [--mlfaas BIN] [--model DIR] [--data FILE] [--write-models-md]
Prints a markdown table; --write-models-md appends/replaces the section "int8 vs fp32" in docs/MODELS.md.
Exit 1 when a gate fails (same label >= 99% of rows, max |dp| <= 0.05, micro-F1 within 0.005).
"""
import argparse, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_eval(binary, model, data, precision, tmp):
    preds = os.path.join(tmp, precision + ".jsonl")
    out = subprocess.run([binary, "eval", "--model", model, "--data", "emocontext", data, "--precision", precision,
                          "--json", "--predictions", preds], check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in open(preds)]
    return json.loads(out), rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlfaas", default=os.path.join(ROOT, "build", "mlfaas"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "emotion"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "emocontext", "test.txt"))
    ap.add_argument("--write-models-md", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(a.data):
        sys.exit("int8_accuracy: %s is absent (the EmoContext test set lives in the shared folder)" % a.data)
    with tempfile.TemporaryDirectory() as tmp:
        m32, r32 = run_eval(a.mlfaas, a.model, a.data, "fp32", tmp)
        m8, r8 = run_eval(a.mlfaas, a.model, a.data, "int8", tmp)
    assert [r["id"] for r in r32] == [r["id"] for r in r8]
    same = sum(x["predicted"] == y["predicted"] for x, y in zip(r32, r8))
    dp = max(abs(x["probabilities"][k] - y["probabilities"][k]) for x, y in zip(r32, r8) for k in x["probabilities"])
    n = len(r32)
    agree = same / n
    df1 = abs(m8["micro_f1"] - m32["micro_f1"])
    ok = agree >= 0.99 and dp <= 0.05 and df1 <= 0.005
    table = "\n".join([
        "| | fp32 | int8 |",
        "|---|---|---|",
        "| rows | %d | %d |" % (n, n),
        "| accuracy | %.4f | %.4f |" % (m32["accuracy"], m8["accuracy"]),
        "| micro-F1 (happy/sad/angry) | %.4f | %.4f |" % (m32["micro_f1"], m8["micro_f1"]),
        "| macro-F1 | %.4f | %.4f |" % (m32["macro_f1"], m8["macro_f1"]),
        "| same label as fp32 | | %d / %d (%.2f%%) |" % (same, n, 100 * agree),
        "| max \\|Δp\\| over rows and labels | | %.4f |" % dp,
        "| \\|Δ micro-F1\\| | | %.4f |" % df1,
        "| gates (≥ 99%% same, \\|Δp\\| ≤ 0.05, \\|ΔF1\\| ≤ 0.005) | | %s |" % ("pass" if ok else "FAIL"),
    ])
    print(table)
    if a.write_models_md:
        path = os.path.join(ROOT, "docs", "MODELS.md")
        text = open(path).read() if os.path.exists(path) else ""
        marker = "\n## int8 vs fp32\n"
        if marker in text:
            text = text[: text.index(marker)]
        text = text.rstrip("\n") + "\n" + marker + "\n" + (
            "The shipped emotion model on the EmoContext test set (%d rows), `mlfaas eval --precision fp32|int8`; "
            "written by `tools/int8_accuracy.py --write-models-md`. int8 = dynamic quantization of the encoder's "
            "linear layers (docs/INT8.md).\n\n" % n) + table + "\n"
        open(path, "w").write(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
