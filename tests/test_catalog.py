import pytest

import tjspatial as tj
from tjspatial.catalog import ACCURACY_CLASSES, THEMES, CatalogError, load_catalog
from tjspatial.styles import all_styles, load_style


def test_catalog_frame_has_one_row_per_layer():
    df = tj.catalog()
    assert df["id"].is_unique
    assert {
        "boundary",
        "districts",
        "zones",
        "dual_city",
        "nodes",
        "rail_stations",
        "metro_lines",
        "intercity_rail",
        "coastline",
        "settlements",
        "water",
    } <= set(df["id"])
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
        # reference tables (copied into the GeoPackage for the analysis code), not read by a layer builder
        assert sid in used or src.table, f"source {sid} is declared but unused"


def test_malformed_catalog_names_file_and_layer(tmp_path):
    (tmp_path / "00.toml").write_text('[source.a]\ntitle="t"\nlicence="l"\nattribution="x"\n', "utf-8")
    (tmp_path / "10.toml").write_text(
        '[[layer]]\nid="x"\ntitle_zh="甲"\ntitle_en="X"\ntheme="admin"\ngeometry_type="Blob"\n'
        'accuracy="official"\nsources=["a"]\nbuilder="m:f"\nstyle="s"\ndescription="d"\n',
        "utf-8",
    )
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
        ' "label": "示意", "label_suffix": "（示意）"}}',
        "utf-8",
    )
    with pytest.raises(StyleError, match="default status 'planned' must be solid"):
        load_cartography(tmp_path)


def test_every_field_has_zh_en_labels_declared_once_in_the_catalog():
    cat = tj.get_catalog()
    for layer in cat:
        for name in layer.all_fields:
            fl = layer.field_label(name)
            assert fl.zh != name and fl.en != name, f"{layer.id}.{name}: no display label in [layer.field_labels]"
        if layer.limitations:
            assert layer.limitations_zh, f"{layer.id}: limitations only in English"
    d = cat["districts"]
    assert d.field_label("pop_2020").format_value(855_000) == "855,000 人"
    assert d.field_label("pop_2020_status").hidden and not d.field_label("pop_2020").hidden
    assert d.field_label("adcode").format_value(120101) == "120101"  # a code: no thousands separator
    assert d.field_label("area_km2").format_value(2270.04) == "2,270.0 km²"
    assert d.field_label("zone").format_value("中心城区") == "中心城区 / central city"
    assert d.field_label("area_km2_official").format_value(float("nan")) == ""
    st = cat["rail_stations"]
    assert st.field_label("kind").format_value("rail") == "铁路站 / railway station"
    assert st.field_label("accuracy").format_value("schematic") == "示意 / schematic"
    assert st.field_label("osm_station_tag").hidden and st.field_label("station_id").hidden
    assert (
        cat["metro_lines"].field_label("geometry_quality").format_value("station_chords")
        == "示意：站间直连 / schematic: station-to-station chords"
    )
    assert cat["wetlands"].field_label("reserve_id").hidden
    assert d.field_label("pop_2020").alias == "常住人口（2020 年普查） Resident population (2020 census) (人)"
    assert d.limitations_text.startswith("计算面积") and "Computed areas" in d.limitations_text


@pytest.mark.parametrize(
    "labels, message",
    [
        ('a = { zh = "甲", en = "A", colour = "red" }', "field_labels.a: unknown key(s) ['colour']"),
        ('b = { zh = "乙", en = "B" }', "field_labels for undeclared field(s) ['b']"),
        ('a = { zh = "甲", en = "A", format = "money" }', "field_labels.a: format 'money' is not one of"),
        ('a = { zh = "甲", en = "A", values = { x = 3 } }', "value 'x' must be"),
    ],
)
def test_malformed_field_labels_name_file_layer_and_field(tmp_path, labels, message):
    (tmp_path / "00.toml").write_text('[source.a]\ntitle="t"\nlicence="l"\nattribution="x"\n', "utf-8")
    (tmp_path / "10.toml").write_text(
        '[[layer]]\nid="x"\ntitle_zh="甲"\ntitle_en="X"\ntheme="admin"\ngeometry_type="Point"\n'
        'accuracy="official"\nsources=["a"]\nbuilder="m:f"\nstyle="s"\ndescription="d"\n'
        f'[layer.fields]\na = "int"\n[layer.field_labels]\n{labels}\n',
        "utf-8",
    )
    with pytest.raises(CatalogError) as exc:
        load_catalog(tmp_path)
    assert "10.toml, layer 'x'" in str(exc.value) and message in str(exc.value)


def test_analysis_overlays_are_declared_in_the_catalog_not_built():
    cat = tj.get_catalog()
    ov = cat.overlay_for("station_catchment", distance_m=800.0)
    assert ov.id == "station_catchments" and ov.id not in cat.ids  # drawn at map time, never built
    assert (ov.title_zh, ov.title_en) == ("车站 800 米服务范围", "800 m station catchments")
    assert ov.description.startswith("Union of 800 m buffers")
    assert ov.accuracy == "derived" and ov.theme == "analysis" and ov.builder == ""
    assert ov.extra["derived_from"] == "rail_stations" and ov.sources == cat["rail_stations"].sources
    assert ov.field_label("area_km2").format_value(12.34) == "12.3 km²"
    assert load_style(ov.style).geometry == "polygon"
    assert cat.overlay_for("station_catchment", distance_m=500).title_en == "500 m station catchments"
    with pytest.raises(tj.TjSpatialError, match="no analysis overlay with role 'nope'.*station_catchment"):
        cat.overlay_for("nope")


def test_malformed_overlay_names_file_and_overlay(tmp_path):
    from tjspatial.paths import catalog_dir

    for f in catalog_dir().glob("*.toml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    bad = tmp_path / "80_analysis.toml"
    bad.write_text(bad.read_text(encoding="utf-8").replace('derived_from = "rail_stations"', 'derived_from = "x"'))
    with pytest.raises(CatalogError, match="80_analysis.toml, overlay 'station_catchments': derived_from 'x'"):
        load_catalog(tmp_path)
    bad.write_text(bad.read_text(encoding="utf-8").replace('derived_from = "x"', 'derived_from = "rail_stations"'))
    cat = load_catalog(tmp_path)
    with pytest.raises(CatalogError, match="overlay 'station_catchments': cannot fill"):
        cat.overlay_for("station_catchment")  # no distance given


def test_coverage_overlays_declare_fields_labels_and_ramp():
    cat = tj.get_catalog()
    now, plan = (cat.overlay_for(r, distance_m=800.0) for r in ("coverage_open", "coverage_plan"))
    assert (now.id, plan.id) == ("coverage_existing", "coverage_2025")
    assert now.accuracy == plan.accuracy == "modelled" and now.extra["derived_from"] == "districts"
    assert now.extra["ramp_field"] == "pop_share_pct" and now.extra["shown"] is True
    assert plan.extra["ramp_field"] == "pop_share_2025_pct" and plan.extra["shown"] is False
    assert (
        now.field_label("pop_share_pct").label
        == "车站 800 米内人口比例（现状） / Residents within 800 m of a station (existing)"
    )
    assert plan.field_label("delta_pp").format_value(-1.25) == "-1.2 pp"
    assert now.field_label("pop_2020") == cat["districts"].field_label("pop_2020")  # inherited from districts


def test_role_id_names_the_layer_of_a_role():
    from tjspatial.catalog import role_id

    assert role_id("municipality") == "boundary" and role_id("station_points") == "rail_stations"
    with pytest.raises(tj.TjSpatialError, match="no layer role 'nope'"):
        role_id("nope")
