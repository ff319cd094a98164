"""State validation: peak memory and throughput of domain.states beside json.loads.

    python bench/state_validation.py [--mib 32] [--runs 3]

Each measurement runs in a fresh process that reads a prepared state file: teamgate's check
streams it in 1 MiB chunks, as the server reads a blob; json.loads gets the whole file as
bytes (as the server did before). "peak growth" is the process's peak RSS (VmHWM) after the
check minus before it, so json.loads's figure includes the input itself (one state size).
Throughput is the state's size over the best of `--runs` wall times.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SHAPES = {
    # the case: a state made of empty objects (json.loads held ~25x its size)
    "empty objects": (b'{"resources": [', b"{},", b"{}]}"),
    "small objects": (b'{"resources": [', b'{"k": {"v": [1, 2]}},', b"{}]}"),
    "terraform-like": (b'{"version": 4, "resources": [', None, b"{}]}"),
    "long strings": (b'{"outputs": [', b'"' + b"x" * 65536 + b'",', b'""]}'),
}

RESOURCE = {
    "mode": "managed",
    "type": "aws_instance",
    "name": "web",
    "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
    "instances": [
        {
            "schema_version": 1,
            "attributes": {
                "ami": "ami-0c55b159cbfafe1f0",
                "id": "i-0123456789abcdef0",
                "tags": {"Name": "web", "team": "data"},
                "cpu_core_count": 2,
                "ebs_block_device": [{"volume_size": 8, "encrypted": True, "kms_key_id": None}],
                "network_interface": [{"device_index": 0, "network_card_index": 0}],
            },
            "sensitive_attributes": [],
            "dependencies": ["aws_security_group.web"],
        }
    ],
}

CHILD = r"""
import json, sys, time
from pathlib import Path

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")

how, name = sys.argv[1], sys.argv[2]
from teamgate.domain.states import check_json
before = hwm()
start = time.perf_counter()
if how == "json.loads":
    json.loads(Path(name).read_bytes())
else:
    with open(name, "rb") as f:
        check_json(iter(lambda: f.read(1 << 20), b""))
print(time.perf_counter() - start, hwm() - before)
"""


def make_state(path: Path, shape: str, size: int) -> int:
    head, item, tail = SHAPES[shape]
    if item is None:
        item = json.dumps(RESOURCE, indent=2).encode() + b","
    count = max(1, (size - len(head) - len(tail)) // len(item))
    with path.open("wb") as f:
        f.write(head)
        for _ in range(count):
            f.write(item)
        f.write(tail)
    return path.stat().st_size


def measure(how: str, path: Path, runs: int) -> tuple[float, int]:
    best, peak = float("inf"), 0
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, how, str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        best, peak = min(best, float(out[0])), max(peak, int(out[1]))
    return best, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=32, help="state size in MiB")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (best time)")
    args = parser.parse_args()
    print(f"State validation, {args.mib} MiB states, best of {args.runs} runs")
    print(f"{'state':<16} {'checker':<22} {'seconds':>8} {'MB/s':>7} {'peak growth':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in SHAPES:
            path = Path(tmp) / "state.json"
            size = make_state(path, shape, args.mib << 20)
            for how in ("teamgate check_json", "json.loads"):
                seconds, growth = measure(how, path, args.runs)
                print(
                    f"{shape:<16} {how:<22} {seconds:>8.2f} {size / seconds / 1e6:>7.1f} "
                    f"{growth / 2**20:>8.1f} MiB  ({growth / size:.2f}x the state)"
                )


if __name__ == "__main__":
    main()
