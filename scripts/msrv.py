#!/usr/bin/env python3
"""Checks each workspace crate's declared `rust-version` (its MSRV).

1. Every crate the member builds with (normal and build dependencies, not dev-dependencies, the
   workspace's default features, resolved by Cargo.lock) must declare a
   rust-version no newer than the member's own: a dependency that needs a newer
   compiler would make the declared MSRV false.
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


def main():
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--locked",
         "--filter-platform", host_triple()]))
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    toolchains = subprocess.run(["rustup", "toolchain", "list"], capture_output=True,
                                text=True).stdout
    failed = False
    for member_id in meta["workspace_members"]:
        member = packages[member_id]
        msrv = member.get("rust_version")
        if not msrv:
            print(f"{member['name']}: no rust-version declared")
            failed = True
            continue
        # Walk normal and build dependencies from the member.
        seen, stack, offenders, undeclared = set(), [member_id], [], []
        while stack:
            node = nodes[stack.pop()]
            for dep in node["deps"]:
                kinds = {k["kind"] for k in dep["dep_kinds"]}
                if kinds <= {"dev"}:
                    continue
                if dep["pkg"] in seen:
                    continue
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
                pkg = packages[dep["pkg"]]
                need = pkg.get("rust_version")
                if need is None:
                    undeclared.append(pkg["name"])
                elif version(need) > version(msrv):
                    offenders.append(f"{pkg['name']} {pkg['version']} needs {need}")
        print(f"{member['name']}: rust-version {msrv}; {len(seen)} dependencies checked"
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
