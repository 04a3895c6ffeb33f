"""Generate the benchmark's synthetic wheels, offline and deterministically.

Each wheel is a pure-Python package with many modules full of pseudo-random
string literals (base64 of seeded random bytes, so gzip/deflate gain little),
a few binary data files, a console script, and Requires-Dist links to its
neighbours. Same arguments, same bytes: fixed zip timestamps, sorted entries,
a seeded generator per wheel.

    python3 make_fixtures.py OUT_DIR --wheels 30 --files 170 --bytes 3600000
prints a JSON summary (wheels, names, files, installed bytes) on stdout.
"""
import argparse
import base64
import hashlib
import json
import os
import random
import sys
import zipfile

DATE = (2020, 1, 1, 0, 0, 0)
VERSION = "1.0"


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def module_source(rng, index, size):
    """A module of about `size` bytes: string constants plus a function that uses them."""
    lines = [f'"""Generated benchmark module {index}."""', ""]
    used = 0
    count = 0
    while used < size:
        chunk = min(4096, max(64, size - used))
        # base64 of random bytes: 6 bits of entropy per character.
        text = base64.b64encode(rng.randbytes(chunk * 3 // 4)).decode()
        line = f"DATA_{count} = {text!r}"
        lines.append(line)
        used += len(line) + 1
        count += 1
    names = ", ".join(f"DATA_{i}" for i in range(count))
    lines += ["", "", "def checksum():", f"    return sum(len(part) for part in ({names},))", ""]
    return "\n".join(lines).encode()


def make_wheel(out, index, count, files, total_bytes, seed):
    rng = random.Random(f"{seed}:{index}")
    name = f"bench-pkg-{index:02d}"
    dist = name.replace("-", "_")
    info = f"{dist}-{VERSION}.dist-info"
    # Sizes vary from wheel to wheel (0.5x .. 1.5x) so the set is not uniform.
    scale = 0.5 + rng.random()
    wheel_bytes = int(total_bytes * scale)
    wheel_files = max(4, int(files * scale))
    data_files = max(1, wheel_files // 20)
    modules = wheel_files - data_files - 2  # minus __init__.py and __main__.py
    data_share = 0.4  # of the wheel's bytes live in binary data files
    content = {}
    content[f"{dist}/__init__.py"] = (
        f'"""Benchmark package {name}."""\n\n__version__ = "{VERSION}"\n\n\n'
        "def main():\n"
        f'    print("{name}", __version__)\n'
        "    return 0\n"
    ).encode()
    content[f"{dist}/__main__.py"] = f"from {dist} import main\n\nraise SystemExit(main())\n".encode()
    per_module = int(wheel_bytes * (1 - data_share) / max(1, modules))
    subpackages = max(1, modules // 40)
    for m in range(modules):
        sub = f"{dist}/sub_{m % subpackages:02d}"
        if f"{sub}/__init__.py" not in content:
            content[f"{sub}/__init__.py"] = b""
        size = int(per_module * (0.5 + rng.random()))
        content[f"{sub}/mod_{m:04d}.py"] = module_source(rng, m, size)
    per_data = int(wheel_bytes * data_share / data_files)
    for d in range(data_files):
        content[f"{dist}/data/blob_{d:03d}.bin"] = rng.randbytes(int(per_data * (0.5 + rng.random())))

    requires = []
    if index > 0 and index % 5 != 0:
        requires.append(f"bench-pkg-{index - 1:02d}")
    if index >= 10 and index % 3 == 0:
        requires.append(f"bench-pkg-{index - 10:02d}")
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {VERSION}", "Summary: pypakr benchmark fixture"]
    metadata += [f"Requires-Dist: {spec}" for spec in requires]
    content[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    content[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: pypakr-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    scripts = [f"{name} = {dist}:main", f"{name}-alt = {dist}:main"]
    content[f"{info}/entry_points.txt"] = ("[console_scripts]\n" + "\n".join(scripts) + "\n").encode()
    record = [record_line(path, data) for path, data in sorted(content.items())]
    record.append(f"{info}/RECORD,,")
    content[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()

    target = os.path.join(out, f"{dist}-{VERSION}-py3-none-any.whl")
    partial = target + ".partial"
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path in sorted(content):
            entry = zipfile.ZipInfo(path, DATE)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, content[path])
    os.replace(partial, target)
    return {
        "name": name,
        "wheel": os.path.basename(target),
        "files": len(content),
        "installedBytes": sum(len(data) for data in content.values()),
        "wheelBytes": os.path.getsize(target),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--wheels", type=int, default=30)
    parser.add_argument("--files", type=int, default=170, help="average files per wheel")
    parser.add_argument("--bytes", type=int, default=3_600_000, help="average installed bytes per wheel")
    parser.add_argument("--seed", default="pypakr-bench-1")
    parser.add_argument("--first", type=int, default=0, help="make only the wheels from this index on (the rest are as in a full run)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    wheels = [make_wheel(args.out, i, args.wheels, args.files, args.bytes, args.seed) for i in range(args.first, args.wheels)]
    summary = {
        "wheels": wheels,
        "names": [w["name"] for w in wheels],
        "files": sum(w["files"] for w in wheels),
        "installedBytes": sum(w["installedBytes"] for w in wheels),
        "wheelBytes": sum(w["wheelBytes"] for w in wheels),
    }
    json.dump(summary, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
