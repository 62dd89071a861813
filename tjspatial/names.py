"""English forms of Chinese names: spaced place-name pinyin ("Tianjin Xi"), feature types translated.

Every English label the build writes for a Chinese name that has no English one comes from this module, with
one table (:data:`GENERIC_PARTS`) and one rule, so the same Chinese name is written the same way in every layer,
from the bundled data and from OpenStreetMap alike:

1. a trailing 站 or 火车站 is dropped (天津西站 → 天津西), except in a two-character name (西站 → "Xizhan");
2. generic parts at the end of the name (路, 道, 西, 大学, 校区, 街道 …) are each written as a separate word
   after the place name, in pinyin; a part is taken off only when enough place name stays before it (two
   characters; three before the one-character 河 湖 镇 乡 区 县, so 海河, 月牙河, 汉沟镇, 高新区 stay one word);
3. 大学 between two place names is a word of its own (:data:`INNER_PARTS`);
4. each part is one capitalised word of toneless pinyin, ü written u, an apostrophe before a syllable that
   starts with a, o or e (福安 → Fu'an), characters read as place names read them (:data:`PLACE_READINGS`:
   团泊 → "Tuanbo");
5. text with no Chinese character is returned as it is;
6. in the name of a *feature* (a river, reservoir, wetland, district, railway line …: :func:`english_name`),
   the feature-type words that end it are translated by the table's English column (北大港水库 →
   "Beidagang Reservoir", 京津城际铁路 → "Jingjin Intercity Railway", 和平区 → "Heping District"), as the
   bundled English names are written; a one-character specific part keeps the type's pinyin too (海河 →
   "Haihe River"). Station and place names (:func:`place_name_pinyin`) translate nothing: a station is named
   after a place, and its generic parts belong to that place's name ("Yingkou Dao", "Beiyunhe").

Examples (rule numbers in brackets):

- 天津西站 → "Tianjin Xi" (1, 2); 西站 → "Xizhan" (1); 天津火车站 → "Tianjin" (1)
- 招远路 → "Zhaoyuan Lu", 福安大街 → "Fu'an Dajie" (2, 4); 张贵庄 → "Zhangguizhuang" (庄 is no generic part)
- 南开大学八里台 → "Nankai Daxue Balitai" (3); 天津大学北洋园校区 → "Tianjin Daxue Beiyangyuan Xiaoqu" (2, 3)
- 大沽街道 → "Dagu Jiedao", 七里海镇 → "Qilihai Zhen", 汉沟镇 → "Hangouzhen" (2)
- features: 北大港水库 → "Beidagang Reservoir", 独流减河 → "Duliujian River", 海河 → "Haihe River",
  水上公园湖 → "Shuishang Park Lake", 北大港湿地自然保护区 → "Beidagang Wetland Nature Reserve",
  东疆港区 → "Dongjiang Port Area", 京沪高速铁路 → "Jinghu High-Speed Railway", 津静线 → "Jinjing Line" (6)

Where a source gives an English name it wins: OSM ``name:en`` (or an English ``name``), the bundled
English names of districts and lines. :func:`english_station_name` keeps an English name that is real (it has
spaces or differs from the run-together pinyin) and replaces run-together pinyin ("Tianjinxizhan") by the
spaced form.
"""

from __future__ import annotations

import re

__all__ = [
    "place_name_pinyin",
    "english_name",
    "english_station_name",
    "GENERIC_PARTS",
    "INNER_PARTS",
    "PLACE_READINGS",
]

