"""English forms of Chinese place and station names: spaced place-name pinyin ("Tianjin Xi", "Zhaoyuan Lu").

Chinese station names are romanised as the place name in one word followed by its generic parts as separate
words (GB/T 16159 and common metro signage): 天津西站 → "Tianjin Xi", 招远路 → "Zhaoyuan Lu", 民航大学 →
"Minhang Daxue". :func:`place_name_pinyin` does this with pypinyin; :func:`english_station_name` keeps an
English name that is real (it has spaces or differs from the run-together pinyin) and replaces run-together
pinyin ("Tianjinxizhan") by the spaced form.
"""

from __future__ import annotations

import re

__all__ = ["place_name_pinyin", "english_station_name", "GENERIC_PARTS", "INNER_PARTS"]

GENERIC_PARTS: tuple[str, ...] = (
    "一附院",
    "二院",
    "校区",
    "园区",
    "经济区",
    "工业区",
    "产业园",
    "生态城",
    "健康城",
    "医学园",
    "纪念馆",
    "意风区",
    "宾馆",
    "集团",
    "公司",
    "附中",
    "新村",
    "新苑",
    "教育",
    "大街",
    "大道",
    "大学",
    "公园",
    "广场",
    "医院",
    "中心",
    "机场",
    "新城",
    "开发区",
    "路",
    "道",
    "街",
    "桥",
    "东",
    "西",
    "南",
    "北",
)
"""Generic parts written as separate words after the place name (the first that matches is taken off, then the
search starts again); a name is never reduced to fewer than two characters of place name."""

INNER_PARTS: tuple[str, ...] = ("大学",)
"""Generic parts also written as a separate word inside a name, between two place names (南开大学八里台 →
"Nankai Daxue Balitai")."""

_VOWEL_START = re.compile(r"^[aoe]")


def _pinyin_word(text: str) -> str:
    """Toneless pinyin of ``text`` as one capitalised word, with an apostrophe before a syllable starting with
    a, o or e (西安 → Xi'an, 福安 → Fu'an)."""
    from pypinyin import lazy_pinyin

    syl = [s for s in lazy_pinyin(text) if s.strip()]
    out = ""
    for i, s in enumerate(syl):
        s = s.replace("ü", "u").replace("v", "u") if not s.isascii() or "v" in s else s
        out += ("'" if i and _VOWEL_START.match(s) and out[-1:].isalpha() else "") + s
    return out[:1].upper() + out[1:]


def _split(name_zh: str) -> tuple[str, list[str]]:
    """(place name, generic parts) of a name, 站 dropped."""
    name = (name_zh or "").strip()
    if name.endswith("站") and len(name) > 2:
        name = name[:-1]
    tail: list[str] = []
    changed = True
    while changed:
        changed = False
        for part in GENERIC_PARTS:
            if name.endswith(part) and len(name) - len(part) >= 2:
                tail.insert(0, part)
                name = name[: -len(part)]
                changed = True
                break
    return name, tail


def place_name_pinyin(name_zh: str) -> str:
    """Spaced place-name pinyin of a Chinese place or station name ('' for an empty name).

    >>> place_name_pinyin("天津西站")
    'Tianjin Xi'
    >>> place_name_pinyin("招远路")
    'Zhaoyuan Lu'
    >>> place_name_pinyin("天津大学北洋园校区")
    'Tianjin Daxue Beiyangyuan Xiaoqu'
    """
    if not (name_zh or "").strip():
        return ""
    name = name_zh.strip()
    if name.endswith("站") and len(name) > 2:
        name = name[:-1]
    head = [name]
    for part in INNER_PARTS:
        i = head[-1].find(part)
        if i >= 2 and len(head[-1]) - i - len(part) >= 2:
            last = head.pop()
            head += [last[:i], part, last[i + len(part) :]]
    last, tail = _split(head.pop())
    words = [_pinyin_word(p) for p in [*head, last, *tail]]
    return " ".join(w for w in words if w)


def english_station_name(name_zh: str, name_en: str | None) -> str:
    """The English name to show: ``name_en`` when it is a real English name, else spaced pinyin.

    A ``name_en`` that is empty or the run-together pinyin of ``name_zh`` (with or without 站 "zhan") is
    replaced by :func:`place_name_pinyin`; any other name (e.g. OSM ``name:en`` "Tianjin West Railway Station")
    is kept.
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
        low = en.lower().removesuffix("zhan") if name_zh.endswith("站") and len(name_zh) > 2 else en.lower()
        if parts and low.endswith(joined) and len(low) > len(joined):
            head = low[: len(low) - len(joined)]
            return " ".join([head[:1].upper() + head[1:]] + parts)
    return en
