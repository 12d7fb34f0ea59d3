#!/usr/bin/env python3
"""Checks each workspace crate's declared `rust-version` (its MSRV).

1. Every crate the member builds with (normal and build dependencies, not
   dev-dependencies, resolved by Cargo.lock as `cargo tree -e normal,build`
   does) must declare a rust-version no newer than the member's own: a
   dependency that needs a newer compiler would make the declared MSRV false.
   This holds for the default features and for each optional feature, one at a
   time; a feature whose crates need newer Rust names that version in
   `[package.metadata.msrv.features]` (and its docs say so), and is checked
   against it instead.
2. Where the exact toolchain is installed (`rustup toolchain list`), the member
   is also compiled with it (`cargo +VERSION check`); otherwise that step says
   it was skipped.
Standard-library APIs newer than the MSRV are caught by clippy's
`incompatible_msrv` lint, which reads the same field (CI runs clippy).
Exits 1 on any violation.
"""
import json
import subprocess
import sys


def version(v):
    parts = [int(p) for p in (v or "0").split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def host_triple():
    out = subprocess.check_output(["rustc", "-vV"], text=True)
    return next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("host: "))


def tree(member, feature):
    """(name, version) of every crate `member` builds with, with `feature` on."""
    args = ["cargo", "tree", "--locked", "-p", member, "-e", "normal,build",
            "--prefix", "none", "--format", "{p}", "--target", host_triple()]
    if feature:
        args += ["--features", feature]
    out = subprocess.check_output(args, text=True)
    found = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("v"):
            found.add((parts[0], parts[1][1:]))
    return found


def main():
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--locked",
         "--filter-platform", host_triple()]))
    packages = {(p["name"], p["version"]): p for p in meta["packages"]}
    toolchains = subprocess.run(["rustup", "toolchain", "list"], capture_output=True,
                                text=True).stdout
    failed = False
    for member_id in meta["workspace_members"]:
        member = next(p for p in meta["packages"] if p["id"] == member_id)
        msrv = member.get("rust_version")
        if not msrv:
            print(f"{member['name']}: no rust-version declared")
            failed = True
            continue
        declared = ((member.get("metadata") or {}).get("msrv") or {}).get("features") or {}
        features = [None] + sorted(f for f in member["features"] if f != "default")
        for feature in features:
            need_at_most = declared.get(feature, msrv)
            seen = tree(member["name"], feature) - {(member["name"], member["version"])}
            offenders, undeclared = [], []
            for key in sorted(seen):
                need = packages[key].get("rust_version") if key in packages else None
                if need is None:
                    undeclared.append(key[0])
                elif version(need) > version(need_at_most):
                    offenders.append(f"{key[0]} {key[1]} needs {need}")
            what = f"feature {feature}" if feature else "default features"
            print(f"{member['name']} ({what}): rust-version {need_at_most}; "
                  f"{len(seen)} dependencies checked"
                  + (f" ({len(undeclared)} declare none)" if undeclared else ""))
            for o in offenders:
                print(f"  too new: {o}")
                failed = True
        if f"{msrv}-" in toolchains or toolchains.startswith(msrv):
            r = subprocess.run(["cargo", f"+{msrv}", "check", "--locked", "-p", member["name"]])
            failed |= r.returncode != 0
        else:
            print(f"  toolchain {msrv} not installed: compile check skipped "
                  f"(install it with `rustup toolchain install {msrv}` to run it)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
