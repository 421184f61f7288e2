#!/usr/bin/env bash
# C++ classic-ML models vs the same scikit-learn models in Python, same run, same batches, one thread each:
# vectorize + predict on batches of 100 and 1000 texts of the emotion data set. Writes bench/out/classic.md.
#
#   bench/classic.sh            (needs ../shared/data/emotion-nlp, models/classic from tools/train_classic.py,
#                                python3-sklearn: tools/setup.sh train)
# Env: CLASSIC_DATA, CLASSIC_MODELS, BUILD_DIR, CLASSIC_MODELS_LIST (default: all six)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${CLASSIC_DATA:-$root/../shared/data/emotion-nlp/emotion_dataset_raw.csv}"
models="${CLASSIC_MODELS:-$root/models/classic}"
build="${BUILD_DIR:-$root/build}"
kinds="${CLASSIC_MODELS_LIST:-kmeans gmm pca logreg svm random-forest}"
py=/usr/bin/python3
out="$root/bench/out"

[ -f "$data" ] || { echo "classic.sh: $data not found: this benchmark needs the emotion-nlp data set (../shared/data)" >&2; exit 2; }
"$py" -c 'import sklearn' 2>/dev/null || { echo "classic.sh: scikit-learn missing (tools/setup.sh train)" >&2; exit 2; }
for k in $kinds; do
  [ -f "$models/$k/model.json" ] || { echo "classic.sh: $models/$k missing: run /usr/bin/python3 tools/train_classic.py" >&2; exit 2; }
done
cmake --build "$build" --target classic_bench -j2 >/dev/null
mkdir -p "$out"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1  # scikit-learn on one thread, like the C++

texts="$out/classic_texts.jsonl"
"$py" - "$data" "$texts" <<'PY'
import json, sys
sys.path.insert(0, "tools")
import classic_format as cf
_, texts = cf.read_emotion_csv(sys.argv[1])
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for t in texts:
        f.write(json.dumps(t, ensure_ascii=False) + "\n")
PY

results="$out/classic_results.jsonl"
: > "$results"
for k in $kinds; do
  for batch in 100 1000; do
    reps=$([ "$batch" = 100 ] && echo 30 || echo 10)
    cpp=$("$build/bench/classic_bench" "$models/$k" "$texts" "$batch" "$reps")
    sk=$(cd "$root" && "$py" - "$models/$k" "$texts" "$batch" "$reps" <<'PY'
import json, statistics, sys, time
sys.path.insert(0, "tools")
import classic_format as cf
model_dir, texts_path, batch, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
texts = [json.loads(l) for l in open(texts_path, encoding="utf-8")]
meta, vec, est = cf.load_sklearn(model_dir)
dense = meta["vectorizer"]["dense_input"]
kind = meta["kind"]
def run(b):
    X = vec.transform(b)
    if dense:
        X = X.toarray().astype("float64")
    return est.transform(X) if kind == "pca" else est.predict(X)
run(texts[:batch])
times, cpu = [], []
for r in range(reps):
    b = [texts[(r * batch + i) % len(texts)] for i in range(batch)]
    t0, c0 = time.perf_counter(), time.thread_time()
    run(b)
    cpu.append((time.thread_time() - c0) * 1000)
    times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"median_ms": statistics.median(times), "min_ms": min(times), "median_cpu_ms": statistics.median(cpu)}))
PY
)
    echo "{\"kind\": \"$k\", \"batch\": $batch, \"cpp\": $cpp, \"sklearn\": $sk}" >> "$results"
    echo "classic.sh: $k batch $batch done" >&2
  done
done

"$py" - "$results" "$out/classic.md" <<'PY'
import json, platform, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
import sklearn, numpy
lines = [
    "| model | batch | C++ CPU ms/batch | scikit-learn CPU ms/batch | scikit-learn / C++ (CPU) | C++ wall ms | scikit-learn wall ms |",
    "|---|---|---|---|---|---|---|",
]
for r in rows:
    c, s = r["cpp"]["median_cpu_ms"], r["sklearn"]["median_cpu_ms"]
    lines.append(f"| {r['kind']} | {r['batch']} | {c:.2f} | {s:.2f} | {s / c:.1f}x | "
                 f"{r['cpp']['median_ms']:.2f} | {r['sklearn']['median_ms']:.2f} |")
note = (f"\nMedians over 30 batches (100 texts) / 10 batches (1000 texts) after one warm-up batch; vectorize + "
        f"predict, one thread on each side (OMP/OpenBLAS threads = 1). CPU = the thread's CPU time (robust on a "
        f"shared machine); wall = elapsed. scikit-learn {sklearn.__version__}, numpy {numpy.__version__}; "
        f"CPU: {cpu}. Command: `bench/classic.sh`.\n")
text = "\n".join(lines) + "\n" + note
open(sys.argv[2], "w").write(text)
print(text)
PY
