import json

import pytest
from django.core.management import CommandError, call_command

from confserver.rooms.importer import UnitFileError, import_units
from confserver.rooms.models import AdminUnit

from ..conftest import DATA

CENTRAL = {"code": "VN", "name": "Trung ương", "type": "trung_uong", "parent": None}


def lines(*units):
    return [json.dumps(u, ensure_ascii=False) + "\n" for u in units]


def snapshot():
    return sorted(AdminUnit.objects.values_list("code", "name", "division_type", "level", "parent__code", "path"))


def test_import_is_idempotent(db):
    with open(DATA / "hue-pre2025.jsonl", encoding="utf-8") as fh:
        first = import_units(fh)
    before = snapshot()
    with open(DATA / "hue-pre2025.jsonl", encoding="utf-8") as fh:
        again = import_units(fh)
    assert first.created == 145 and first.updated == 0
    assert again.created == 0 and again.updated == 0 and again.unchanged == 145
    assert snapshot() == before


def test_import_updates_a_renamed_unit(hue2025):
    import_units(
        lines(CENTRAL, {"code": "46", "name": "Thành phố Huế (mới)", "type": "thanh_pho_trung_uong", "parent": "VN"})
    )
    assert AdminUnit.objects.get(code="46").name == "Thành phố Huế (mới)"
    assert AdminUnit.objects.filter(path__startswith=hue2025.path).count() == 41


def test_reparenting_carries_descendants(db):
    import_units(
        lines(
            CENTRAL,
            {"code": "01", "name": "Tỉnh A", "type": "tinh", "parent": "VN"},
            {"code": "02", "name": "Tỉnh B", "type": "tinh", "parent": "VN"},
            {"code": "001", "name": "Huyện X", "type": "huyen", "parent": "01"},
            {"code": "00001", "name": "Xã Y", "type": "xa", "parent": "001"},
        )
    )
    # the district moves to province 02; the file does not list its commune
    import_units(lines(CENTRAL, {"code": "001", "name": "Huyện X", "type": "huyen", "parent": "02"}))
    assert AdminUnit.objects.get(code="00001").path == "VN.02.001.00001."


@pytest.mark.parametrize(
    "bad_line, expect",
    [
        ('{"code": "46", "name": "Huế"', "không phải JSON"),
        ('{"code": "46", "name": "Huế", "type": "bang", "parent": "VN"}', "type"),
        ('{"code": "46", "name": "Huế", "type": "tinh", "parent": "99"}', "mã cha '99'"),
        ('{"code": "46", "name": "Huế", "type": "tinh", "parent": "VN", "extra": 1}', "extra"),
        ('{"code": "VN", "name": "Trùng", "type": "tinh", "parent": "VN"}', "bị trùng"),
        ('{"code": "46", "name": "Huế", "type": "tinh"}', "phải có mã cha"),
        ('["46"]', "đối tượng JSON"),
    ],
)
def test_bad_file_names_the_line_and_imports_nothing(db, bad_line, expect):
    good = lines(CENTRAL, {"code": "01", "name": "Thành phố Hà Nội", "type": "thanh_pho_trung_uong", "parent": "VN"})
    with pytest.raises(UnitFileError) as err:
        import_units(good + [bad_line + "\n"])
    assert err.value.line == 3
    assert expect in str(err.value) and str(err.value).startswith("dòng 3:")
    assert AdminUnit.objects.count() == 0


def test_commune_cannot_hold_a_province(db):
    with pytest.raises(UnitFileError) as err:
        import_units(
            lines(
                CENTRAL,
                {"code": "01", "name": "Tỉnh A", "type": "tinh", "parent": "VN"},
                {"code": "00001", "name": "Xã Y", "type": "xa", "parent": "01"},
                {"code": "02", "name": "Tỉnh B", "type": "tinh", "parent": "00001"},
            )
        )
    assert err.value.line == 4
    assert AdminUnit.objects.count() == 0


def test_bad_file_leaves_existing_data_untouched(hue2025):
    before = snapshot()
    with pytest.raises(UnitFileError):
        import_units(
            lines({"code": "46", "name": "Đổi tên", "type": "thanh_pho_trung_uong", "parent": "VN"})
            + ['{"code": "x"}\n']
        )
    assert snapshot() == before


def test_command_reports_a_bad_file(db, tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps(CENTRAL) + "\nnot json\n", encoding="utf-8")
    with pytest.raises(CommandError, match="dòng 2"):
        call_command("import_units", str(f))
    assert AdminUnit.objects.count() == 0


def test_command_imports_with_rooms(db, tmp_path, capsys):
    call_command("import_units", str(DATA / "hue-2025.jsonl"), "--rooms")
    out = capsys.readouterr().out
    assert "42 đơn vị mới" in out and "42 phòng họp mới" in out
