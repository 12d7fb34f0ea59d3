#!/usr/bin/env python3
# Usage: cargo +nightly rustdoc --lib --features tokio,bytemuck -- -Z unstable-options --output-format json
#        python3 scripts/public-api-count.py target/doc/mempipe.json [list]
"""Counts a crate's public API from rustdoc JSON: items with a public path
(modules, types, traits, free functions, constants) and, separately, the
members users see on them (inherent methods, enum variants, public fields).
Doc-hidden items are not in the JSON, so they are not counted."""
import json, sys, collections
doc = json.load(open(sys.argv[1]))
index = doc["index"]
root = doc["root"]
kinds = collections.Counter()
members = collections.Counter()
paths = []
def walk(mid, prefix):
    item = index[str(mid)] if str(mid) in index else index.get(mid)
    if item is None:
        return
    inner = item["inner"]
    kind = next(iter(inner))
    name = item.get("name")
    if kind == "module":
        for c in inner["module"]["items"]:
            walk(c, prefix + [name])
        if mid != root:
            kinds["module"] += 1
            paths.append("::".join(prefix + [name]))
        return
    if kind == "use":
        u = inner["use"]
        if u.get("id") is not None and not u.get("is_glob"):
            target = index.get(str(u["id"]))
            if target is not None:
                tk = next(iter(target["inner"]))
                kinds[tk] += 1
                paths.append("::".join(prefix + [u["name"]]) + f"  ({tk}, re-export)")
                count_members(target)
        return
    kinds[kind] += 1
    paths.append("::".join(prefix + [name]) + f"  ({kind})")
    count_members(item)
seen_members = set()
def count_members(item):
    if item["id"] in seen_members:
        return
    seen_members.add(item["id"])
    inner = item["inner"]
    kind = next(iter(inner))
    body = inner[kind]
    if kind == "enum":
        members["variant"] += len(body["variants"])
    if kind == "struct":
        k = body["kind"]
        if isinstance(k, dict) and "plain" in k:
            members["field"] += sum(1 for f in k["plain"]["fields"] if index.get(str(f), {}).get("visibility") == "public")
    for impl_id in body.get("impls", []):
        impl = index.get(str(impl_id))
        if impl is None:
            continue
        ib = impl["inner"]["impl"]
        if ib.get("trait") is None:
            for m in ib["items"]:
                mi = index.get(str(m))
                if mi and mi.get("visibility") == "public":
                    members["inherent method/const"] += 1
walk(root, [])
total_paths = sum(kinds.values())
print(f"public paths: {total_paths} {dict(kinds)}")
print(f"members: {sum(members.values())} {dict(members)}")
print(f"total: {total_paths + sum(members.values())}")
if len(sys.argv) > 2:
    print("\n".join(sorted(paths)))
