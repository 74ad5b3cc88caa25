#!/usr/bin/env bash
# The checks that need a GPU, in one go (under 8 minutes on one H100-class GPU), ending in one
# table: synthesis throughput (fp32, bf16, compile=true; K = 1 and 4 identities) with the
# per-stage split, the CPU side (PNG writer threads, decode + crop loader workers), a training
# step, and DDP on the GPU (a training run with strategy=ddp on every GPU, up to 2, plus the
# multi-process tests).
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # from the repository root, mesynth installed
#
# PYTHON picks the interpreter (default: python). Every step has its own time limit; a step that
# fails or runs out of time is marked in the table and the others still run.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${1:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONWARNINGS=ignore
STATUS="$OUT/status.txt"
: > "$STATUS"

step() {  # step NAME SECONDS COMMAND...: run it, log to OUT/NAME.log, note ok/failed/timeout
  local name=$1 limit=$2
  shift 2
  local started=$SECONDS
  echo "== $name (limit ${limit}s)"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local code=$?
  local result=ok
  [ $code -eq 124 ] && result=timeout
  [ $code -ne 0 ] && [ $code -ne 124 ] && result="failed (exit $code)"
  echo "$name $((SECONDS - started)) $result" >> "$STATUS"
  echo "   $result in $((SECONDS - started)) s"
}

$PYTHON -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.__version__, torch.cuda.get_device_name())" || exit 1
GPUS=$($PYTHON -c "import torch; print(min(2, torch.cuda.device_count()))")

# Synthesis on the GPU: 256 frames per identity, batches of 16 (infer.py's auto on cuda).
SYNTH=(benchmarks/synth_scale.py --device cuda --only stages identities --frames 64
       --net-frames 32 --identities 4 --identity-frames 256)
step synth_fp32 60 $PYTHON "${SYNTH[@]}" --no-bf16 --json "$OUT/synth_fp32.json"
step synth_bf16 60 $PYTHON "${SYNTH[@]}" --bf16 --json "$OUT/synth_bf16.json"
step synth_compile 120 $PYTHON "${SYNTH[@]}" --bf16 --compile --json "$OUT/synth_compile.json"
# The CPU side of a GPU machine: PNG writer threads, decode + crop against loader workers.
step cpu_side 40 $PYTHON benchmarks/synth_scale.py --device cuda --only writer workers \
  --frames 256 --writer-frames 512 --writer-threads 1 2 4 8 16 --workers 0 2 4 8 \
  --batch-size 16 --json "$OUT/cpu_side.json"
step train_step 60 $PYTHON benchmarks/train_step.py --devices cuda \
  --precision 32-true bf16-mixed --json "$OUT/train_step.json"
# DDP on the GPU: a few training iterations of the small networks with strategy=ddp.
step ddp_train 60 $PYTHON - "$OUT" "$GPUS" <<'EOF'
import subprocess, sys
from pathlib import Path
from tests.training.conftest import make_face_folder
out, gpus = Path(sys.argv[1]), sys.argv[2]
faces = make_face_folder(out / "faces")
command = [sys.executable, "train.py", "experiment=smoke", f"data.root={faces}",
           "trainer.accelerator=gpu", f"trainer.devices={gpus}", "trainer.strategy=ddp",
           f"paths.output_dir={out / 'ddp_run'}"]
subprocess.run(command, check=True)
assert (out / "ddp_run" / "checkpoints" / "last.ckpt").is_file(), "no checkpoint written"
EOF
step ddp_tests 80 $PYTHON -m pytest -q -x -p no:cacheprovider tests/training/test_train.py \
  tests/synthesis/test_pipeline.py -k "ddp or two_processes"

$PYTHON - "$OUT" "$GPUS" <<'EOF'
import json, sys
from pathlib import Path
out, gpus = Path(sys.argv[1]), sys.argv[2]
status = {line.split()[0]: line.split(None, 2)[1:] for line in (out / "status.txt").read_text().splitlines()}
def load(name):
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None
rows = []
for name, label in (("synth_fp32", "fp32"), ("synth_bf16", "bf16"), ("synth_compile", "bf16 + compile")):
    data = load(name)
    if data is None:
        rows.append((f"synthesis {label}", "-", " ".join(status.get(name, ["-", "not run"])[1:])))
        continue
    ident, ms = data["identities"], data["stages"]["ms_per_frame"]
    fps = ident["frames_per_second"]
    rows.append((f"synthesis {label}, K = 1", "frames/s", f"{fps['separate_runs']:.0f}"))
    rows.append((f"synthesis {label}, K = 4 one pass", "frames/s", f"{fps['one_pass']:.0f} ({ident['speedup']:.2f}x)"))
    split = ", ".join(f"{k} {ms[k]:.2f}" for k in ("decode", "crop", "masks", "encoder", "decoder", "write"))
    rows.append((f"stages {label}", "ms/frame (batch 16)", split))
cpu = load("cpu_side")
if cpu:
    writer = ", ".join(f"{t}: {v:.0f}" for t, v in cpu["writer"]["frames_per_second"].items())
    workers = ", ".join(f"{w}: {v:.0f}" for w, v in cpu["workers"]["frames_per_second"].items())
    rows.append(("PNG writer threads", "frames/s", writer))
    rows.append(("decode + crop loader workers", "frames/s", workers))
for row in load("train_step") or []:
    rows.append((f"training step {row['precision']}", "it/s, images/s", f"{row['it/s']:.2f}, {row['images/s']:.1f} ({row['memory']})"))
rows.append((f"DDP training on {gpus} GPU(s)", "", " ".join(status.get("ddp_train", ["-", "not run"])[1:])))
rows.append(("DDP / multi-process tests", "", " ".join(status.get("ddp_tests", ["-", "not run"])[1:])))
print("\n| check | unit | result |\n| --- | --- | --- |")
for row in rows:
    print("| " + " | ".join(row) + " |")
total = sum(int(parts[0]) for parts in status.values())
print(f"\n{total} s in all; logs and JSON in {out}/")
EOF
