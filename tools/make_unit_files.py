#!/usr/bin/env python3
"""Generate the Vietnamese administrative-unit files in confserver/rooms/data/.

Developer tool only: the product never imports this script nor the
``vietnam-provinces`` package (GPL-3.0) it reads.  The script is stdlib only;
it reads the package's shipped JSON data file by path and does not import it.

How to run (from the repository root, with throwaway venvs outside the repo):

    python3 -m venv /tmp/vpold && /tmp/vpold/bin/pip install 'vietnam-provinces==0.6.0'
    python3 -m venv /tmp/vpnew && /tmp/vpnew/bin/pip install 'vietnam-provinces==2025.10.1'
    python3 tools/make_unit_files.py --old /tmp/vpold --new /tmp/vpnew
    python3 tools/make_unit_files.py --check          # re-verify the written files

``--old`` / ``--new`` accept a venv directory, a site-packages directory, the
installed ``vietnam_provinces`` package directory, or the
``nested-divisions.json`` file itself.  ``--old`` must hold the pre-July-2025
structure (0.6.x: province -> district -> commune), ``--new`` the 2025
structure (2025.x / 2026.x: province -> commune).

Output (JSON Lines, UTF-8, one object per line, parents before children):

    {"code": "VN", "name": "Trung ương", "type": "trung_uong", "parent": null}
    {"code": "46", "name": "Thành phố Huế", "type": "thanh_pho_trung_uong", "parent": "VN"}

Codes are the General Statistics Office codes, zero-padded to 2 (province),
3 (district) and 5 (commune) digits.  Names are NFC, with the division word.
Types are derived from the name's division word (the 0.6.0 data's own
``division_type`` field is degenerate: every province "tỉnh", every district
"huyện", every commune "xã"); for the 2025 data the package's
``division_type`` is cross-checked against the name.
"""

import argparse
import glob
import json
import os
import re
import sys
import unicodedata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "confserver", "rooms", "data")

CENTRAL = {"code": "VN", "name": "Trung ương", "type": "trung_uong", "parent": None}
HUE = "46"
CODE_WIDTH = {1: 2, 2: 3, 3: 5}

# Division word at the start of a name -> type, per level.
# Level 1 = province, 2 = district (pre-2025 only), 3 = commune.
PREFIX_TYPES = {
    1: [("Thành phố", "thanh_pho_trung_uong"), ("Tỉnh", "tinh")],
    2: [("Thành phố", "thanh_pho"), ("Thị xã", "thi_xa"), ("Quận", "quan"), ("Huyện", "huyen")],
    3: [("Thị trấn", "thi_tran"), ("Phường", "phuong"), ("Xã", "xa"), ("Đặc khu", "dac_khu")],
}
# The package's division_type values (2025 releases) -> type.
PACKAGE_TYPES = {
    "tỉnh": "tinh",
    "thành phố trung ương": "thanh_pho_trung_uong",
    "thành phố": "thanh_pho",
    "thị xã": "thi_xa",
    "quận": "quan",
    "huyện": "huyen",
    "xã": "xa",
    "phường": "phuong",
    "thị trấn": "thi_tran",
    "đặc khu": "dac_khu",
}
ALL_TYPES = {"trung_uong"} | set(PACKAGE_TYPES.values())


class Problems:
    def __init__(self):
        self.notes = []  # fixed silently but worth reporting
        self.errors = []  # make the run fail

    def note(self, msg):
        self.notes.append(msg)

    def error(self, msg):
        self.errors.append(msg)


