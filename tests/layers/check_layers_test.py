#!/usr/bin/env python3
"""Self-test of tools/check_layers.py on a small repository it writes into a temporary folder:
a README table of four layers, good and bad includes, then drifts of the table itself.

Usage: tests/layers/check_layers_test.py [path/to/check_layers.py]   (exit 0: all cases pass)
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "tools", "check_layers.py")

README = """# Fixture

## Architecture

Text before the table.

| target | folder | may use |
|---|---|---|
| `fathom_low` | low/ | Abseil: the bottom layer |
| `fathom_mid` | mid/ | low, zlib (when found); nothing else |
| `fathom_top` | top/ | mid: reaches low through it |
| `fathom_top_tool` | top/ | LibTorch |
| `fathom_app` | app/ | everything; the binary |
| `fathom_sub` | app/sub/ | low |

## Next section

| target | folder | may use |
|---|---|---|
| `fathom_ignored` | nowhere/ | not the architecture table |
"""

GOOD = {
    "low/low.h": '#include <vector>\n#include "absl/strings/str_cat.h"\n#include "low_detail.h"\n',
    "mid/mid.h": '#include "low/low.h"\n#include <zlib.h>\n',
    "top/top.cc": '#include "top/top.h"\n#include "mid/mid.h"\n#include "low/low.h"\n',
    "top/top.h": "// nothing\n",
    "app/app.cc": '#include "top/top.h"\n#include "app/sub/sub.h"\n#include "gtest/gtest.h"\n',
    "app/sub/sub.h": '#include "low/low.h"\n',
    # tests/ may include anything; build*/ and hidden folders are not read.
    "tests/any_test.cc": '#include "app/app.h"\n#include "tests/util.h"\n',
    "build/gen.h": '#include "app/app.h"\n',
    ".venv/x.h": '#include "app/app.h"\n',
    "bench/run.sh": "#!/bin/sh\n",
}

BAD = {
    "low/up.h": '#include "low/low.h"\n\n  #  include "mid/mid.h"\n',
    "mid/mid.cc": '#include "mid/mid.h"\n#include "top/top.h"\n#include <app/app.h>\n',
    "app/sub/sub.cc": '#include "app/sub/sub.h"\n#include "mid/mid.h"\n#include "bench/run.h"\n',
    "stray/stray.cc": '#include "low/low.h"\n',
}

EXPECTED_BAD = [
    'app/sub/sub.cc:2: folder app/sub/ may not include mid/ ("mid/mid.h") (allowed: app/sub/, low/)',
    'app/sub/sub.cc:3: folder app/sub/ may not include bench/ ("bench/run.h": not a layer) (allowed: app/sub/, low/)',
    'low/up.h:3: folder low/ may not include mid/ ("mid/mid.h") (allowed: low/)',
    'mid/mid.cc:2: folder mid/ may not include top/ ("top/top.h") (allowed: low/, mid/)',
    'mid/mid.cc:3: folder mid/ may not include app/ ("app/app.h") (allowed: low/, mid/)',
    "stray/stray.cc:1: folder stray/ is not in README.md's architecture table (a layer needs a row there)",
]

failures = []


def write_tree(root, files, readme=README):
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    with open(os.path.join(root, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme)


def run(root, *extra):
    result = subprocess.run([sys.executable, CHECK, "--root", root, *extra], capture_output=True, text=True)
    return result.returncode, result.stdout.splitlines(), result.stderr


def expect(name, condition, detail):
    print(f"{'ok  ' if condition else 'FAIL'} {name}")
    if not condition:
        print(detail)
        failures.append(name)


with tempfile.TemporaryDirectory() as tmp:
    good = os.path.join(tmp, "good")
    write_tree(good, GOOD)
    rc, out, err = run(good, "--print")
    expect("good tree passes", rc == 0 and out and out[-1].endswith("0 violations (5 layers from README.md)"),
           f"rc {rc}\n{chr(10).join(out)}\n{err}")
    expect("--print shows the closure", "top/           may include low/, mid/" in out
           and any(line.startswith("app/ ") and "top/" in line and "app/sub/" in line for line in out),
           "\n".join(out))

    bad = os.path.join(tmp, "bad")
    write_tree(bad, {**GOOD, **BAD})
    rc, out, err = run(bad)
    violations = [line for line in out if not line.startswith("check_layers:")]
    expect("bad includes fail with exit 1", rc == 1, f"rc {rc}\n{err}")
    expect("each bad include is named", violations == EXPECTED_BAD,
           "got:\n" + "\n".join(violations) + "\nexpected:\n" + "\n".join(EXPECTED_BAD))
    expect("summary counts them", out and out[-1].startswith("check_layers:") and " 6 violations " in out[-1],
           "\n".join(out))

    drifts = {
        "a folder of the table that does not exist":
            (README.replace("| app/sub/ |", "| app/gone/ |"), "folder app/gone/ of fathom_sub does not exist"),
        "a may-use name that is a folder but no target":
            (README.replace("| low, zlib", "| low, bench, zlib"), "may use 'bench', a folder but no fathom_bench"),
        "a cycle":
            (README.replace("| Abseil: the bottom", "| top: the bottom"), "may include each other (a cycle)"),
        "no table":
            (README.replace("## Architecture", "## Design"), "no '| target | folder | may use |' table"),
    }
    for name, (readme, message) in drifts.items():
        root = os.path.join(tmp, name.replace(" ", "_"))
        write_tree(root, GOOD, readme)
        rc, out, err = run(root)
        expect(f"table drift: {name}", rc == 1 and any(message in line for line in out),
               f"rc {rc}\n{chr(10).join(out)}\n{err}")

print(f"check_layers_test: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
