from tjspatial import get_catalog
from tjspatial.docs import data_dictionary, dictionary_is_current


def test_data_dictionary_lists_every_layer_field_and_source():
    text = data_dictionary()
    cat = get_catalog()
    for layer in cat:
        assert f"### {layer.id}" in text
        for name in layer.all_fields:
            assert f"| `{name}` |" in text
    for sid in cat.sources:
        assert f"| `{sid}` |" in text
    assert "ODbL" in text


def test_layers_readme_is_current():
    assert dictionary_is_current(), "layers/README.md is stale: run `tjspatial dictionary` and commit it"
