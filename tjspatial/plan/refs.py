"""The clauses of the plan that each schematic feature draws: ``plan_ref`` values.

A ``plan_ref`` reads ``<chapter/section>：「<clause>」``; the clause is copied verbatim from
``layers/sources/tianjin_14th_five_year_plan_2021.txt`` (tests check that every clause occurs in it).
"""

from __future__ import annotations

import re

__all__ = ["PLAN_REFS", "plan_ref", "clause_of"]

PLAN_REFS: dict[str, tuple[str, str]] = {
    # chapter 10 section 2: ecology
    "barrier": (
        "第十章第二节",
        "加快双城间绿色生态屏障建设，推进区域内造林绿化、水系连通和生态修复等工程建设，"
        "到2025年一级管控区森林（绿化）覆盖率达到25%",
    ),
    "wetlands": ("第十章第二节", "全面加强七里海、大黄堡、北大港、团泊4个湿地保护和修复"),
    "guhaian": ("第十章第二节（专栏16）", "促进古海岸与湿地国家级自然保护区水质净化"),
    "eco_pattern": ("第十章第二节", "构建“三区两带中屏障”的生态空间格局"),
    "eco_north": ("第十章第二节", "重点保护北部盘山—于桥水库—环秀湖生态建设保护区"),
    "eco_central": ("第十章第二节", "中部七里海—大黄堡—北三河生态湿地保护区"),
    "eco_south": ("第十章第二节", "南部团泊洼—北大港生态湿地保护区"),
    "eco_belts": ("第十章第二节", "着力构建西部生态防护林带和东部国际蓝色海湾带"),
    "eco_barrier": ("第十章第二节", "以双城间绿色生态屏障为重点调整生态功能布局"),
    # chapter 3 section 2: port and airport
    "port": ("第三章第二节", "深化“一港六区”统一运营管理"),
    "port_beijiang": ("第三章第二节（专栏3）", "建成北疆港区C段智能化集装箱码头"),
    "port_dongjiang": ("第三章第二节（专栏3）", "有序推进东疆港区智能一期集装箱码头建设"),
    "port_rail": ("第三章第二节", "推进南疆、大港港区铁路专用线建设"),
    "airport": ("第三章第二节", "实施天津滨海国际机场三期改扩建工程，实现“三航站楼、两跑道”运行"),
    # chapter 9 section 1 (and 3.2, 10.1): rail
    "metro": ("第九章第一节", "推进中心城区地铁M4、M7、M8、M10、M11号线及滨海新区B1、Z2、Z4号线建设"),
    "intercity": ("第九章第一节", "建成京滨、京唐、津兴铁路，推动津潍铁路建设"),
    "airport_rail": ("第三章第二节", "加快推进京滨城际、轨道M2、Z2线进入机场"),
    "airport_m2": ("第三章第二节（专栏4）", "引入Z2线、M2东延线"),
    "jingbin_airport": ("第三章第二节（专栏4）", "与T3航站楼一体化设计、建设京滨城际铁路机场站"),
    "z2": ("第十章第一节", "加快推进Z2线建设，形成20分钟直达轨道线网"),
    # chapter 10 section 1 / 3: clusters
    "jc_zhihui": ("第十章第一节", "依托西青新城和华苑地区建设智慧科技城"),
    "jc_hangkong": ("第十章第一节", "依托东丽华明和空港经济区建设国际航空城"),
    "jc_yiyao": ("第十章第一节", "依托北辰国家级产城融合示范区和北辰京津医药谷建设医药活力城"),
    "jc_kechuang": ("第十章第一节", "依托津南海河教育园区和国家会展中心（天津）建设科创会展城"),
    "bc_core": ("第十章第三节（专栏19）", "依托滨海新区核心区"),
    "bc_clusters": (
        "第十章第三节（专栏19）",
        "打造天津经济技术开发区中心商务片区、天津经济技术开发区东区、滨海—中关村科技园、"
        "滨海高新区海洋科技园、中新天津生态城等五大服务业集聚区",
    ),
    # chapter 10 section 2: tourism
    "tourism": ("第十章第二节", "构建“一湾三廊”的亲海亲水旅游空间格局"),
    "bay": ("第十章第二节（专栏17）", "世界海洋文明度假湾精品项目"),
    "chaobai": ("第十章第二节（专栏17）", "潮白河乡村休闲廊精品项目"),
    "duliujian": ("第十章第二节（专栏17）", "独流减河生态休闲廊精品项目"),
    "haihe": ("第十章第二节（专栏17）", "海河文化休闲廊精品项目"),
    "shoreline": ("第十章第二节（专栏17）", "为市民提供长度约45公里的公共亲海亲水休闲岸线"),
}
"""key → (chapter and section, verbatim clause)."""

_CLAUSE = re.compile(r"「(.+?)」")


def plan_ref(*keys: str) -> str:
    """The ``plan_ref`` text for one or more :data:`PLAN_REFS` keys, joined by '; '.

    Parameters
    ----------
    *keys : str
        Keys of :data:`PLAN_REFS`.

    Returns
    -------
    str
        The references, joined by '; '.
    """
    return "; ".join(f"{PLAN_REFS[k][0]}：「{PLAN_REFS[k][1]}」" for k in keys)


def clause_of(ref: str) -> list[str]:
    """The verbatim clauses quoted in a ``plan_ref`` value (the text between 「 and 」).

    Parameters
    ----------
    ref : str
        A ``plan_ref`` value.

    Returns
    -------
    list of str
        The quoted clauses, in order.
    """
    return _CLAUSE.findall(ref)
