from confserver.rooms.hierarchy import ancestors, communes, subtree
from confserver.rooms.models import AdminUnit, Level


def test_pre2025_structure_has_districts(hue_pre2025):
    hue = hue_pre2025
    assert subtree(hue, only_level=Level.DISTRICT).count() == 9
    assert communes(hue).count() == 134
    # down to district: the province and its 9 districts, no commune
    cut = list(subtree(hue, max_level=Level.DISTRICT))
    assert len(cut) == 10 and {u.level for u in cut} == {Level.PROVINCE, Level.DISTRICT}
    commune = communes(hue).first()
    assert commune.parent.level == Level.DISTRICT and commune.parent.parent == hue


def test_2025_structure_has_no_district(hue2025):
    hue = hue2025
    assert subtree(hue, only_level=Level.DISTRICT).count() == 0
    assert communes(hue).count() == 40
    assert all(u.parent_id == hue.id for u in communes(hue))
    # "down to district" on a two-level province is just the province
    assert list(subtree(hue, max_level=Level.DISTRICT)) == [hue]


def test_subtree_of_a_district_and_exclusion(hue_pre2025):
    district = AdminUnit.objects.get(code="474")  # Thị xã Phong Điền
    inside = list(subtree(district, include_self=False))
    assert inside and all(u.parent_id == district.id for u in inside)
    assert district not in inside
    # a sibling district's communes are not in it
    other = AdminUnit.objects.filter(level=Level.DISTRICT).exclude(pk=district.pk).first()
    assert not set(subtree(other)) & set(inside)


def test_subtree_is_one_query(hue_pre2025, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert len(list(communes(hue_pre2025))) == 134


def test_ancestors_and_within(hue_pre2025):
    commune = communes(hue_pre2025).select_related("parent").first()
    chain = list(ancestors(commune))
    assert [u.level for u in chain] == [Level.CENTRAL, Level.PROVINCE, Level.DISTRICT]
    assert commune.is_within(hue_pre2025) and commune.is_within(chain[0])
    assert not hue_pre2025.is_within(commune)
