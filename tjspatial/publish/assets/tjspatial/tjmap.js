/* tjspatial web-map runtime (MIT, part of tjspatial). Builds the overlays, layer control, legend, tooltips,
 * popups, search, minimap, measure, full screen and scale bar from one configuration object written by
 * tjspatial/publish/webmap.py. Every text that comes from data is put into the page with textContent (or
 * escaped with tj.esc where Leaflet wants HTML), so a feature named like an HTML image tag with an onerror handler shows as
 * text and runs nothing. */
(function () {
  'use strict';
  var tj = window.tj = window.tj || {};

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text != null && text !== '') { e.textContent = String(text); }
    return e;
  }
  tj.esc = esc;

  // The configuration and each layer's data are JSON script blocks written by tjspatial (never templates).
  function readJSON(id) {
    var node = document.getElementById(id);
    if (!node) { throw new Error('tjspatial: data block #' + id + ' is missing from the page'); }
    return JSON.parse(node.textContent);
  }
  tj.readConfig = function () {
    var cfg = readJSON('tj-config');
    cfg.layers.forEach(function (meta) {
      try { meta.data = readJSON(meta.data_id); } catch (err) {
        throw new Error('tjspatial: layer ' + meta.id + ': ' + err.message);
      }
    });
    return cfg;
  };
  tj.el = el;

  function accLabel(cfg, code) {
    var a = cfg.accuracy[code];
    return a ? a[0] + ' / ' + a[1] : String(code || '');
  }

  function featureStyle(meta, p) {
    var s = meta.style, c = p._c || null;
    var dash = s.dash || (p.accuracy === 'schematic' ? meta.schematic_dash : null);
    var line = meta.geometry === 'LineString';
    var st = {
      color: line && c ? c : s.stroke,
      weight: s.stroke_width,
      opacity: s.stroke_opacity,
      dashArray: dash,
      className: 'tj-f tj-l-' + meta.id
    };
    if (meta.ramp) {
      var v = p[meta.ramp.field];
      st.fillColor = rampColor(meta.ramp, v);
      st.fillOpacity = s.fill_opacity;
      st.fill = true;
    } else if (!line) {
      var fill = c || s.fill;
      st.fill = !!fill;
      st.fillColor = fill || s.stroke;
      st.fillOpacity = fill ? s.fill_opacity : 0;
    }
    return st;
  }

  function hexToRgb(h) { return [1, 3, 5].map(function (i) { return parseInt(h.substr(i, 2), 16); }); }
  function rampColor(r, v) {
    if (v == null || isNaN(v)) { return r.nodata || '#cccccc'; }
    var t = Math.max(0, Math.min(1, (v - r.min) / ((r.max - r.min) || 1)));
    var n = r.colors.length - 1, i = Math.min(n - 1, Math.floor(t * n)), f = t * n - i;
    var a = hexToRgb(r.colors[i]), b = hexToRgb(r.colors[i + 1]);
    return 'rgb(' + [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * f); }).join(',') + ')';
  }
  tj.rampColor = rampColor;

  function markerSvg(meta, p) {
    var s = meta.style, r = s.marker.radius || 6, d = 2 * r + 4, c = p._c || s.fill || s.stroke;
    var pts;
    if (s.marker.shape === 'square') {
      pts = [[2, 2], [d - 2, 2], [d - 2, d - 2], [2, d - 2]];
    } else if (s.marker.shape === 'triangle') {
      pts = [[d / 2, 2], [d - 2, d - 2], [2, d - 2]];
    } else {  // star
      pts = [];
      for (var k = 0; k < 10; k++) {
        var a = Math.PI / 2 + k * Math.PI / 5, rr = (k % 2 ? 0.45 : 1) * (d / 2 - 1);
        pts.push([d / 2 + rr * Math.cos(a), d / 2 - rr * Math.sin(a)]);
      }
    }
    var dash = s.dash || (p.accuracy === 'schematic' ? meta.schematic_dash : null);
    var svg = '<svg xmlns="http://www.w3.org/2000/svg" width="' + d + '" height="' + d + '"><polygon points="' +
      pts.map(function (q) { return q[0].toFixed(1) + ',' + q[1].toFixed(1); }).join(' ') +
      '" fill="' + esc(c) + '" fill-opacity="' + s.fill_opacity + '" stroke="' + esc(s.stroke) +
      '" stroke-width="' + s.stroke_width + '"' + (dash ? ' stroke-dasharray="2 2"' : '') + '/></svg>';
    return L.divIcon({html: svg, className: 'tj-marker tj-l-' + meta.id, iconSize: [d, d], iconAnchor: [d / 2, d / 2]});
  }

  function tooltipEl(cfg, meta, p) {
    var box = el('div', 'tj-tt');
    var name = el('div', 'tj-tt-name');
    name.appendChild(el('b', 'tj-zh', p.name_zh || ''));
    if (p.name_en) { name.appendChild(el('span', 'tj-en', (p.name_zh ? ' ' : '') + p.name_en)); }
    if (!p.name_zh && !p.name_en) { name.appendChild(el('i', 'tj-en', '（无名称）/ unnamed')); }
    box.appendChild(name);
    if (meta.ramp && p[meta.ramp.field] != null) {
      box.appendChild(el('div', 'tj-tt-val', meta.ramp.label + ': ' + fmt(p[meta.ramp.field]) + ' ' + (meta.ramp.unit || '')));
    }
    box.appendChild(el('div', 'tj-tt-layer', meta.title_zh + ' / ' + meta.title_en));
    var acc = el('div', 'tj-tt-acc tj-acc-' + (p.accuracy || meta.accuracy), '精度 / accuracy: ' + accLabel(cfg, p.accuracy || meta.accuracy));
    box.appendChild(acc);
    return box;
  }

  function fmt(v) {
    if (typeof v === 'number') { return Math.abs(v) >= 100 ? v.toLocaleString('en') : String(Math.round(v * 1000) / 1000); }
    if (typeof v === 'boolean') { return v ? '是 / yes' : '否 / no'; }
    return String(v);
  }

  function popupEl(cfg, meta, p) {
    var box = el('div', 'tj-pop');
    box.appendChild(tooltipEl(cfg, meta, p));
    var tbl = el('table', 'tj-pop-tbl');
    meta.fields.forEach(function (f) {
      var v = p[f];
      if (v == null || v === '') { return; }
      var tr = el('tr');
      tr.appendChild(el('th', null, f));
      tr.appendChild(el('td', null, /code|_id$|year/.test(f) ? String(v) : fmt(v)));  // codes without separators
      tbl.appendChild(tr);
    });
    var src = String(p.source || '').split(/;\s*/).filter(Boolean).map(function (s) { return cfg.sources[s] || s; });
    var tr = el('tr');
    tr.appendChild(el('th', null, '来源 / source'));
    tr.appendChild(el('td', null, src.join('; ')));
    tbl.appendChild(tr);
    box.appendChild(tbl);
    if (meta.limitations) { box.appendChild(el('div', 'tj-pop-lim', '局限 / limitations: ' + meta.limitations)); }
    return box;
  }

  function makeOverlay(cfg, meta, map) {
    var labels = [];
    var gj = L.geoJSON(meta.data, {
      style: function (f) { return featureStyle(meta, f.properties); },
      pointToLayer: function (f, latlng) {
        var s = meta.style;
        if (!s.marker || !s.marker.shape || s.marker.shape === 'circle') {
          var st = featureStyle(meta, f.properties);
          st.radius = (s.marker && s.marker.radius) || 4;
          return L.circleMarker(latlng, st);
        }
        return L.marker(latlng, {icon: markerSvg(meta, f.properties), keyboard: false});
      },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        layer.bindTooltip(function () { return tooltipEl(cfg, meta, p); },
                          {sticky: meta.geometry !== 'Point', direction: 'top', className: 'tj-tooltip'});
        layer.bindPopup(function () { return popupEl(cfg, meta, p); }, {maxWidth: 360});
        if (meta.label_field && p[meta.label_field] && p._lx != null) {
          var lab = el('span', 'tj-label-text', p[meta.label_field]);
          labels.push(L.marker([p._ly, p._lx], {
            icon: L.divIcon({html: lab, className: 'tj-label', iconSize: null}), interactive: false, keyboard: false
          }));
        }
      }
    });
    var parts = [gj];
    if (labels.length) { parts.push(L.layerGroup(labels)); }
    var group = L.featureGroup(parts);
    group.tjMeta = meta;
    group.tjGeoJSON = gj;
    return group;
  }

  function overlayName(cfg, meta) {
    var badge = meta.schematic
      ? ' <span class="tj-badge tj-badge-schematic">' + esc(meta.accuracy_label) + '</span>'
      : ' <span class="tj-badge">' + esc(meta.accuracy_label) + '</span>';
    return '<span class="tj-ln" data-tj-layer="' + esc(meta.id) + '">' + esc(meta.title_zh) +
      ' <span class="tj-en">' + esc(meta.title_en) + '</span>' + badge + '</span>';
  }

  function legendSwatch(meta, entry) {
    var sw = el('span', 'tj-sw tj-sw-' + meta.geometry.toLowerCase());
    var col = entry.color || meta.style.stroke;
    if (meta.geometry === 'LineString') {
      sw.style.borderTop = meta.style.stroke_width + 'px ' + (entry.dash ? 'dashed ' : 'solid ') + col;
    } else if (meta.geometry === 'Point') {
      sw.style.background = entry.color || meta.style.fill || meta.style.stroke;
      sw.style.border = '1px ' + (entry.dash ? 'dashed ' : 'solid ') + meta.style.stroke;
      if (meta.style.marker && meta.style.marker.shape !== 'circle') { sw.className += ' tj-sw-' + meta.style.marker.shape; }
    } else {
      var fill = entry.color || meta.style.fill;
      sw.style.background = fill || 'transparent';
      sw.style.opacity = fill ? Math.max(0.35, meta.style.fill_opacity) : 1;
      sw.style.border = '2px ' + (entry.dash ? 'dashed ' : 'solid ') + meta.style.stroke;
    }
    return sw;
  }

  function legendBlock(meta) {
    var box = el('div', 'tj-lg-layer');
    box.setAttribute('data-tj-layer', meta.id);
    var head = el('div', 'tj-lg-title', meta.title_zh + ' / ' + meta.title_en);
    if (meta.schematic) { head.appendChild(el('span', 'tj-badge tj-badge-schematic', meta.accuracy_label)); }
    box.appendChild(head);
    if (meta.ramp) {
      box.appendChild(el('div', 'tj-lg-ramplabel', meta.ramp.label));
      var bar = el('div', 'tj-lg-ramp');
      bar.style.background = 'linear-gradient(to right,' + meta.ramp.colors.join(',') + ')';
      box.appendChild(bar);
      var ticks = el('div', 'tj-lg-ticks');
      ticks.appendChild(el('span', null, fmt(meta.ramp.min) + ' ' + (meta.ramp.unit || '')));
      ticks.appendChild(el('span', null, fmt(meta.ramp.max) + ' ' + (meta.ramp.unit || '')));
      box.appendChild(ticks);
      return box;
    }
    (meta.legend.length ? meta.legend : [{label: '', dash: meta.schematic}]).forEach(function (entry) {
      var row = el('div', 'tj-lg-row');
      row.appendChild(legendSwatch(meta, entry));
      row.appendChild(el('span', null, entry.label || meta.accuracy_label));
      box.appendChild(row);
    });
    return box;
  }

  function buildLegend(cfg, map, overlays) {
    var ctl = L.control({position: 'bottomleft'});
    ctl.onAdd = function () {
      var div = el('div', 'tj-legend leaflet-control');
      var head = el('div', 'tj-lg-head', '图例 / Legend');
      var body = el('div', 'tj-lg-body');
      head.addEventListener('click', function () { div.classList.toggle('tj-collapsed'); });
      div.appendChild(head);
      div.appendChild(body);
      overlays.forEach(function (o) {
        var b = legendBlock(o.tjMeta);
        if (!map.hasLayer(o)) { b.style.display = 'none'; }
        o.tjLegend = b;
        body.appendChild(b);
      });
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    ctl.addTo(map);
    map.on('overlayadd overlayremove', function (e) {
      if (e.layer && e.layer.tjLegend) { e.layer.tjLegend.style.display = e.type === 'overlayadd' ? '' : 'none'; }
    });
  }

  function buildSearch(cfg, map, overlays) {
    if (!L.Control.Search) { return; }
    var records = [], targets = {};
    overlays.forEach(function (o) {
      if (cfg.search.indexOf(o.tjMeta.id) < 0) { return; }
      o.tjGeoJSON.eachLayer(function (l) {
        var p = l.feature.properties, key = p._q;
        if (!key) { return; }
        var ll = l.getLatLng ? l.getLatLng() : l.getBounds().getCenter();
        var where = ll.lat.toFixed(6) + ',' + ll.lng.toFixed(6);
        if (!targets[where]) { records.push({title: key, loc: [ll.lat, ll.lng]}); }
        targets[where] = targets[where] || {overlay: o, layer: l};
      });
    });
    if (!records.length) { return; }
    var search = new L.Control.Search({
      position: 'topleft', initial: false, marker: false, zoom: 14, casesensitive: false, autoCollapse: true,
      propertyName: 'title', propertyLoc: 'loc',
      textPlaceholder: cfg.search_placeholder, textErr: '未找到 / not found', textCancel: '取消 / cancel',
      sourceData: function (text, callResponse) { callResponse(records); return {abort: function () {}}; },
      buildTip: function (text) { var li = el('li', null, text); return li; }
    });
    search.on('search:locationfound', function (e) {
      var t = targets[e.latlng.lat.toFixed(6) + ',' + e.latlng.lng.toFixed(6)];  // e.text is cleared on collapse
      if (!t) { return; }
      if (!map.hasLayer(t.overlay)) { map.addLayer(t.overlay); }
      t.layer.openPopup();
    });
    map.addControl(search);
    tj.search = search;
  }

  function basemaps(cfg, map) {
    var bases = {}, first = null;
    cfg.basemaps.forEach(function (b) {
      var layer = b.url ? L.tileLayer(b.url, {attribution: b.attribution_html, maxZoom: b.max_zoom || 19,
                                               subdomains: b.subdomains || 'abc'})
                        : L.layerGroup([], {attribution: ''});
      bases['<span class="tj-base" data-tj-base="' + esc(b.id) + '">' + esc(b.name) + '</span>'] = layer;
      if (b.default) { first = layer; }
    });
    if (first) { first.addTo(map); }
    return bases;
  }

  tj.init = function (map, cfg) {
    if (cfg.default_icon) {  // offline: default marker images inlined (plugins such as measure place markers)
      L.Icon.Default.imagePath = '';
      L.Icon.Default.mergeOptions(cfg.default_icon);
    }
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a> · tjspatial');
    if (cfg.attribution_html) { map.attributionControl.addAttribution(cfg.attribution_html); }
    var bases = basemaps(cfg, map);
    var overlays = [], byId = {}, groups = {};
    cfg.groups.forEach(function (g) { groups[g.label] = {}; });
    cfg.layers.forEach(function (meta) {
      var o = makeOverlay(cfg, meta, map);
      overlays.push(o);
      byId[meta.id] = o;
      groups[meta.group_label][overlayName(cfg, meta)] = o;
    });
    // draw order follows the styles' z (higher on top), also after a layer is switched off and on again
    var stack = overlays.slice().sort(function (a, b) { return a.tjMeta.style.z - b.tjMeta.style.z; });
    stack.forEach(function (o) { if (o.tjMeta.show) { o.addTo(map); } });
    map.on('overlayadd', function () {
      stack.forEach(function (o) { if (map.hasLayer(o)) { o.bringToFront(); } });
    });
    var ctl = L.control.groupedLayers(bases, groups, {collapsed: window.innerWidth < 900, position: 'topright'});
    ctl.addTo(map);
    buildLegend(cfg, map, overlays);
    L.control.scale({imperial: false, maxWidth: 160, position: 'bottomright'}).addTo(map);
    if (L.control.fullscreen) {
      L.control.fullscreen({position: 'topleft', title: '全屏 / Full screen', titleCancel: '退出全屏 / Exit full screen'}).addTo(map);
    }
    if (L.control.measure) {
      // leaflet-measure 2.x with Leaflet >= 1.8: its invisible capture marker gets focus and the map pans to it
      // on every click (ljagis/leaflet-measure#171); keep the marker from auto-panning.
      L.Control.Measure.include({
        _setCaptureMarkerIcon: function () {
          this._captureMarker.options.autoPanOnFocus = false;
          this._captureMarker.setIcon(L.divIcon({iconSize: this._map.getSize().multiplyBy(2)}));
        }
      });
      L.control.measure({position: 'topleft', primaryLengthUnit: 'kilometers', secondaryLengthUnit: 'meters',
                         primaryAreaUnit: 'hectares', secondaryAreaUnit: 'sqmeters'}).addTo(map);
    }
    if (L.Control.MiniMap) {
      var mini = cfg.minimap_url
        ? L.tileLayer(cfg.minimap_url, {attribution: ''})
        : L.geoJSON(cfg.minimap_outline_layer ? byId[cfg.minimap_outline_layer].tjMeta.data : null, {style: function () { return cfg.minimap_style; }, interactive: false});
      new L.Control.MiniMap(mini, {toggleDisplay: true, position: 'bottomright', width: 140, height: 140,
                                   zoomLevelOffset: -4, strings: {hideText: '隐藏 / hide', showText: '鹰眼 / overview'}}).addTo(map);
    }
    buildSearch(cfg, map, overlays);
    var b = cfg.bounds;
    if (b) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {padding: [10, 10]}); }
    tj.map = map;
    tj.layers = byId;
    tj.control = ctl;
    tj.ready = true;
    return tj;
  };
}());
