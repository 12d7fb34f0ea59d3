#!/usr/bin/env python3
"""Find import cycles between the source files of each crate.

For every crate root given (default: the workspace's `src/lib.rs` and
`ipcbench/src/main.rs`), the module tree is read from the `mod` declarations,
and each file gets an edge to every file whose module it names through a path
(`use crate::a::b`, `use super::x`, `crate::a::f()` in code). A module's
own submodules are containment, not use: a `mod.rs` may declare, re-export and
call what it contains, and its children may use it (`super::X`); a cycle is
two modules that are not one inside the other using each other, directly or
round a loop (`check` -> `report` -> `check`). Test-only code (`#[cfg(test)] mod ...`) is left out: tests may look
anywhere. Every strongly connected group of two or more files is a cycle and
is printed with its files and the paths that tie them; the exit status is 1
when there is any.

A cycle listed in KNOWN (with the reason it stays) is printed but does not fail.

Usage: scripts/import_cycles.py [CRATE_ROOT.rs ...]
"""

import os
import re
import sys

# Cycles known and accepted, each with why: printed, not failed on. Keep this empty where you can.
KNOWN = {}

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*([;{])", re.M)
CFG_TEST = re.compile(r"#\[cfg\(test\)\]\s*$")
PATH_ATTR = re.compile(r'#\[path\s*=\s*"([^"]+)"\]')


def strip_comments_and_strings(src):
    """Source with comments and string/char literals blanked (lines kept)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * src.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r(#*)"', src[i:i + 10]) and not re.match(r"\w", src[i - 1:i] or " "):
            hashes = re.match(r'r(#*)"', src[i:]).group(1)
            end = src.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + "\n" * src.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", src[i:i + 4]) or src.startswith("'\\u{", i):
            j = src.find("'", i + 1 if src[i + 1] != "\\" else i + 3)
            out.append("' '")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def block_end(src, open_brace):
    """Index just past the brace block that opens at `open_brace`."""
    depth = 0
    for j in range(open_brace, len(src)):
        if src[j] == "{":
            depth += 1
        elif src[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(src)


def is_test_only(src, decl_start):
    """Whether the attributes just above a `mod` declaration include cfg(test)."""
    before = src[:decl_start].rstrip().splitlines()
    while before and before[-1].strip().startswith("#["):
        if CFG_TEST.search(before[-1].strip()) or "cfg(all(test" in before[-1]:
            return True
        before.pop()
    return False


class Crate:
    def __init__(self, root):
        self.root = root
        self.files = {}  # module path tuple -> file
        self.sources = {}  # file -> stripped source (test blocks removed)
        self.children = {}  # file -> {child name: module path}
        self.modpath = {}  # file -> module path of the file's own module
        self.inline = {}  # module path of an inline module -> file holding it
        self.load(root, ())

    def load(self, path, modpath):
        with open(path, encoding="utf-8") as f:
            src = strip_comments_and_strings(f.read())
        self.files[modpath] = path
        self.modpath[path] = modpath
        self.children[path] = {}
        base = os.path.dirname(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem not in ("mod", "lib", "main") and path != self.root:
            base = os.path.join(base, stem)
        self.sources[path] = self.scan(src, path, modpath, base)

    def scan(self, src, path, modpath, base):
        """Load the modules `src` declares; return `src` without test-only blocks."""
        kept, pos = [], 0
        for m in MOD_DECL.finditer(src):
            if m.start() < pos:
                continue  # inside a block already consumed
            name, kind = m.group(1), m.group(2)
            child = modpath + (name,)
            test_only = is_test_only(src, m.start())
            if kind == "{":
                end = block_end(src, m.end() - 1)
                kept.append(src[pos:m.start()])
                if not test_only:
                    self.children[path][name] = child
                    self.inline[child] = path
                    self.files[child] = path
                    kept.append(self.scan(src[m.end():end - 1], path, child, os.path.join(base, name)))
                pos = end
                continue
            if test_only:
                continue
            attr = PATH_ATTR.search(src[max(0, m.start() - 200):m.start()])
            candidates = (
                [os.path.join(base, attr.group(1))]
                if attr
                else [os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")]
            )
            for c in candidates:
                if os.path.exists(c):
                    self.children[path][name] = child
                    self.load(c, child)
                    break
        kept.append(src[pos:])
        return "".join(kept)

    def resolve(self, modpath):
        """The file of the longest prefix of `modpath` that is a module."""
        for k in range(len(modpath), -1, -1):
            if modpath[:k] in self.files:
                return self.files[modpath[:k]]
        return None


def use_trees(src):
    """Each `use` declaration's tree expanded into flat paths of idents."""
    for m in re.finditer(r"\buse\s+([^;]+);", src):
        tree = re.sub(r"\s+as\s+" + IDENT, "", m.group(1))
        yield from expand(re.sub(r"\s+", "", tree))


def expand(tree):
    brace = tree.find("{")
    if brace < 0:
        yield [p for p in tree.split("::") if p]
        return
    prefix = [p for p in tree[:brace].split("::") if p]
    inner = tree[brace + 1:tree.rfind("}")]
    depth, start = 0, 0
    parts = []
    for i, c in enumerate(inner):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    for part in parts:
        if not part:
            continue
        for rest in expand(part):
            yield prefix + rest


def referenced(crate, path):
    """(target file, path text) for every module path the file names."""
    src = crate.sources[path]
    here = crate.modpath[path]
    children = crate.children[path]
    found = []

    def absolute(parts, scope):
        if not parts:
            return None
        head, rest = parts[0], parts[1:]
        if head == "crate":
            return tuple(rest)
        if head == "self":
            return scope + tuple(rest)
        if head == "super":
            up = scope
            while parts and parts[0] == "super":
                up, parts = up[:-1], parts[1:]
            return up + tuple(p for p in parts if p != "self")
        if head in crate.children.get(crate.files.get(scope), {}):
            return scope + tuple(parts)
        return None

    for parts in use_trees(src):
        found.append((absolute(parts, here), "::".join(parts)))
    code = re.sub(r"\buse\s+[^;]+;", "", src)
    for m in re.finditer(r"(?<![:\w])((?:crate|super|self)(?:::" + IDENT + r")+)", code):
        found.append((absolute(m.group(1).split("::"), here), m.group(1)))
    for name in children:
        for m in re.finditer(r"(?<![:\w])" + name + r"((?:::" + IDENT + r")+)", code):
            parts = [name] + m.group(1).split("::")[1:]
            found.append((here + tuple(parts), "::".join(parts)))
    out = []
    for target, text in found:
        if target is None:
            continue
        k = len(target)
        while k and target[:k] not in crate.files:
            k -= 1
        out.append((target[:k], text))
    return out


def strongly_connected(graph):
    """Tarjan's algorithm, iterative; groups of two or more nodes."""
    index, low, on, stack, groups, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    group.append(w)
                    if w == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    roots = argv[1:] or [os.path.join(repo, "src", "lib.rs"), os.path.join(repo, "ipcbench", "src", "main.rs")]
    total = 0
    for root in roots:
        crate = Crate(root)
        # layers[parent][child] = {sibling child it uses}; why[(parent, a, b)] = evidence
        layers, why = {}, {}
        for f, modpath in crate.modpath.items():
            for target, text in referenced(crate, f):
                common = 0
                while common < min(len(modpath), len(target)) and modpath[common] == target[common]:
                    common += 1
                if common == len(modpath) or common == len(target):
                    continue  # one contains the other: containment or context
                parent = modpath[:common]
                a, b = modpath[common], target[common]
                layers.setdefault(parent, {}).setdefault(a, set()).add(b)
                why.setdefault((parent, a, b), f"{os.path.relpath(f, repo)}: {text}")
        name = lambda parent, m: "::".join(("crate",) + parent + (m,))  # noqa: E731
        cycles = []
        for parent in sorted(layers):
            for group in strongly_connected(layers[parent]):
                cycles.append((parent, group))
        print(f"{os.path.relpath(root, repo)}: {len(crate.sources)} files")
        for parent, group in cycles:
            names = tuple(name(parent, m) for m in group)
            if names in KNOWN:
                print("  known cycle, accepted: " + " <-> ".join(names) + f"\n    ({KNOWN[names]})")
                continue
            total += 1
            print("  cycle: " + " <-> ".join(names))
            for a in group:
                for b in sorted(layers[parent][a] & set(group)):
                    print(f"    {name(parent, a)} uses {name(parent, b)} ({why[(parent, a, b)]})")
    if total:
        print(f"{total} import cycle(s): let data flow one way (move the shared item down a layer)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
