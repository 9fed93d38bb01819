#!/usr/bin/env python3
"""Structure checks of src/ (see ARCHITECTURE.md): no import circle between modules, no function
over 120 lines outside tests. Prints what it finds; exits 1 if either rule is broken.

Modules are files (src/a/b.rs and src/a/b/mod.rs are `a::b`). An edge a → b is any path to b
(or into it) in a's non-test code: `crate::b::…`, `super::…`, `self::…` and child modules named
at the start of a path. Test code (`#[cfg(test)] mod …` blocks and tests.rs files) is skipped.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
MAX_FN_LINES = 120


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["lib"], ["main"]):
        return ()
    return tuple(rel)


def strip_tests(text):
    """The text without `#[cfg(test)]` items (a brace-matched block after the attribute)."""
    out, i = [], 0
    while True:
        j = text.find("#[cfg(test)]", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        k = text.find("{", j)
        semi = text.find(";", j)
        if semi >= 0 and (k < 0 or semi < k):
            i = semi + 1
            continue
        depth = 0
        for m in range(k, len(text)):
            if text[m] == "{":
                depth += 1
            elif text[m] == "}":
                depth -= 1
                if depth == 0:
                    break
        i = m + 1


def strip_comments_and_strings(text):
    """`text` with comments removed and string and char literals emptied (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif re.match(r'b?r#*"', text[i:i + 20]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'b?r(#*)"', text[i:])
            close = '"' + m.group(1)
            j = text.find(close, i + m.end())
            j = n if j < 0 else j + len(close)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(?:\\u\{[0-9a-fA-F]+\}|\\.|[^'\\])'", text[i:])
            if m:
                out.append("' '")
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


files = {}
for d, _, names in os.walk(ROOT):
    for n in names:
        if n.endswith(".rs"):
            p = os.path.join(d, n)
            files[module_of(p)] = p
modules = set(files)


def inline_modules(text):
    """The (start, end) spans of inline `mod name { … }` blocks of `text`."""
    spans = []
    for m in re.finditer(r"\bmod\s+\w+\s*\{", text):
        depth = 0
        for k in range(m.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            if depth == 0:
                break
        spans.append((m.start(), k))
    return spans


def resolve(mod, segs, nested=0):
    """The module a path starting with `segs` (as written in `mod`, inside `nested` inline
    modules) refers to, or None."""
    if not segs:
        return None
    while nested and segs and segs[0] == "super":
        segs, nested = segs[1:], nested - 1
    if nested:
        return None if segs[0] not in ("crate",) else resolve(mod, segs)
    if not segs:
        return mod
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = mod
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        rest = segs
    elif mod + (segs[0],) in modules:
        base, rest = mod, segs
    else:
        return None
    best = base
    for i in range(1, len(rest) + 1):
        if base + tuple(rest[:i]) in modules:
            best = base + tuple(rest[:i])
    return best


edges = {m: set() for m in modules}
long_fns = []
for mod, path in files.items():
    if path.endswith("tests.rs"):
        continue
    raw = open(path, encoding="utf-8").read()
    text = strip_comments_and_strings(strip_tests(raw))
    # `use a::{b, c::d}` groups: expand one level of braces.
    for m in re.finditer(r"\buse\s+([\w:]+)::\{([^;]*)\};", text):
        for part in re.split(r"[,\s]+", m.group(2).replace("{", " ").replace("}", " ")):
            if part and part not in ("self",):
                t = resolve(mod, m.group(1).split("::") + part.split("::"))
                if t is not None and t != mod:
                    edges[mod].add(t)
    spans = inline_modules(text)
    for m in re.finditer(r"\b((?:crate|super|self|[a-z_][a-z0-9_]*)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        nested = sum(1 for a, b in spans if a < m.start() < b)
        t = resolve(mod, m.group(1).split("::"), nested)
        if t is not None and t != mod:
            edges[mod].add(t)
    # Function lengths: `fn` at any indentation to its matching closing brace.
    lines = strip_comments_and_strings(strip_tests(raw)).split("\n")
    for i, line in enumerate(lines):
        if re.match(r"\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?fn\s+\w+", line):
            depth, started = 0, False
            for j in range(i, len(lines)):
                depth += lines[j].count("{") - lines[j].count("}")
                started = started or "{" in lines[j]
                if started and depth <= 0:
                    break
                if not started and lines[j].rstrip().endswith(";"):
                    break
            n = j - i + 1
            if n > MAX_FN_LINES:
                long_fns.append((n, os.path.relpath(path, os.path.join(ROOT, "..")), i + 1, line.strip()))

# Cycles: strongly connected components of more than one module.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]


def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            strong(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(comp)


sys.setrecursionlimit(10000)
for v in sorted(modules):
    if v not in index:
        strong(v)

name = lambda m: "::".join(m) or "crate"
ok = True
for comp in sccs:
    ok = False
    members = set(comp)
    print("import circle:", ", ".join(sorted(name(m) for m in comp)))
    for m in sorted(comp):
        for t in sorted(edges[m] & members):
            print(f"    {name(m)} -> {name(t)}")
for n, path, line, sig in sorted(long_fns, reverse=True):
    ok = False
    print(f"function of {n} lines (> {MAX_FN_LINES}): {path}:{line}: {sig}")
if ok:
    print(f"ok: {len(modules)} modules, no import circle, no function over {MAX_FN_LINES} lines outside tests")
sys.exit(0 if ok else 1)
