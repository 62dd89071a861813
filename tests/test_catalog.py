import pytest

import tjspatial as tj
from tjspatial.catalog import ACCURACY_CLASSES, THEMES, CatalogError, load_catalog
from tjspatial.styles import all_styles, load_style


def test_catalog_frame_has_one_row_per_layer():
    df = tj.catalog()
    assert df["id"].is_unique
    assert {"boundary", "districts", "zones", "dual_city", "nodes", "rail_stations", "metro_lines",
            "intercity_rail", "coastline", "settlements", "water"} <= set(df["id"])
    assert set(df["accuracy"]) <= set(ACCURACY_CLASSES)
    assert set(df["theme"]) <= set(THEMES)
    assert df.set_index("id").loc["rail_stations", "licence"].startswith("ODbL")


def test_every_layer_has_a_valid_style_of_its_geometry():
    styles = all_styles()
    kinds = {"Point": "point", "LineString": "line", "Polygon": "polygon"}
    for layer in tj.get_catalog():
        assert layer.style in styles, f"{layer.id}: no styles/{layer.style}.json"
        assert styles[layer.style].geometry == kinds[layer.geometry_type], layer.id


def test_every_source_file_exists_and_is_used():
    from tjspatial.paths import sources_dir
    cat = tj.get_catalog()
    used = {s for layer in cat for s in layer.sources}
    for sid, src in cat.sources.items():
        if src.file:
            assert (sources_dir() / src.file).is_file(), sid
        assert sid in used or sid in {"reference_figures"}, f"source {sid} is declared but unused"


def test_malformed_catalog_names_file_and_layer(tmp_path):
    (tmp_path / "00.toml").write_text('[source.a]\ntitle="t"\nlicence="l"\nattribution="x"\n', "utf-8")
    (tmp_path / "10.toml").write_text(
        '[[layer]]\nid="x"\ntitle_zh="甲"\ntitle_en="X"\ntheme="admin"\ngeometry_type="Blob"\n'
        'accuracy="official"\nsources=["a"]\nbuilder="m:f"\nstyle="s"\ndescription="d"\n', "utf-8")
    with pytest.raises(CatalogError, match=r"10\.toml, layer 'x': geometry_type 'Blob'"):
        load_catalog(tmp_path)


def test_style_checks(tmp_path):
    (tmp_path / "bad.json").write_text('{"id": "bad", "geometry": "line", "stroke": "red"}', "utf-8")
    with pytest.raises(ValueError, match="not a #rrggbb"):
        load_style("bad", tmp_path)


def test_cartography_rule_status_owns_dash_accuracy_owns_casing(tmp_path):
    from tjspatial.styles import StyleError, load_cartography
    carto = load_cartography()
    assert carto.status_field == "status" and carto.default_status == "open"
    assert list(carto.statuses) == ["open", "under_construction", "planned"]
    assert carto.dash("open") is None and carto.dash(None) is None and carto.dash("") is None
    assert carto.dash("under_construction") == "10 4" and carto.dash("planned") == "3 4"
    assert carto.is_approximate("schematic") and not carto.is_approximate("derived")
    assert carto.casing_px == 6 and carto.casing_opacity == 0.3
    assert "示意" in carto.accuracy_label and carto.label_suffix == "（示意）"
    # no style file sets a dash: a dash would mean "planned" whatever the status
    assert all(s.dash is None for s in all_styles().values())
    (tmp_path / "dashed.json").write_text('{"id": "dashed", "geometry": "line", "dash": "6 4"}', "utf-8")
    with pytest.raises(StyleError, match="dashed.json: 'dash' is not set per style"):
        load_style("dashed", tmp_path)
    (tmp_path / "cartography.json").write_text(
        '{"status": {"field": "status", "default": "planned", "values": {"planned": {"dash": "3 4", "label": "x"}}},'
        ' "accuracy": {"field": "accuracy", "approximate": ["schematic"], "casing_px": 6, "casing_opacity": 0.3,'
        ' "label": "示意", "label_suffix": "（示意）"}}', "utf-8")
    with pytest.raises(StyleError, match="default status 'planned' must be solid"):
        load_cartography(tmp_path)
