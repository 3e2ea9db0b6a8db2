#!/usr/bin/env python3
"""Fails on an #include that goes against the layers of README.md's architecture table.

The table under "## Architecture" in README.md is the only statement of the layers: this script
parses it, so the prose and the check cannot drift. Each row is

    | `fathom_X` | folder/ | may use |

and the "may use" cell starts with a list, separated by commas or semicolons and ended by the
first colon, of what the target may use: the short name X of another `fathom_X` target of the
table (its folder may then be included), an outside library (Abseil, LibTorch, zlib: ignored
here), or the word "everything". Parenthesised remarks are ignored. A folder may include itself,
the folders its rows name and, transitively, whatever those may include (relaxed layering: a
layer may reach any layer below it). Several rows may share a folder (trainer/, launch/): their
lists are merged.

Every .h/.cc/.cu under the repository (not build*/, .venv*/, hidden folders, nor the folders in
EXEMPT, which may include anything) must sit in a folder of the table; each of its
`#include "..."` (and `#include <...>` naming a project folder) that names a folder of the table
must name an allowed one; an include naming another top-level folder of the repository (tests/,
bench/) is refused too. Includes of outside libraries (absl/, gtest/, google/, nlohmann/) pass.

The table itself is checked: every folder it names exists, a "may use" name that is a folder of
the repository but no target is reported, and the layers form no cycle.

Usage: tools/check_layers.py [--root DIR] [--print]
Prints one line per violation, `file:line: folder X may not include ...`, and exits 1 on any.
"""

import argparse
import os
import re
import sys

# Folders whose files may include anything. tests/ drives every layer from outside.
EXEMPT = ("tests/",)
SOURCE_SUFFIXES = (".h", ".cc", ".cu", ".cuh", ".hpp", ".cpp")
TABLE_HEADER = re.compile(r"^\|\s*target\s*\|\s*folder\s*\|\s*may use\s*\|\s*$")
INCLUDE = re.compile(r'^\s*#\s*include\s*(?:"([^"]+)"|<([^>]+)>)')


class TableError(Exception):
    pass


def normalise_folder(text):
    folder = text.strip().strip("`").strip()
    if not folder.endswith("/"):
        folder += "/"
    return folder


def parse_table(readme_path):
    """Returns rows [(target, folder, [names], line)] of the architecture table."""
    with open(readme_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    in_section = False
    rows = []
    for number, line in enumerate(lines, 1):
        if line.startswith("## "):
            if in_section and rows:
                break
            in_section = line.strip() == "## Architecture"
            continue
        if not in_section:
            continue
        if not rows and TABLE_HEADER.match(line):
            rows.append(None)  # header seen; the separator row follows
            continue
        if rows:
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if all(set(c) <= set("-: ") for c in cells):
                continue
            if len(cells) != 3:
                raise TableError(f"{readme_path}:{number}: a row of the architecture table needs 3 cells, "
                                 f"has {len(cells)}")
            target = cells[0].strip("`").strip()
            folder = normalise_folder(cells[1])
            uses = cells[2].split(":", 1)[0]
            uses = re.sub(r"\([^)]*\)", "", uses).replace("`", "")
            names = [n.strip() for n in re.split(r"[,;]", uses) if n.strip()]
            rows.append((target, folder, names, number))
    rows = [r for r in rows if r is not None]
    if not rows:
        raise TableError(f"{readme_path}: no '| target | folder | may use |' table under '## Architecture'")
    return rows


def build_layers(rows, root, readme_name):
    """Returns {folder: set of folders it may include (itself and the closure)}."""
    short = {}
    for target, folder, _, number in rows:
        if target.startswith("fathom_"):
            short[target[len("fathom_"):]] = folder
        if not os.path.isdir(os.path.join(root, folder)):
            raise TableError(f"{readme_name}:{number}: folder {folder} of {target} does not exist")
    folders = sorted({folder for _, folder, _, _ in rows})
    top_dirs = {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}
    direct = {folder: set() for folder in folders}
    for target, folder, names, number in rows:
        for name in names:
            if name == "everything":
                direct[folder].update(folders)
            elif name in short:
                direct[folder].add(short[name])
            elif name in top_dirs or name.rstrip("/") in top_dirs:
                raise TableError(f"{readme_name}:{number}: {target} may use '{name}', a folder but no "
                                 f"fathom_{name} target of the table")
    # Transitive closure, and a cycle check on the direct graph (a row naming "everything" sits
    # above every other, so it is left out of the cycle check).
    closure = {}
    for folder in folders:
        seen, stack = set(), [folder]
        while stack:
            f = stack.pop()
            if f in seen:
                continue
            seen.add(f)
            stack.extend(direct[f])
        closure[folder] = seen
    everything = {f for f in folders if direct[f] >= set(folders)}
    for a in folders:
        for b in closure[a]:
            if a != b and a not in everything and b not in everything and a in closure[b]:
                raise TableError(f"{readme_name}: layers {a} and {b} may include each other (a cycle)")
    return direct, closure


def folder_of(path, folders):
    """The longest folder of the table that holds path, or None."""
    best = None
    for folder in folders:
        if path.startswith(folder) and (best is None or len(folder) > len(best)):
            best = folder
    return best


def source_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        if rel_dir and any(rel_dir.startswith(e) for e in EXEMPT):
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and not (not rel_dir and d.startswith("build")))
        for name in sorted(filenames):
            if name.endswith(SOURCE_SUFFIXES):
                yield rel_dir + name


