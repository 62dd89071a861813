"""The one rule for English names (tjspatial.names): place-name pinyin for stations, feature types translated."""

import doctest

import pytest

import tjspatial.names
from tjspatial.names import GENERIC_PARTS, english_name, english_station_name, place_name_pinyin


def test_docstring_examples_hold():
    result = doctest.testmod(tjspatial.names)
    assert result.attempted >= 14 and result.failed == 0


@pytest.mark.parametrize(
    "zh, en",
    [
        ("天津西站", "Tianjin Xi"),
        ("天津火车站", "Tianjin"),
        ("西站", "Xizhan"),  # two characters: 站 kept
        ("营口道", "Yingkou Dao"),
        ("福安大街", "Fu'an Dajie"),
        ("张贵庄", "Zhangguizhuang"),  # 庄 is part of the place name
        ("北运河", "Beiyunhe"),  # 河 needs three characters of place name before it
        ("独流减河", "Duliujian He"),
        ("汉沟镇", "Hangouzhen"),
        ("七里海镇", "Qilihai Zhen"),
        ("大沽街道", "Dagu Jiedao"),  # 街道 is one generic part, not 街 + 道
        ("京津城际铁路", "Jingjin Chengji Tielu"),  # longest part first: 铁路, not 路
        ("南开大学八里台", "Nankai Daxue Balitai"),
        ("团泊医学园", "Tuanbo Yixueyuan"),  # 泊 read bo as in place names (pypinyin alone: Tuanpo)
        ("Tianjin West", "Tianjin West"),
        ("", ""),
    ],
)
def test_place_name_pinyin(zh, en):
    assert place_name_pinyin(zh) == en


@pytest.mark.parametrize(
    "zh, en",
    [
        ("北大港水库", "Beidagang Reservoir"),
        ("水上公园湖", "Shuishang Park Lake"),
        ("海河", "Haihe River"),  # one-character specific part: the type's pinyin stays
        ("潮白河", "Chaobai River"),
        ("北大港湿地自然保护区", "Beidagang Wetland Nature Reserve"),  # as the bundled wetlands layer writes it
        ("东疆港区", "Dongjiang Port Area"),  # as the bundled port_districts layer writes it
        ("和平区", "Heping District"),  # as the bundled districts layer writes it
        ("滨海新区", "Binhai New Area"),
        ("京哈铁路", "Jingha Railway"),
        ("京沪高速铁路", "Jinghu High-Speed Railway"),
        ("津静线", "Jinjing Line"),
        ("营口道", "Yingkou Dao"),  # no feature type at the end: the place-name pinyin
        ("Port of Tianjin", "Port of Tianjin"),
    ],
)
def test_english_name_translates_feature_types(zh, en):
    assert english_name(zh) == en


def test_one_table_drives_both_functions():
    # every feature type the table translates is also a generic part of place-name pinyin
    translated = {p for p, (_, en) in GENERIC_PARTS.items() if en}
    assert {"水库", "河", "湖", "湿地", "自然保护区", "铁路", "区", "县", "新区"} <= translated
    assert all(shortest in (2, 3) for shortest, _ in GENERIC_PARTS.values())
    assert place_name_pinyin("北大港水库") == "Beidagang Shuiku"  # a station named after it would be pinyin
    # the station-name repair keeps using the same rule
    assert english_station_name("北运河", "Beiyunhe") == "Beiyunhe"
    assert english_station_name("天津西站", "Tianjinxizhan") == "Tianjin Xi"


def test_hand_written_english_names_spell_tuanbo(built_gpkg):
    """团泊 is Tuanbo in the bundled English names, as in the metro data (团泊健康城 Tuanbo Jiankangcheng);
    only GeoNames' own settlement name (third-party data, kept verbatim) still reads Tuanpo."""
    import tjspatial as tj

    wet = tj.load("wetlands", built_gpkg).set_index("name_zh")
    assert wet.loc["团泊鸟类自然保护区（团泊洼）", "name_en"] == "Tuanbo Bird Nature Reserve (Tuanbowa)"
    eco = tj.load("eco_pattern", built_gpkg).set_index("name_zh")
    assert (
        eco.loc["南部团泊洼—北大港生态湿地保护区", "name_en"] == "Southern Tuanbowa–Beidagang wetland protection area"
    )
    spelt = {
        lid: sorted(n for n in tj.load(lid, built_gpkg)["name_en"] if "tuanpo" in str(n).lower())
        for lid in tj.get_catalog().ids
    }
    assert {k: v for k, v in spelt.items() if v} == {"settlements": ["Tuanpo"]}