GENERIC_PARTS: dict[str, tuple[int, str]] = {
    # institutions and areas
    "一附院": (2, ""),
    "二院": (2, ""),
    "校区": (2, ""),
    "园区": (2, ""),
    "经济区": (2, ""),
    "工业区": (2, ""),
    "产业园": (2, ""),
    "生态城": (2, ""),
    "健康城": (2, ""),
    "医学园": (2, ""),
    "纪念馆": (2, ""),
    "意风区": (2, ""),
    "宾馆": (2, ""),
    "集团": (2, ""),
    "公司": (2, ""),
    "附中": (2, ""),
    "新村": (2, ""),
    "新苑": (2, ""),
    "教育": (2, ""),
    "大学": (2, ""),
    "广场": (2, ""),
    "医院": (2, ""),
    "中心": (2, ""),
    "新城": (2, ""),
    "公园": (2, "Park"),
    "机场": (2, "Airport"),
    "开发区": (2, "Development Zone"),
    "港区": (2, "Port Area"),
    # administrative divisions
    "新区": (2, "New Area"),
    "街道": (2, "Subdistrict"),
    "镇": (3, "Town"),
    "乡": (3, "Township"),
    "区": (3, "District"),
    "县": (3, "County"),
    # streets, bridges and the four directions
    "大街": (2, ""),
    "大道": (2, ""),
    "路": (2, ""),
    "道": (2, ""),
    "街": (2, ""),
    "桥": (2, ""),
    "东": (2, ""),
    "西": (2, ""),
    "南": (2, ""),
    "北": (2, ""),
    # water, nature and railway features
    "水库": (2, "Reservoir"),
    "湿地": (2, "Wetland"),
    "自然保护区": (2, "Nature Reserve"),
    "河": (3, "River"),
    "湖": (3, "Lake"),
    "铁路": (2, "Railway"),
    "城际": (2, "Intercity"),
    "高速": (2, "High-Speed"),
    "联络线": (2, "Link"),
    "线": (2, "Line"),
}
"""The one table of generic parts: part → (shortest place name it is written apart from, in characters;
its English translation when it names a feature type, else ``""``).

A generic part ending a name is taken off as a separate word when at least that many characters of place name
stay before it (rule 2); the longest part that matches is taken off, then the search starts again. Words that
name settlements and places (庄, 村, 里, 口, 门, 角 …) are not in the table: 张贵庄, 营口, 中山门 are one word.
Only :func:`english_name` uses the English column (rule 6)."""

_LONGEST_FIRST = sorted(GENERIC_PARTS, key=len, reverse=True)

INNER_PARTS: tuple[str, ...] = ("大学",)
"""Generic parts also written as a separate word inside a name, between two place names (南开大学八里台 →
"Nankai Daxue Balitai")."""

PLACE_READINGS: dict[str, str] = {"泊": "bo"}
"""Readings of characters that place names read otherwise than pypinyin's everyday reading (泊 bó in 团泊
"Tuanbo", 杨家泊 "Yangjiabo", not pō as in 湖泊)."""

_VOWEL_START = re.compile(r"^[aoe]")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _syllables(text: str, syl: list[str]) -> list[tuple[str, str]]:
    """(source text, syllable) pairs: one character per syllable where pypinyin gave one syllable per
    character, else the whole text against each syllable (no override applies)."""
    return list(zip(text, syl)) if len(syl) == len(text) else [("", s) for s in syl]


def _pinyin_word(text: str) -> str:
    """Toneless pinyin of ``text`` as one capitalised word, with an apostrophe before a syllable starting with
    a, o or e (西安 → Xi'an, 福安 → Fu'an)."""
    from pypinyin import lazy_pinyin

    syl = [PLACE_READINGS.get(c, s) if len(c) == 1 else s for c, s in _syllables(text, lazy_pinyin(text))]
    syl = [s for s in syl if s.strip()]
    out = ""
    for i, s in enumerate(syl):
        s = s.replace("ü", "u").replace("v", "u") if not s.isascii() or "v" in s else s
        out += ("'" if i and _VOWEL_START.match(s) and out[-1:].isalpha() else "") + s
    return out[:1].upper() + out[1:]


def _drop_station_word(name: str) -> str:
    """``name`` without a trailing 火车站 / 站 (rule 1), kept whole when two characters or fewer would stay."""
    for word in ("火车站", "站"):
        if name.endswith(word) and len(name) - len(word) >= 2:
            return name[: -len(word)]
    return name


def _split(name_zh: str) -> tuple[str, list[str]]:
    """(place name, generic parts) of a name, the station word dropped (rules 1 and 2)."""
    name = _drop_station_word((name_zh or "").strip())
    tail: list[str] = []
    changed = True
    while changed:
        changed = False
        for part in _LONGEST_FIRST:
            if name.endswith(part) and len(name) - len(part) >= GENERIC_PARTS[part][0]:
                tail.insert(0, part)
                name = name[: -len(part)]
                changed = True
                break
    return name, tail