def check(root, print_table=False):
    readme = os.path.join(root, "README.md")
    try:
        rows = parse_table(readme)
        direct, closure = build_layers(rows, root, "README.md")
    except (OSError, TableError) as e:
        print(f"check_layers: {e}")
        return 1
    folders = sorted(closure)
    if print_table:
        for folder in folders:
            below = sorted(closure[folder] - {folder})
            print(f"{folder:14} may include {', '.join(below) if below else '(nothing but itself)'}")
    top_dirs = {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}
    violations = []
    files = includes = 0
    for path in source_files(root):
        files += 1
        folder = folder_of(path, folders)
        if folder is None:
            violations.append(f"{path}:1: folder {path.rsplit('/', 1)[0] + '/' if '/' in path else './'} "
                              f"is not in README.md's architecture table (a layer needs a row there)")
            continue
        allowed = ", ".join(sorted(closure[folder]))
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                quoted, angled = match.group(1), match.group(2)
                name = quoted if quoted is not None else angled
                if "/" not in name:
                    continue  # a file beside it, or a library header
                target = folder_of(name, folders)
                if target is None:
                    first = name.split("/", 1)[0]
                    # Another folder of the repository that is no layer (tests/, bench/); an
                    # outside library otherwise. <...> only counts for folders of the table.
                    if quoted is None or first not in top_dirs:
                        continue
                    includes += 1
                    violations.append(f"{path}:{number}: folder {folder} may not include {first}/ "
                                      f"(\"{name}\": not a layer) (allowed: {allowed})")
                    continue
                includes += 1
                if target not in closure[folder]:
                    violations.append(f"{path}:{number}: folder {folder} may not include {target} "
                                      f"(\"{name}\") (allowed: {allowed})")
    for v in violations:
        print(v)
    print(f"check_layers: {files} files, {includes} includes of project folders, {len(violations)} "
          f"violation{'' if len(violations) == 1 else 's'} ({len(folders)} layers from README.md)")
    return 1 if violations else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                        help="repository root (default: the one this script is in)")
    parser.add_argument("--print", dest="print_table", action="store_true",
                        help="print each layer and what it may include, from the table")
    args = parser.parse_args()
    return check(os.path.abspath(args.root), args.print_table)


if __name__ == "__main__":
    sys.exit(main())
