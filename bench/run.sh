#!/usr/bin/env bash
# Run cardnet's codec benches and the pyiso8583 comparison back to back, on this machine, and
# print a summary (ns per op, pyiso8583/cardnet ratios, the 1 µs and 20x goals).
# Figures are recorded in docs/benchmarks.md.
#
#   bash bench/run.sh            # full run (about 1.5 minutes)
#   QUICK=1 bash bench/run.sh    # shorter measurement, for checking the setup
set -euo pipefail
cd "$(dirname "$0")/.."

venv=bench/.venv
if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import iso8583' 2>/dev/null; then
    "$venv/bin/pip" install --quiet -r bench/requirements.txt
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket)' || true
rustc -V
"$venv/bin/python" -V

criterion_args=()
py_args=()
if [[ -n ${QUICK:-} ]]; then
    criterion_args=(--warm-up-time 1 --measurement-time 2)
    py_args=(--seconds 0.3 --repeat 3)
fi

echo "== cargo bench -p cardnet-iso8583 --bench codec -- ${criterion_args[*]}"
if ! cargo bench -p cardnet-iso8583 --bench codec -- "${criterion_args[@]}" >"$out/criterion.txt" 2>&1; then
    cat "$out/criterion.txt"
    exit 1
fi
grep -E -A1 '^[a-z_]+/[a-z0-9_]+ +time:' "$out/criterion.txt" | grep -v '^--$'

echo "== bench/.venv/bin/python bench/pyiso8583_cup_pos.py ${py_args[*]}"
"$venv/bin/python" bench/pyiso8583_cup_pos.py "${py_args[@]}" | tee "$out/pyiso8583.json"

target_dir=$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

echo "== summary"
"$venv/bin/python" - "$target_dir/criterion" "$out/pyiso8583.json" <<'EOF'
import json
import sys
from pathlib import Path

criterion, py = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())["results"]

def rust(name):
    # Criterion's slope estimate (the figure in the middle of "time: [...]").
    estimates = json.loads((criterion / name / "new" / "estimates.json").read_text())
    return (estimates.get("slope") or estimates["mean"])["point_estimate"]

names = ["unpack/v1_framed", "unpack/v1_body", "unpack/v1_into", "pack/v1_framed", "pack/v1_body", "unpack/signon", "pack/signon"]
cardnet = {name: rust(name) for name in names}
for name in names:
    goal = "" if "v1" not in name else ("  (<= 1 us: ok)" if cardnet[name] <= 1000 else "  (<= 1 us: MISSED)")
    print(f"cardnet {name:18} {cardnet[name]:9.1f} ns{goal}")
for name, result in py.items():
    print(f"pyiso8583 {name:16} {result['ns_per_op']:9.1f} ns")
pairs = [
    ("decode V1 body", "decode_v1_body", "unpack/v1_body"),
    ("encode V1 body", "encode_v1_body", "pack/v1_body"),
    ("decode sign-on", "decode_signon", "unpack/signon"),
    ("encode sign-on", "encode_signon", "pack/signon"),
]
for label, py_name, rust_name in pairs:
    ratio = py[py_name]["ns_per_op"] / cardnet[rust_name]
    goal = "  (>= 20x: ok)" if ratio >= 20 else "  (>= 20x: MISSED)" if py_name == "decode_v1_body" else ""
    print(f"pyiso8583/cardnet {label}: {ratio:5.1f}x{goal}")
EOF