def find_data(arg):
    """Return (nested-divisions.json path, version, data_version) for a --old/--new argument."""
    if os.path.isfile(arg):
        data = arg
        pkg = os.path.dirname(os.path.dirname(data))
    else:
        candidates = [
            os.path.join(arg, "data", "nested-divisions.json"),
            os.path.join(arg, "vietnam_provinces", "data", "nested-divisions.json"),
        ] + sorted(
            glob.glob(
                os.path.join(
                    arg, "lib", "python*", "site-packages", "vietnam_provinces", "data", "nested-divisions.json"
                )
            )
        )
        found = [c for c in candidates if os.path.isfile(c)]
        if not found:
            sys.exit("no vietnam_provinces/data/nested-divisions.json under %s" % arg)
        data = found[0]
        pkg = os.path.dirname(os.path.dirname(data))
    version = data_version = "?"
    init = os.path.join(pkg, "__init__.py")
    if os.path.isfile(init):
        with open(init, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", text, re.M)
        version = m.group(1) if m else "?"
        m = re.search(r"^__data_version__\s*=\s*['\"]([^'\"]+)", text, re.M)
        data_version = m.group(1) if m else "?"
    return data, version, data_version


def clean_name(raw, level, code, probs, is_2025_province_type=None):
    """NFC, trimmed, single-spaced name that starts with its division word; returns (name, type)."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if name != raw:
        probs.note("code %s: name %r normalised to %r" % (code, raw, name))
    for word, typ in PREFIX_TYPES[level]:
        if name.startswith(word + " "):
            return name, typ
    # Division word present but wrongly capitalised, e.g. "Thành Phố Bắc Kạn".
    for word, typ in PREFIX_TYPES[level]:
        if name.lower().startswith(word.lower() + " "):
            fixed = word + name[len(word) :]
            probs.note("code %s: name %r recased to %r" % (code, name, fixed))
            return fixed, typ
    # 2025 province names come without "Tỉnh" (e.g. "An Giang"): add it from the package type.
    if level == 1 and is_2025_province_type == "tinh":
        return "Tỉnh " + name, "tinh"
    probs.error("code %s: cannot tell the type of %r (level %d)" % (code, name, level))
    return name, None


def unit(code, name, typ, parent):
    return {"code": code, "name": name, "type": typ, "parent": parent}


def pad(value, level):
    return str(int(value)).zfill(CODE_WIDTH[level])


def build_pre2025(tree, probs):
    provinces, districts, communes = [], [], []
    for p in tree:
        pcode = pad(p["code"], 1)
        name, typ = clean_name(p["name"], 1, pcode, probs)
        provinces.append(unit(pcode, name, typ, "VN"))
        for d in p.get("districts", []):
            dcode = pad(d["code"], 2)
            name, typ = clean_name(d["name"], 2, dcode, probs)
            districts.append(unit(dcode, name, typ, pcode))
            for w in d.get("wards", []):
                wcode = pad(w["code"], 3)
                name, typ = clean_name(w["name"], 3, wcode, probs)
                communes.append(unit(wcode, name, typ, dcode))
        if p.get("wards"):
            probs.error("province %s has communes directly under it in pre-2025 data" % pcode)
    return provinces, districts, communes


def build_2025(tree, probs):
    provinces, communes = [], []
    for p in tree:
        pcode = pad(p["code"], 1)
        pkg_type = PACKAGE_TYPES.get(p.get("division_type"))
        name, typ = clean_name(p["name"], 1, pcode, probs, pkg_type)
        if pkg_type != typ:
            probs.error("province %s: package type %r vs name %r" % (pcode, p.get("division_type"), name))
        provinces.append(unit(pcode, name, typ, "VN"))
        for w in p.get("wards", []):
            wcode = pad(w["code"], 3)
            name, typ = clean_name(w["name"], 3, wcode, probs)
            pkg_type = PACKAGE_TYPES.get(w.get("division_type"))
            if pkg_type != typ:
                probs.error("commune %s: package type %r vs name %r" % (wcode, w.get("division_type"), name))
            communes.append(unit(wcode, name, typ, pcode))
        if p.get("districts"):
            probs.error("province %s has districts in 2025 data" % pcode)
    return provinces, [], communes


def ordered(provinces, districts, communes, only_province=None):
    if only_province is not None:
        provinces = [u for u in provinces if u["code"] == only_province]
        districts = [u for u in districts if u["parent"] == only_province]
        dcodes = {u["code"] for u in districts}
        communes = [u for u in communes if u["parent"] in dcodes or u["parent"] == only_province]

    def key(u):
        return u["code"]  # zero-padded, so string order == numeric order

    return [CENTRAL] + sorted(provinces, key=key) + sorted(districts, key=key) + sorted(communes, key=key)


def write_jsonl(path, units):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for u in units:
            f.write(json.dumps(u, ensure_ascii=False) + "\n")


LEVEL_OF_TYPE = {
    "trung_uong": 0,
    "tinh": 1,
    "thanh_pho_trung_uong": 1,
    "thanh_pho": 2,
    "thi_xa": 2,
    "quan": 2,
    "huyen": 2,
    "xa": 3,
    "phuong": 3,
    "thi_tran": 3,
    "dac_khu": 3,
}


def check_file(path):
    """Verify one file; return (counts by level, counts by type, errors)."""
    errors, seen = [], {}
    by_level, by_type = {}, {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            u = json.loads(line)
            if list(u) != ["code", "name", "type", "parent"]:
                errors.append("line %d: keys %r" % (n, list(u)))
            code, typ, parent = u["code"], u["type"], u["parent"]
            if n == 1 and u != CENTRAL:
                errors.append("line 1 is not the central unit")
            if code in seen:
                errors.append("line %d: duplicate code %s" % (n, code))
            if typ not in ALL_TYPES:
                errors.append("line %d: unknown type %r" % (n, typ))
            level = LEVEL_OF_TYPE.get(typ, -1)
            if n > 1:
                if parent not in seen:
                    errors.append("line %d: parent %r of %s not on an earlier line" % (n, parent, code))
                elif LEVEL_OF_TYPE.get(seen[parent], -9) >= level:
                    errors.append("line %d: parent %s is not a higher level" % (n, parent))
                if level in CODE_WIDTH and not (code.isdigit() and len(code) == CODE_WIDTH[level]):
                    errors.append("line %d: code %r has the wrong shape" % (n, code))
            if unicodedata.normalize("NFC", u["name"]) != u["name"] or u["name"] != u["name"].strip():
                errors.append("line %d: name not NFC/trimmed" % n)
            seen[code] = typ
            by_level[level] = by_level.get(level, 0) + 1
            by_type[typ] = by_type.get(typ, 0) + 1
    return by_level, by_type, errors


FILES = ["units-2025.jsonl", "units-pre2025.jsonl", "hue-2025.jsonl", "hue-pre2025.jsonl"]


def check_all():
    ok = True
    for name in FILES:
        path = os.path.join(OUT_DIR, name)
        by_level, by_type, errors = check_file(path)
        print(
            "%-20s %8d bytes  levels(central/province/district/commune)=%s  types=%s"
            % (
                name,
                os.path.getsize(path),
                "/".join(str(by_level.get(i, 0)) for i in range(4)),
                ", ".join("%s:%d" % kv for kv in sorted(by_type.items())),
            )
        )
        for e in errors[:20]:
            print("  ERROR", e)
        ok = ok and not errors
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", help="vietnam-provinces 0.6.x install (pre-2025 structure)")
    ap.add_argument("--new", help="vietnam-provinces 2025.x/2026.x install (2025 structure)")
    ap.add_argument("--check", action="store_true", help="only verify the files already written")
    args = ap.parse_args()
    if not args.check:
        if not (args.old and args.new):
            ap.error("--old and --new are required unless --check")
        probs = Problems()
        for which, arg, builder, tag in (
            ("old", args.old, build_pre2025, "pre2025"),
            ("new", args.new, build_2025, "2025"),
        ):
            data, version, data_version = find_data(arg)
            print("%s: vietnam-provinces %s (data %s) from %s" % (which, version, data_version, data))
            with open(data, encoding="utf-8") as f:
                tree = json.load(f)
            provinces, districts, communes = builder(tree, probs)
            if probs.errors:
                break
            os.makedirs(OUT_DIR, exist_ok=True)
            write_jsonl(os.path.join(OUT_DIR, "units-%s.jsonl" % tag), ordered(provinces, districts, communes))
            write_jsonl(
                os.path.join(OUT_DIR, "hue-%s.jsonl" % tag), ordered(provinces, districts, communes, only_province=HUE)
            )
        for msg in probs.notes:
            print("note:", msg)
        for msg in probs.errors:
            print("ERROR:", msg)
        if probs.errors:
            return 1
    return 0 if check_all() else 1


if __name__ == "__main__":
    sys.exit(main())