def place_name_pinyin(name_zh: str) -> str:
    """Spaced place-name pinyin of a Chinese station or place name (rules 1–5; '' for an empty name).

    Parameters
    ----------
    name_zh : str
        A Chinese station or place name; text without Chinese characters is returned stripped but otherwise
        unchanged.

    Returns
    -------
    str
        The place name as one capitalised word, each generic part as another, all in pinyin.

    Examples
    --------
    >>> place_name_pinyin("天津西站")
    'Tianjin Xi'
    >>> place_name_pinyin("天津火车站")
    'Tianjin'
    >>> place_name_pinyin("招远路")
    'Zhaoyuan Lu'
    >>> place_name_pinyin("张贵庄")
    'Zhangguizhuang'
    >>> place_name_pinyin("天津大学北洋园校区")
    'Tianjin Daxue Beiyangyuan Xiaoqu'
    >>> place_name_pinyin("北运河"), place_name_pinyin("汉沟镇"), place_name_pinyin("大沽街道")
    ('Beiyunhe', 'Hangouzhen', 'Dagu Jiedao')
    >>> place_name_pinyin("Tianjin West")
    'Tianjin West'
    """
    name = (name_zh or "").strip()
    if not _CJK.search(name):
        return name
    head = [_drop_station_word(name)]
    for part in INNER_PARTS:
        i = head[-1].find(part)
        if i >= 2 and len(head[-1]) - i - len(part) >= 2:
            last = head.pop()
            head += [last[:i], part, last[i + len(part) :]]
    last, tail = _split(head.pop())
    words = [_pinyin_word(p) for p in [*head, last, *tail]]
    return " ".join(w for w in words if w)


def english_name(name_zh: str) -> str:
    """English name of a Chinese feature name: place-name pinyin with the feature types that end it
    translated (rule 6; '' for an empty name).

    Parameters
    ----------
    name_zh : str
        The Chinese name of a river, lake, reservoir, wetland, reserve, district, railway or metro line, port
        area …; text without Chinese characters is returned stripped but otherwise unchanged.

    Returns
    -------
    str
        :func:`place_name_pinyin` of the name without its trailing feature-type words, then their English
        translations (:data:`GENERIC_PARTS`).

    Examples
    --------
    >>> english_name("北大港水库")
    'Beidagang Reservoir'
    >>> english_name("海河"), english_name("潮白河"), english_name("独流减河")
    ('Haihe River', 'Chaobai River', 'Duliujian River')
    >>> english_name("水上公园湖")
    'Shuishang Park Lake'
    >>> english_name("北大港湿地自然保护区")
    'Beidagang Wetland Nature Reserve'
    >>> english_name("京津城际铁路"), english_name("京沪高速铁路"), english_name("津静线")
    ('Jingjin Intercity Railway', 'Jinghu High-Speed Railway', 'Jinjing Line')
    >>> english_name("和平区"), english_name("滨海新区"), english_name("蓟县")
    ('Heping District', 'Binhai New Area', 'Jixian County')
    >>> english_name("营口道")
    'Yingkou Dao'
    """
    name = _drop_station_word((name_zh or "").strip())
    if not _CJK.search(name):
        return name
    types: list[str] = []
    while True:
        part = next(
            (p for p in _LONGEST_FIRST if GENERIC_PARTS[p][1] and name.endswith(p) and len(name) > len(p)), None
        )
        if part is None:
            break
        types.insert(0, GENERIC_PARTS[part][1])
        if len(name) - len(part) < 2:  # 海河: a one-character specific part keeps the type in pinyin
            break
        name = name[: -len(part)]
    return " ".join([place_name_pinyin(name), *types])


def english_station_name(name_zh: str, name_en: str | None) -> str:
    """The English name to show: ``name_en`` when it is a real English name, else spaced pinyin.

    A ``name_en`` that is empty or the run-together pinyin of ``name_zh`` (with or without 站 "zhan") is
    replaced by :func:`place_name_pinyin`; any other name (e.g. OSM ``name:en`` "Tianjin West Railway Station")
    is kept.

    Parameters
    ----------
    name_zh : str
        The Chinese name (e.g. ``"天津西站"``).
    name_en : str or None
        The English name as stored.

    Returns
    -------
    str
        The English name to show (e.g. ``"Tianjin Xi"``).
    """
    en = (name_en or "").strip()
    if not name_zh:
        return en
    spaced = place_name_pinyin(name_zh)
    flat = re.sub(r"[^a-z]", "", en.lower())
    run_together = {re.sub(r"[^a-z]", "", spaced.lower()), re.sub(r"[^a-z]", "", _pinyin_word(name_zh).lower())}
    if not en or (" " not in en and flat in run_together):
        return spaced
    if " " not in en and en.isascii() and en.isalpha():
        # run-together pinyin that reads a character differently (埠 fu/bu): keep its spelling, split the parts
        name, tail = _split(name_zh)
        parts = [_pinyin_word(p) for p in tail]
        joined = "".join(parts).lower()
        low = en.lower().removesuffix("zhan") if _drop_station_word(name_zh) != name_zh else en.lower()
        if parts and low.endswith(joined) and len(low) > len(joined):
            head = low[: len(low) - len(joined)]
            return " ".join([head[:1].upper() + head[1:]] + parts)
    return en
