#!/usr/bin/env python3
"""The shape of the house, checked: no import cycle between the modules of any crate, and no
source file over 500 lines of non-test code unless its first lines say why.

A module is a file; `a` depends on `b` when `a` names `crate::b`, `super::b` or `self::b`
outside its test module, or names `m::b` after bringing module `m` in by name
(`use crate::{m}`). Naming an ancestor (the crate root, a parent `mod.rs`) is not a
dependency: children use their parent's items by design."""

import os
import re
import sys

CRATES = ["protocol", "ml", "agent", "coordinator", "tui", "tests"]
MAX_LINES = 500
REASON = re.compile(r"^//! (This file|Over \d+ lines|Long because)", re.M)


def modules(root):
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, root)[:-3].split(os.sep)
                if parts[-1] in ("mod", "lib", "main"):
                    parts = parts[:-1]
                found[tuple(parts)] = path
    return found


def non_test(text):
    match = re.search(r"^#\[cfg\(test\)\]\n(pub(\(crate\))? )?mod tests", text, re.M)
    return text if match is None else text[: match.start()]


def expand(prefix, body):
    """Paths named by a `{a, b::{c, d}}` group."""
    items, depth, current = [], 0, ""
    for ch in body:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        items.append(current.strip())
    paths = []
    for item in items:
        nested = re.match(r"([\w:]*?)::\{(.*)\}$", item, re.S)
        if nested:
            paths += expand(prefix + nested.group(1).split("::"), nested.group(2))
        else:
            paths.append(prefix + item.split("::"))
    return paths


def dependencies(mods):
    def resolve(path):
        for i in range(len(path), -1, -1):
            if tuple(path[:i]) in mods:
                return tuple(path[:i])
        return ()

    edges = {}
    for mod, path in mods.items():
        aliases = {}
        text = re.sub(r"//[^\n]*", "", non_test(open(path).read()))
        for m in re.finditer(r"\b(crate|super|self)::(\{[^;]*?\}|[\w:]+)", text):
            kind, rest = m.groups()
            start = {"crate": [], "self": list(mod), "super": list(mod[:-1])}[kind]
            if rest.startswith("{"):
                named = expand(start, rest[1:-1])
            else:
                named = [start + [s for s in rest.split("::") if s]]
            for target in map(resolve, named):
                if target != mod and target != mod[: len(target)]:
                    edges.setdefault(mod, set()).add(target)
                if target == tuple(target) and target and list(target) in named:
                    aliases[target[-1]] = list(target)
        # A module brought in by name (`use crate::{rollout}`) reaches further through it:
        # `rollout::controller::running` depends on `rollout::controller`.
        for m in re.finditer(r"(?<![\w:])(\w+)::([\w:]+)", text):
            name, rest = m.groups()
            if name not in aliases or name in ("crate", "super", "self"):
                continue
            target = resolve(aliases[name] + [s for s in rest.split("::") if s])
            if target != mod and target != mod[: len(target)]:
                edges.setdefault(mod, set()).add(target)
    return edges


def cycles(mods, edges):
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(10_000)
    for v in mods:
        if v not in index:
            visit(v)
    return found


def main():
    problems = []
    for crate in CRATES:
        mods = modules(os.path.join(crate, "src"))
        for component in cycles(mods, dependencies(mods)):
            names = " <-> ".join("::".join(m) or "crate" for m in component)
            problems.append(f"{crate}: import cycle: {names}")
        for crate_dir in (os.path.join(crate, "src"), os.path.join(crate, "tests")):
            for folder, _, files in os.walk(crate_dir):
                for name in files:
                    if not name.endswith(".rs"):
                        continue
                    path = os.path.join(folder, name)
                    text = open(path).read()
                    lines = non_test(text).count("\n")
                    if lines > MAX_LINES and not REASON.search("\n".join(text.split("\n")[:5])):
                        problems.append(f"{path}: {lines} lines of non-test code, and no reason at its top")
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(1)
    print("structure: no import cycles; no file over", MAX_LINES, "lines without a reason")


if __name__ == "__main__":
    main()
