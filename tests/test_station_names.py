"""English station names are stored in the built layer, not only fixed at display time (issues #11, #16)."""

import re

import tjspatial as tj
from tjspatial.names import GENERIC_PARTS, english_station_name


def test_bundled_rail_stations_store_spaced_english_names(built_gpkg):
    st = tj.load("rail_stations", built_gpkg)
    named = st[st["name_zh"] != ""]
    by = {(k, z): e for k, z, e in zip(named["kind"], named["name_zh"], named["name_en"])}
    assert by[("rail", "天津西")] == "Tianjin Xi"
    assert by[("rail", "天津")] == "Tianjin"
    assert by[("rail", "蓟州北")] == "Jizhou Bei"
    assert by[("metro", "天津站")] == "Tianjin"  # metroman "Tianjinzhan"
    assert by[("metro", "营口道")] == "Yingkou Dao"
    assert by[("metro", "福安大街")] == "Fu'an Dajie"
    assert by[("metro", "张贵庄")] == "Zhangguizhuang"  # one place name, written as one word
    assert by[("metro", "南开大学八里台")] == "Nankai Daxue Balitai"  # 大学 between two place names
    assert by[("metro", "天津大学北洋园校区")] == "Tianjin Daxue Beiyangyuan Xiaoqu"
    assert by[("metro", "中新生态城")] == "Zhongxin Shengtaicheng"
    assert by[("metro", "空港经济区")] == "Konggang Jingjiqu"
    assert by[("metro", "北运河")] == "Beiyunhe" and by[("rail", "汉沟镇")] == "Hangouzhen"  # 3 characters: one word
    # every named station has an English name (26 had none), and it is what the names module shows
    assert (named["name_en"] != "").all()
    assert [e for z, e in zip(named["name_zh"], named["name_en"]) if english_station_name(z, e) != e] == []
    # no run-together generic part: a name ending in 路/道/西/大街… after a place name of two or more characters
    # (three before 河 湖 镇 乡 区 县: 北运河, 汉沟镇 are one word) is written with a space before it
    glued = [
        (z, e)
        for z, e in zip(named["name_zh"], named["name_en"])
        if any(
            re.sub("站$", "", z).endswith(g) and len(re.sub("站$", "", z)) - len(g) >= shortest
            for g, (shortest, _) in GENERIC_PARTS.items()
        )
        and " " not in e
    ]
    assert glued == []
    # a name of four or more characters is never one run-together word (three-character place names such as
    # 张贵庄, 小白楼 are one word, as GB/T 16159 writes place names)
    long_glued = [
        (z, e) for z, e in zip(named["name_zh"], named["name_en"]) if len(re.sub("站$", "", z)) >= 4 and " " not in e
    ]
    assert long_glued == []
    # 站 is dropped ("Tianjinxizhan" never stored); only the two-character metro stops 北站/西站/南站 keep it
    zhan = named[named["name_en"].str.contains(r"zhan$")]
    assert sorted(zhan["name_zh"]) == ["北站", "南站", "西站"]
