"""CSV tables for Excel users are UTF-8 with a byte-order mark and read back unchanged (issue #17)."""

import io

import pandas as pd

from tjspatial.analysis.run import write_csv_atomic
from tjspatial.cli import main

BOM = b"\xef\xbb\xbf"


def test_analysis_csv_has_bom_and_round_trips(tmp_path):
    df = pd.DataFrame({"area": ["和平区", "滨海新区"], "pop_share": [0.9312, 0.25], "note": ["", "示意, 800 m"]})
    path = write_csv_atomic(df, tmp_path / "coverage.csv")
    raw = path.read_bytes()
    assert raw.startswith(BOM + "area,pop_share".encode()) and "和平区".encode("utf-8") in raw
    back = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    assert list(back.columns) == ["area", "pop_share", "note"]
    pd.testing.assert_frame_equal(back, df)
    assert list(pd.read_csv(path).columns)[0] == "area"  # pandas' default utf-8 also skips the mark
    assert not list(tmp_path.glob("*tmp*"))


def test_catalog_csv_on_stdout_has_bom(capsysbinary):
    assert main(["catalog", "--csv"]) == 0
    raw = capsysbinary.readouterr().out
    assert raw.startswith(BOM + b"id,")
    cat = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert "rail_stations" in set(cat["id"]) and cat["title_zh"].str.contains("站").any()


def test_indicators_csv_on_stdout_has_bom(built_gpkg, capsysbinary):
    assert main(["indicators", "--gpkg", str(built_gpkg), "--csv"]) == 0
    raw = capsysbinary.readouterr().out
    assert raw.startswith(BOM) and raw.count(BOM) == 1
    ind = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert {"key", "status", "value", "name_zh"} <= set(ind.columns) and len(ind) > 5
