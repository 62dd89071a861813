/* tjspatial web-map runtime (MIT, part of tjspatial). Builds the overlays, offline base map, layer control,
 * legend, labels, tooltips, popups, search, minimap, measure, coordinates, share link, print, full screen and
 * scale bar from configuration and data blocks written by tjspatial/publish/webmap.py
 * (<script type="application/json"> blocks: data, never template). Every text that comes from data is put into
 * the page with textContent (or escaped with tj.esc where Leaflet wants HTML), so a feature named like an HTML
 * image tag with an onerror handler shows as text and runs nothing. */
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
  tj.el = el;

  // ------------------------------------------------------------------------------------------ data blocks
  function readJSON(id) {
    var node = document.getElementById(id);
    if (!node) { throw new Error('tjspatial: data block #' + id + ' is missing from the page'); }
    return JSON.parse(node.textContent);
  }
  // Quantised geometry ("q": integers in 1/scale degrees, delta-encoded per ring) back to GeoJSON coordinates.
  function dequantise(fc) {
    var s = fc.quantised;
    if (!s) { return fc; }
    function ring(a) {
      var out = [], x = 0, y = 0;
      for (var i = 0; i < a.length; i += 2) { x += a[i]; y += a[i + 1]; out.push([x / s, y / s]); }
      return out;
    }
    fc.features.forEach(function (f) {
      var g = f.geometry;
      if (!g || !g.q) { return; }
      if (g.type === 'Point') { g.coordinates = ring(g.q)[0]; }
      else if (g.type === 'LineString' || g.type === 'MultiPoint') { g.coordinates = ring(g.q); }
      else if (g.type === 'Polygon' || g.type === 'MultiLineString') { g.coordinates = g.q.map(ring); }
      else if (g.type === 'MultiPolygon') { g.coordinates = g.q.map(function (p) { return p.map(ring); }); }
      delete g.q;
    });
    return fc;
  }
  tj.readConfig = function () {
    var cfg = readJSON('tj-config');
    cfg.layers.forEach(function (meta) {
      try { meta.data = dequantise(readJSON(meta.data_id)); } catch (err) {
        throw new Error('tjspatial: layer ' + meta.id + ': ' + err.message);
      }
    });
    if (cfg.offline_base) {
      cfg.offline_base.parts.forEach(function (part) { part.data = dequantise(readJSON(part.data_id)); });
    }
    return cfg;
  };

  // ------------------------------------------------------------------------------------------ formatting
  function accLabel(cfg, code) {
    var a = cfg.accuracy[code];
    return a ? a[0] + ' / ' + a[1] : String(code || '');
  }
  function fmt(v) {
    if (typeof v === 'number') { return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en') : String(Math.round(v * 1000) / 1000); }
    if (typeof v === 'boolean') { return v ? '是 / yes' : '否 / no'; }
    return String(v);
  }
  // A value as declared in the catalog's [layer.field_labels]: words for codes, number format, unit.
  function fmtField(fl, v) {
    if (v == null || v === '' || (typeof v === 'number' && isNaN(v))) { return null; }
    if (fl.values && fl.values[String(v)] != null) { return fl.values[String(v)]; }
    var t, d;
    switch (fl.format) {
      case 'int': t = Math.round(Number(v)).toLocaleString('en'); break;
      case 'code': t = String(v); break;
      case 'float': case 'percent':
        d = fl.decimals == null ? 1 : fl.decimals;
        t = Number(v).toLocaleString('en', {minimumFractionDigits: d, maximumFractionDigits: d}) +
          (fl.format === 'percent' ? ' %' : '');
        break;
      case 'bool': return (v === true || v === 'true' || v === 1) ? '是 / yes' : '否 / no';
      default: t = String(v);
    }
    return fl.unit ? t + ' ' + fl.unit : t;
  }
  tj.fmtField = fmtField;

  // ------------------------------------------------------------------------------------------ symbols
  // styles/cartography.json: status owns the dash; accuracy owns a translucent casing (never the dash).
  function dashFor(cfg, meta, p) {
    var c = cfg.cartography;
    if (!meta.has_status) { return null; }
    var cls = c.statuses[p[c.status_field] || c.default_status] || c.statuses[c.default_status];
    return cls.dash;
  }
  function isApprox(cfg, meta, p) {
    return cfg.cartography.approximate.indexOf(p.accuracy || meta.accuracy) >= 0;
  }
  function featureColour(meta, p) {
    var s = meta.style;
    if (meta.ramp) { return rampColor(meta.ramp, p[meta.ramp.field]); }
    return p._c || (meta.geometry === 'LineString' ? s.stroke : (s.fill || s.stroke));
  }
  function featureStyle(cfg, meta, p) {
    var s = meta.style, c = p._c || null;
    var line = meta.geometry === 'LineString';
    var st = {
      color: line && c ? c : s.stroke,
      weight: s.stroke_width,
      opacity: s.stroke_opacity,
      dashArray: dashFor(cfg, meta, p),
      className: 'tj-f tj-l-' + meta.id
    };
    if (meta.ramp) {
      st.fillColor = rampColor(meta.ramp, p[meta.ramp.field]);
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

  function markerSvg(cfg, meta, p) {
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
    var dash = dashFor(cfg, meta, p);
    var svg = '<svg xmlns="http://www.w3.org/2000/svg" width="' + d + '" height="' + d + '"><polygon points="' +
      pts.map(function (q) { return q[0].toFixed(1) + ',' + q[1].toFixed(1); }).join(' ') +
      '" fill="' + esc(c) + '" fill-opacity="' + s.fill_opacity + '" stroke="' + esc(s.stroke) +
      '" stroke-width="' + s.stroke_width + '"' + (dash ? ' stroke-dasharray="2 2"' : '') + '/></svg>';
    return L.divIcon({html: svg, className: 'tj-marker tj-l-' + meta.id, iconSize: [d, d], iconAnchor: [d / 2, d / 2]});
  }

  // ------------------------------------------------------------------------------------------ tooltips, popups
  function displayName(meta, p) {
    if (p.name_zh || p.name_en) { return null; }
    return meta.unnamed_label ? (meta.unnamed_labels[p[meta.unnamed_label]] || meta.unnamed_default) : meta.unnamed_default;
  }
  function nameEl(meta, p) {
    var name = el('div', 'tj-tt-name');
    var unnamed = displayName(meta, p);
    if (unnamed) { name.appendChild(el('i', null, unnamed)); return name; }
    name.appendChild(el('b', 'tj-zh', p.name_zh || ''));
    if (p.name_en) { name.appendChild(el('span', 'tj-en', (p.name_zh ? ' ' : '') + p.name_en)); }
    return name;
  }
  function tooltipEl(cfg, meta, p) {
    var box = el('div', 'tj-tt');
    box.appendChild(nameEl(meta, p));
    if (meta.ramp && p[meta.ramp.field] != null) {
      box.appendChild(el('div', 'tj-tt-val', meta.ramp.label + ': ' + fmt(p[meta.ramp.field]) + ' ' + (meta.ramp.unit || '')));
    }
    box.appendChild(el('div', 'tj-tt-layer', meta.title_zh + ' / ' + meta.title_en));
    var acc = p.accuracy || meta.accuracy;
    box.appendChild(el('div', 'tj-tt-acc tj-acc-' + acc, '精度 / accuracy: ' + accLabel(cfg, acc)));
    return box;
  }
  function popupEl(cfg, meta, p) {
    var box = el('div', 'tj-pop');
    box.appendChild(tooltipEl(cfg, meta, p));
    var tbl = el('table', 'tj-pop-tbl');
    function row(label, value) {
      var tr = el('tr');
      tr.appendChild(el('th', null, label));
      tr.appendChild(el('td', null, value));
      tbl.appendChild(tr);
    }
    meta.fields.forEach(function (fl) {
      var v = fmtField(fl, p[fl.name]);
      if (v != null && v !== '') { row(fl.label, v); }
    });
    var src = String(p.source || '').split(/;\s*/).filter(Boolean).map(function (s) { return cfg.sources[s] || s; });
    row('来源 / source', src.join('; '));
    box.appendChild(tbl);
    if (meta.limitations) { box.appendChild(el('div', 'tj-pop-lim', '局限 / limitations: ' + meta.limitations)); }
    return box;
  }

  // ------------------------------------------------------------------------------------------ overlays
  function paneFor(map, name, z) {
    if (!map.getPane(name)) { map.createPane(name).style.zIndex = String(z); }
    return name;
  }

  // ------------------------------------------------------------------------------------------ large layers
  // A layer written as columns (TjColumns: delta-encoded integer coordinates, one array per field) is drawn by
  // one canvas per layer, redrawn after each pan or zoom: only features in view, vertices closer than a pixel
  // to the previous one skipped (zoom-dependent simplification), one path per colour. Popups and tooltips
  // find the feature under the pointer (bounding boxes, then the exact shape) and are built only then.
  function decodeColumns(d) {
    var n = d.n, s = d.scale, c = d.coords || [], nv = c.length / 2;
    var mx = new Float64Array(nv), my = new Float64Array(nv), x = 0, y = 0, R = Math.PI / 180;
    for (var i = 0; i < nv; i++) {
      x += c[2 * i]; y += c[2 * i + 1];
      var lon = x / s, lat = y / s;
      mx[i] = (lon + 180) / 360;
      my[i] = (1 - Math.log(Math.tan(Math.PI / 4 + lat * R / 2)) / Math.PI) / 2;
    }
    // rings per feature, vertex start per ring
    var ringCounts = d.rings || [], ringStart = new Int32Array(ringCounts.length + 1);
    for (i = 0; i < ringCounts.length; i++) { ringStart[i + 1] = ringStart[i] + ringCounts[i]; }
    var featRings = new Int32Array(n + 1);
    if (d.geometry === 'Point') {
      for (i = 0; i < n; i++) { featRings[i + 1] = i + 1; }
      ringStart = new Int32Array(n + 1);
      for (i = 0; i <= n; i++) { ringStart[i] = i; }
    } else {
      var perPart = d.parts || null, perFeat = d.feats || null, r = 0, p = 0;
      for (i = 0; i < n; i++) {
        var parts = perFeat ? perFeat[i] : 1, rings = 0;
        for (var k = 0; k < parts; k++) { rings += perPart ? perPart[p + k] : 1; }
        p += parts;
        r += rings;
        featRings[i + 1] = r;
      }
    }
    var bbox = new Float64Array(4 * n);
    for (i = 0; i < n; i++) {
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (var v = ringStart[featRings[i]]; v < ringStart[featRings[i + 1]]; v++) {
        if (mx[v] < x0) { x0 = mx[v]; } if (mx[v] > x1) { x1 = mx[v]; }
        if (my[v] < y0) { y0 = my[v]; } if (my[v] > y1) { y1 = my[v]; }
      }
      bbox[4 * i] = x0; bbox[4 * i + 1] = y0; bbox[4 * i + 2] = x1; bbox[4 * i + 3] = y1;
    }
    return {n: n, mx: mx, my: my, ringStart: ringStart, featRings: featRings, bbox: bbox, geometry: d.geometry,
            props: d.props};
  }
  function columnProps(g, i) {
    var p = {};
    Object.keys(g.props).forEach(function (k) { var c = g.props[k]; p[k] = 'c' in c ? c.c : c.v[i]; });
    return p;
  }
  function colValue(g, k, i) { var c = g.props[k]; return !c ? undefined : ('c' in c ? c.c : c.v[i]); }

  var TjCanvas = L.Layer.extend({
    initialize: function (cfg, meta, pane) {
      this._cfg = cfg; this._meta = meta; this._pane = pane;
      this._g = decodeColumns(meta.data);
    },
    onAdd: function (map) {
      this._canvas = L.DomUtil.create('canvas', 'tj-canvas tj-l-canvas-' + this._meta.id);
      this._canvas.style.position = 'absolute';
      map.getPane(this._pane).appendChild(this._canvas);
      map.on('moveend resize', this._redraw, this);
      map.on('zoomstart', this._hide, this);
      map.on('click', this._click, this);
      map.on('mousemove', this._hover, this);
      this._redraw();
    },
    onRemove: function (map) {
      L.DomUtil.remove(this._canvas);
      map.off('moveend resize', this._redraw, this);
      map.off('zoomstart', this._hide, this);
      map.off('click', this._click, this);
      map.off('mousemove', this._hover, this);
      if (this._tip) { map.closeTooltip(this._tip); }
    },
    _hide: function () { this._canvas.style.visibility = 'hidden'; },
    _px: function () {  // normalised Mercator -> container pixels
      var map = this._map, scale = 256 * Math.pow(2, map.getZoom());
      var nw = map.latLngToContainerPoint(map.containerPointToLatLng([0, 0]));
      var origin = map.project(map.containerPointToLatLng([0, 0]));
      return {s: scale, ox: origin.x - nw.x, oy: origin.y - nw.y};
    },
    _redraw: function () {
      var map = this._map, size = map.getSize(), c = this._canvas, dpr = window.devicePixelRatio || 1;
      var cfg = this._cfg, meta = this._meta, g = this._g, st = meta.style;
      L.DomUtil.setPosition(c, map.containerPointToLayerPoint([0, 0]));
      c.width = size.x * dpr; c.height = size.y * dpr;
      c.style.width = size.x + 'px'; c.style.height = size.y + 'px';
      c.style.visibility = '';
      var ctx = c.getContext('2d'), t = this._px();
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      var vx0 = t.ox / t.s, vy0 = t.oy / t.s, vx1 = (t.ox + size.x) / t.s, vy1 = (t.oy + size.y) / t.s;
      var groups = {}, order = [], drawn = 0;
      for (var i = 0; i < g.n; i++) {
        if (g.bbox[4 * i + 2] < vx0 || g.bbox[4 * i] > vx1 || g.bbox[4 * i + 3] < vy0 || g.bbox[4 * i + 1] > vy1) { continue; }
        var p = {_c: colValue(g, '_c', i), accuracy: colValue(g, 'accuracy', i)};
        if (meta.has_status) { p[cfg.cartography.status_field] = colValue(g, cfg.cartography.status_field, i); }
        if (meta.ramp) { p[meta.ramp.field] = colValue(g, meta.ramp.field, i); }
        var sty = featureStyle(cfg, meta, p), key = [sty.color, sty.fillColor, sty.dashArray, isApprox(cfg, meta, p)].join('|');
        if (!groups[key]) { groups[key] = {sty: sty, approx: isApprox(cfg, meta, p), ids: []}; order.push(key); }
        groups[key].ids.push(i);
        drawn++;
      }
      var self = this;
      order.forEach(function (key) {
        var grp = groups[key], sty = grp.sty;
        ctx.beginPath();
        grp.ids.forEach(function (i) { self._path(ctx, i, t); });
        if (g.geometry.indexOf('Polygon') >= 0 && sty.fill) {
          ctx.globalAlpha = sty.fillOpacity; ctx.fillStyle = sty.fillColor; ctx.fill('evenodd');
        } else if (g.geometry.indexOf('Point') >= 0) {
          ctx.globalAlpha = sty.fillOpacity == null ? 1 : sty.fillOpacity; ctx.fillStyle = sty.fillColor || sty.color; ctx.fill();
        }
        if (grp.approx && g.geometry.indexOf('Point') < 0) {
          ctx.globalAlpha = cfg.cartography.casing_opacity; ctx.lineWidth = st.stroke_width + cfg.cartography.casing_px;
          ctx.setLineDash([]); ctx.strokeStyle = sty.color; ctx.stroke();
        }
        if (st.stroke_width > 0) {
          ctx.globalAlpha = sty.opacity; ctx.lineWidth = sty.weight; ctx.strokeStyle = sty.color;
          ctx.setLineDash(sty.dashArray ? String(sty.dashArray).split(/[ ,]+/).map(Number) : []);
          ctx.stroke();
        }
      });
      ctx.globalAlpha = 1;
      this._drawn = drawn;
      c.setAttribute('data-tj-drawn', String(drawn));
    },
    _path: function (ctx, i, t) {
      var g = this._g, r = (this._meta.style.marker && this._meta.style.marker.radius) || 3;
      for (var ring = g.featRings[i]; ring < g.featRings[i + 1]; ring++) {
        var a = g.ringStart[ring], b = g.ringStart[ring + 1];
        var lx = g.mx[a] * t.s - t.ox, ly = g.my[a] * t.s - t.oy;
        if (g.geometry.indexOf('Point') >= 0) { ctx.moveTo(lx + r, ly); ctx.arc(lx, ly, r, 0, 2 * Math.PI); continue; }
        ctx.moveTo(lx, ly);
        var px = lx, py = ly;
        for (var v = a + 1; v < b; v++) {
          var x = g.mx[v] * t.s - t.ox, y = g.my[v] * t.s - t.oy;
          if (v < b - 1 && Math.abs(x - px) < 0.7 && Math.abs(y - py) < 0.7) { continue; }  // sub-pixel: skipped
          ctx.lineTo(x, y);
          px = x; py = y;
        }
        if (g.geometry.indexOf('Polygon') >= 0) { ctx.closePath(); }
      }
    },
    _hit: function (latlng) {
      var g = this._g, t = this._px(), cp = this._map.latLngToContainerPoint(latlng);
      var x = (cp.x + t.ox) / t.s, y = (cp.y + t.oy) / t.s, tol = 4 / t.s;
      for (var i = g.n - 1; i >= 0; i--) {
        if (x < g.bbox[4 * i] - tol || x > g.bbox[4 * i + 2] + tol || y < g.bbox[4 * i + 1] - tol || y > g.bbox[4 * i + 3] + tol) { continue; }
        if (g.geometry.indexOf('Polygon') < 0) { return i; }  // lines and points: within 4 px of the box
        var inside = false;
        for (var ring = g.featRings[i]; ring < g.featRings[i + 1]; ring++) {
          for (var a = g.ringStart[ring], b = g.ringStart[ring + 1], v = a, w = b - 1; v < b; w = v++) {
            if ((g.my[v] > y) !== (g.my[w] > y) &&
                x < (g.mx[w] - g.mx[v]) * (y - g.my[v]) / (g.my[w] - g.my[v]) + g.mx[v]) { inside = !inside; }
          }
        }
        if (inside) { return i; }
      }
      return -1;
    },
    _click: function (e) {
      var i = this._hit(e.latlng);
      if (i < 0) { return; }
      L.popup({maxWidth: 360, autoPanPaddingTopLeft: tj.popupPad})
        .setLatLng(e.latlng).setContent(popupEl(this._cfg, this._meta, columnProps(this._g, i))).openOn(this._map);
    },
    _hover: function (e) {
      var now = Date.now();
      if (this._last && now - this._last < 60) { return; }
      this._last = now;
      var i = this._hit(e.latlng), map = this._map;
      if (i < 0) { if (this._tip) { map.closeTooltip(this._tip); } return; }
      this._tip = this._tip || L.tooltip({direction: 'top', className: 'tj-tooltip', offset: [0, -6]});
      this._tip.setLatLng(e.latlng).setContent(tooltipEl(this._cfg, this._meta, columnProps(this._g, i)));
      if (!map.hasLayer(this._tip)) { this._tip.addTo(map); }
    }
  });

  function makeOverlay(cfg, meta, map) {
    var pane = paneFor(map, 'tj-p-' + meta.id, 400 + Math.round(meta.style.z || 0));
    if (meta.data && meta.data.type === 'TjColumns') {
      var cv = new TjCanvas(cfg, meta, pane);
      var grp = L.featureGroup([cv]);
      grp.tjMeta = meta; grp.tjCanvas = cv; grp.tjPane = pane;
      grp.tjGeoJSON = L.geoJSON(null);  // search and labels see no features of a canvas layer
      return grp;
    }
    var renderer = meta.render === 'canvas' ? L.canvas({pane: pane, padding: 0.3}) : L.svg({pane: pane});
    var c = cfg.cartography, s = meta.style;
    var approx = meta.data.features.filter(function (f) { return isApprox(cfg, meta, f.properties); });
    var parts = [];
    if (approx.length) {  // accuracy channel: a translucent casing in the feature's own colour, below it
      parts.push(L.geoJSON({type: 'FeatureCollection', features: approx}, {
        pane: pane, renderer: renderer, interactive: false,
        style: function (f) {
          var poly = meta.geometry === 'Polygon';
          return {color: poly ? s.stroke : featureColour(meta, f.properties), weight: s.stroke_width + c.casing_px,
                  opacity: c.casing_opacity, fill: false, interactive: false, className: 'tj-casing tj-casing-' + meta.id};
        },
        pointToLayer: function (f, latlng) {
          var r = (s.marker && s.marker.radius) || 4;
          return L.circleMarker(latlng, {pane: pane, renderer: renderer, radius: r + c.casing_px / 2, stroke: false,
                                         fillColor: featureColour(meta, f.properties), fillOpacity: c.casing_opacity,
                                         interactive: false, className: 'tj-casing tj-casing-' + meta.id});
        }
      }));
    }
    var state = {unnamed: !meta.unnamed_hidden};
    var named = function (f) { return state.unnamed || !!(f.properties.name_zh || f.properties.name_en); };
    var gj = L.geoJSON(meta.data, {
      pane: pane,
      renderer: renderer,
      filter: named,
      style: function (f) { return featureStyle(cfg, meta, f.properties); },
      pointToLayer: function (f, latlng) {
        if (!s.marker || !s.marker.shape || s.marker.shape === 'circle') {
          var st = featureStyle(cfg, meta, f.properties);
          st.radius = (s.marker && s.marker.radius) || 4;
          st.pane = pane;
          st.renderer = renderer;
          return L.circleMarker(latlng, st);
        }
        return L.marker(latlng, {icon: markerSvg(cfg, meta, f.properties), keyboard: false, pane: pane});
      }
    });
    // tooltips and popups are bound once per layer and built only when shown (lazy)
    gj.bindTooltip(function (l) { return tooltipEl(cfg, meta, l.feature.properties); },
                   {sticky: meta.geometry !== 'Point', direction: 'top', className: 'tj-tooltip'});
    gj.bindPopup(function (l) { return popupEl(cfg, meta, l.feature.properties); },
                 {maxWidth: 360, autoPanPaddingTopLeft: tj.popupPad, autoPanPaddingBottomRight: L.point(10, 30)});
    parts.push(gj);
    var group = L.featureGroup(parts);
    group.tjMeta = meta;
    group.tjGeoJSON = gj;
    group.tjPane = pane;
    group.tjShowUnnamed = function (on) {  // unnamed nodes (by type) are hidden until asked for
      state.unnamed = !!on;
      gj.clearLayers();
      gj.addData(meta.data);
    };
    return group;
  }

  function overlayName(cfg, meta) {
    var badge = '';
    (meta.badges || []).forEach(function (b) {
      badge += ' <span class="tj-badge' + (b.warn ? ' tj-badge-schematic' : '') + '">' + esc(b.text) + '</span>';
    });
    return '<span class="tj-ln" data-tj-layer="' + esc(meta.id) + '">' + esc(meta.title_zh) +
      ' <span class="tj-en">' + esc(meta.title_en) + '</span>' + badge + '</span>';
  }

  // ------------------------------------------------------------------------------------------ legend
  function legendSwatch(cfg, meta, entry) {
    var sw = el('span', 'tj-sw tj-sw-' + meta.geometry.toLowerCase());
    var col = entry.color || (meta.geometry === 'Point' ? (meta.style.fill || meta.style.stroke) : meta.style.stroke);
    var dash = entry.dash ? 'dashed ' : 'solid ';
    if (meta.geometry === 'LineString') {
      sw.style.borderTop = meta.style.stroke_width + 'px ' + dash + col;
      if (entry.dash) { sw.setAttribute('data-dash', entry.dash); }
    } else if (meta.geometry === 'Point') {
      if (meta.style.marker && meta.style.marker.shape && meta.style.marker.shape !== 'circle') {
        // the same SVG symbol as on the map (star, square, triangle)
        sw.className += ' tj-sw-' + meta.style.marker.shape;
        sw.innerHTML = markerSvg(cfg, meta, {_c: entry.color || null}).options.html;
      } else {
        sw.style.background = col;
        sw.style.border = '1px ' + dash + meta.style.stroke;
      }
    } else {
      var fill = entry.color || meta.style.fill;
      sw.style.background = fill || 'transparent';
      sw.style.opacity = fill ? Math.max(0.35, meta.style.fill_opacity) : 1;
      sw.style.border = '2px ' + dash + meta.style.stroke;
    }
    if (entry.casing) {
      sw.style.boxShadow = '0 0 0 ' + Math.max(2, cfg.cartography.casing_px / 2) + 'px ' +
        'rgba(' + hexToRgb(/^#[0-9a-f]{6}$/i.test(col) ? col : '#888888').join(',') + ',' + cfg.cartography.casing_opacity + ')';
      sw.className += ' tj-sw-casing';
    }
    return sw;
  }

  function legendBlock(cfg, meta, map, overlay) {
    var box = el('details', 'tj-lg-layer');
    box.open = true;
    box.setAttribute('data-tj-layer', meta.id);
    var head = el('summary', 'tj-lg-title', meta.title_zh + ' / ' + meta.title_en);
    (meta.badges || []).forEach(function (b) { if (b.warn) { head.appendChild(el('span', 'tj-badge tj-badge-schematic', b.text)); } });
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
    } else {
      (meta.legend.length ? meta.legend : [{label: meta.accuracy_label}]).forEach(function (entry) {
        var row = el('div', 'tj-lg-row');
        row.appendChild(legendSwatch(cfg, meta, entry));
        row.appendChild(el('span', null, entry.label || meta.accuracy_label));
        box.appendChild(row);
      });
    }
    if (meta.unnamed_hidden && meta.unnamed_count) {
      var un = el('label', 'tj-unnamed');
      var cb = el('input');
      cb.type = 'checkbox';
      cb.setAttribute('data-tj-unnamed', meta.id);
      cb.addEventListener('change', function () { overlay.tjShowUnnamed(cb.checked); });
      un.appendChild(cb);
      un.appendChild(el('span', null, ' 显示未命名节点（' + meta.unnamed_count + '）/ show unnamed nodes'));
      box.appendChild(un);
    }
    // per-layer opacity (the layer's own pane, so markers, lines, fills and casings fade together)
    var op = el('label', 'tj-opacity');
    op.appendChild(el('span', null, '透明度 / opacity '));
    var range = el('input');
    range.type = 'range'; range.min = '10'; range.max = '100'; range.value = '100';
    range.setAttribute('data-tj-opacity', meta.id);
    range.setAttribute('aria-label', '透明度 / opacity: ' + meta.title_en);
    range.addEventListener('input', function () { tj.setOpacity(meta.id, Number(range.value) / 100); });
    op.appendChild(range);
    box.appendChild(op);
    return box;
  }

  function buildLegend(cfg, map, overlays) {
    var ctl = L.control({position: 'bottomleft'});
    ctl.onAdd = function () {
      var div = el('details', 'tj-legend leaflet-control');
      div.id = 'tj-legend';
      div.open = !tj.small;
      var head = el('summary', 'tj-lg-head', '图例 / Legend');
      var body = el('div', 'tj-lg-body');
      div.appendChild(head);
      div.appendChild(body);
      overlays.forEach(function (o) {
        var b = legendBlock(cfg, o.tjMeta, map, o);
        if (!map.hasLayer(o)) { b.style.display = 'none'; }
        o.tjLegend = b;
        body.appendChild(b);
      });
      if (cfg.offline_base) {
        var bb = el('details', 'tj-lg-layer tj-lg-base');
        bb.appendChild(el('summary', 'tj-lg-title', cfg.offline_base.name));
        if (cfg.offline_base.background) {
          var orow = el('div', 'tj-lg-row'), osw = el('span', 'tj-sw tj-sw-polygon');
          osw.style.background = cfg.offline_base.background;
          orow.appendChild(osw);
          orow.appendChild(el('span', null, cfg.offline_base.background_legend));
          bb.appendChild(orow);
        }
        cfg.offline_base.parts.forEach(function (part) {
          if (!part.legend) { return; }
          var row = el('div', 'tj-lg-row');
          var sw = el('span', 'tj-sw tj-sw-' + (part.geometry === 'LineString' ? 'linestring' : 'polygon'));
          if (part.geometry === 'LineString') { sw.style.borderTop = part.style.stroke_width + 'px solid ' + part.style.stroke; }
          else { sw.style.background = part.style.fill; sw.style.border = '1px solid ' + part.style.stroke; }
          row.appendChild(sw);
          row.appendChild(el('span', null, part.legend));
          bb.appendChild(row);
        });
        body.appendChild(bb);
        tj.baseLegend = bb;
      }
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    ctl.addTo(map);
    map.on('overlayadd overlayremove', function (e) {
      if (e.layer && e.layer.tjLegend) { e.layer.tjLegend.style.display = e.type === 'overlayadd' ? '' : 'none'; }
    });
    return ctl;
  }

  // ------------------------------------------------------------------------------------------ labels
  // One label engine for every layer: labels only from their zoom on, highest priority first, each placed
  // only where it overlaps no label already placed (and beside, not on, its own point marker).
  function collectLabels(cfg, map, overlays) {
    var cands = [];
    var z = map.getZoom(), view = map.getBounds().pad(0.05);
    overlays.forEach(function (o) {
      var meta = o.tjMeta;
      if (!meta.label_field || !map.hasLayer(o) || z < meta.label_min_zoom) { return; }
      (meta.data.features || []).forEach(function (f, i) {
        var p = f.properties, text = p[meta.label_field];
        if (!text || p._lx == null) { return; }
        var ll = L.latLng(p._ly, p._lx);
        if (!view.contains(ll)) { return; }
        if (isApprox(cfg, meta, p) && cfg.cartography.label_suffix) { text += cfg.cartography.label_suffix; }
        cands.push({text: text, ll: ll, point: meta.geometry === 'Point',
                    r: (meta.style.marker && meta.style.marker.radius) || 4,
                    prio: meta.label_priority * 100000 - (p._lr || i), cls: 'tj-label tj-label-' + meta.id,
                    layer: meta.id});
      });
    });
    if (tj.baseLabels && map.hasLayer(tj.baseLayer)) {
      tj.baseLabels.forEach(function (b) {
        if (z < b.min_zoom) { return; }
        b.items.forEach(function (it, i) {
          var ll = L.latLng(it[1], it[0]);
          if (!view.contains(ll)) { return; }
          cands.push({text: it[2], ll: ll, point: false, r: 0, prio: b.priority * 100000 - i,
                      cls: 'tj-label tj-label-base tj-label-base-' + b.id, layer: 'base:' + b.id});
        });
      });
    }
    cands.sort(function (a, b) { return b.prio - a.prio; });
    return cands;
  }
  function overlaps(a, b) {
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  }
  function placeLabels(cfg, map, overlays) {
    var pane = map.getPane('tj-labels');
    while (pane.firstChild) { pane.removeChild(pane.firstChild); }
    var placed = [], size = map.getSize(), maxLabels = tj.small ? 40 : 120, n = 0;
    // panels and controls are obstacles: a label is never placed under the header, legend or layer list
    var mr = map.getContainer().getBoundingClientRect();
    ['#tj-header', '#tj-panel', '.tj-legend', '.leaflet-control-layers', '.leaflet-control-minimap', '#tj-coords']
      .forEach(function (sel) {
        var e = document.querySelector(sel);
        if (!e || !e.offsetWidth) { return; }
        var r = e.getBoundingClientRect();
        placed.push({x: r.left - mr.left, y: r.top - mr.top, w: r.width, h: r.height});
      });
    var seen = {};  // a name already placed nearby (e.g. a district named by its layer and the base map) once
    collectLabels(cfg, map, overlays).forEach(function (c) {
      if (n >= maxLabels) { return; }
      var pt = map.latLngToLayerPoint(c.ll), cp = map.latLngToContainerPoint(c.ll);
      if (cp.x < 0 || cp.y < 0 || cp.x > size.x || cp.y > size.y) { return; }
      if ((seen[c.text] || []).some(function (q) { return Math.abs(q.x - cp.x) + Math.abs(q.y - cp.y) < 150; })) { return; }
      var div = el('div', c.cls, c.text);
      div.setAttribute('data-tj-label-layer', c.layer);
      pane.appendChild(div);
      var w = div.offsetWidth, h = div.offsetHeight;
      // points: try right, left, above, below the marker; areas: centred on the anchor
      var spots = c.point ? [[c.r + 3, -h / 2], [-w - c.r - 3, -h / 2], [-w / 2, -h - c.r - 2], [-w / 2, c.r + 2]]
                          : [[-w / 2, -h / 2], [-w / 2, -1.5 * h], [-w / 2, 0.5 * h], [4, -h / 2], [-w - 4, -h / 2]];
      for (var k = 0; k < spots.length; k++) {
        var box = {x: cp.x + spots[k][0], y: cp.y + spots[k][1], w: w, h: h};
        if (box.x < 0 || box.y < 0 || box.x + w > size.x || box.y + h > size.y) { continue; }
        var hit = placed.some(function (b) { return overlaps(box, b); });
        if (!hit) {
          placed.push(box);
          (seen[c.text] = seen[c.text] || []).push(cp);
          L.DomUtil.setPosition(div, L.point(pt.x + spots[k][0], pt.y + spots[k][1]));
          n++;
          return;
        }
      }
      pane.removeChild(div);
    });
    tj.labelCount = n;
  }

  // ------------------------------------------------------------------------------------------ base maps
  function offlineBase(cfg, map) {
    var ob = cfg.offline_base;
    var pane = paneFor(map, 'tj-base', 250);
    var renderer = L.canvas({pane: pane, padding: 0.3});
    var parts = ob.parts.map(function (part) {
      var s = part.style;
      return L.geoJSON(part.data, {
        pane: pane, renderer: renderer, interactive: false,
        style: function () {
          return {color: s.stroke, weight: s.stroke_width, opacity: s.stroke_opacity, fill: !!s.fill,
                  fillColor: s.fill || s.stroke, fillOpacity: s.fill ? s.fill_opacity : 0, interactive: false};
        },
        pointToLayer: function (f, ll) { return L.circleMarker(ll, {radius: 1.5, stroke: false, fillColor: s.fill || s.stroke, fillOpacity: 0.8, pane: pane, renderer: renderer, interactive: false}); }
      });
    });
    var group = L.layerGroup(parts);
    group.tjOffline = true;
    var container = map.getContainer();
    group.on('add', function () { container.style.background = ob.background || ''; });
    group.on('remove', function () { container.style.background = ''; });
    tj.baseLabels = ob.labels;
    tj.baseLayer = group;
    return group;
  }

  function showTileMessage(map, text) {
    var box = document.getElementById('tj-tile-msg');
    if (!box) {
      box = el('div', 'tj-tile-msg');
      box.id = 'tj-tile-msg';
      box.setAttribute('role', 'alert');
      map.getContainer().appendChild(box);
    }
    box.textContent = text;
    box.style.display = '';
  }
  function hideTileMessage() {
    var box = document.getElementById('tj-tile-msg');
    if (box) { box.style.display = 'none'; }
  }

  function basemaps(cfg, map) {
    var bases = {}, first = null;
    cfg.basemaps.forEach(function (b) {
      var layer;
      if (b.kind === 'offline') {
        layer = offlineBase(cfg, map);
      } else if (b.url) {
        var tiles = (b.urls || [b.url]).map(function (u) {
          return L.tileLayer(u, {attribution: b.attribution_html, maxZoom: b.max_zoom || 19,
                                 subdomains: b.subdomains || 'abc'});
        });
        layer = tiles.length === 1 ? tiles[0] : L.layerGroup(tiles);
        var failed = 0, loaded = 0;
        tiles.forEach(function (t) {
          t.on('tileerror', function () {
            failed++;
            if (failed >= 2 && loaded === 0) {
              showTileMessage(map, '底图瓦片无法加载（无网络或被拦截）：' + b.name + ' / basemap tiles cannot load (no network or blocked). ' +
                              (cfg.has_offline_base ? '请改用“离线底图” / switch to the offline base map.' : ''));
            }
          });
          t.on('tileload', function () { loaded++; hideTileMessage(); });
        });
        layer.tjTiles = tiles;
      } else {
        layer = L.layerGroup([], {attribution: ''});
      }
      layer.tjBaseId = b.id;
      bases['<span class="tj-base" data-tj-base="' + esc(b.id) + '">' + esc(b.name) + '</span>'] = layer;
      if (b.default) { first = layer; }
    });
    if (first) { first.addTo(map); }
    map.on('baselayerchange', function (e) { hideTileMessage(); tj.baseId = e.layer.tjBaseId; });
    tj.baseId = first ? first.tjBaseId : null;
    return bases;
  }

  // ------------------------------------------------------------------------------------------ coordinates
  // CGCS2000 3-degree Gauss-Krüger, central meridian cfg.gk.lon0 (EPSG:4548 for 117°E): Transverse Mercator
  // series (Snyder 1987, eq. 8-9 to 8-11) on the CGCS2000 ellipsoid. CGCS2000 ≈ WGS84 to a few cm.
  function gaussKruger(lat, lon, gk) {
    var a = 6378137.0, f = 1 / 298.257222101, k0 = 1.0, e2 = 2 * f - f * f, ep2 = e2 / (1 - e2);
    var phi = lat * Math.PI / 180, lam = (lon - gk.lon0) * Math.PI / 180;
    var N = a / Math.sqrt(1 - e2 * Math.sin(phi) * Math.sin(phi));
    var T = Math.tan(phi) * Math.tan(phi), C = ep2 * Math.cos(phi) * Math.cos(phi), A = lam * Math.cos(phi);
    var e4 = e2 * e2, e6 = e4 * e2;
    var M = a * ((1 - e2 / 4 - 3 * e4 / 64 - 5 * e6 / 256) * phi - (3 * e2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024) * Math.sin(2 * phi) +
                 (15 * e4 / 256 + 45 * e6 / 1024) * Math.sin(4 * phi) - (35 * e6 / 3072) * Math.sin(6 * phi));
    var x = k0 * N * (A + (1 - T + C) * Math.pow(A, 3) / 6 + (5 - 18 * T + T * T + 72 * C - 58 * ep2) * Math.pow(A, 5) / 120);
    var y = k0 * (M + N * Math.tan(phi) * (A * A / 2 + (5 - T + 9 * C + 4 * C * C) * Math.pow(A, 4) / 24 +
                                           (61 - 58 * T + T * T + 600 * C - 330 * ep2) * Math.pow(A, 6) / 720));
    return [x + gk.false_easting, y];
  }
  tj.gaussKruger = gaussKruger;

  function coordControl(cfg, map) {
    var ctl = L.control({position: 'bottomright'});
    ctl.onAdd = function () {
      var div = el('div', 'tj-coords leaflet-control');
      div.id = 'tj-coords';
      div.textContent = cfg.coords.hint;
      return div;
    };
    ctl.addTo(map);
    var box = ctl.getContainer();
    function show(ll) {
      var text = cfg.coords.crs_label + ' ' + ll.lat.toFixed(5) + '°N ' + ll.lng.toFixed(5) + '°E';
      if (cfg.gk) {
        var xy = gaussKruger(ll.lat, ll.lng, cfg.gk);
        text += ' · ' + cfg.gk.label + ' X ' + Math.round(xy[0]).toLocaleString('en') + ' m, Y ' +
          Math.round(xy[1]).toLocaleString('en') + ' m';
      }
      box.textContent = text + (cfg.coords.note ? ' · ' + cfg.coords.note : '');
    }
    map.on('mousemove', function (e) { show(e.latlng); });
    map.on('click', function (e) { show(e.latlng); });
    tj.showCoords = show;
  }

  // ------------------------------------------------------------------------------------------ share link
  function writeHash(map, overlays) {
    var c = map.getCenter(), z = map.getZoom();
    var on = overlays.filter(function (o) { return map.hasLayer(o); }).map(function (o) { return o.tjMeta.id; });
    var h = '#' + [Math.round(z * 100) / 100, c.lat.toFixed(5), c.lng.toFixed(5)].join('/') +
      '&l=' + on.map(encodeURIComponent).join(',') + (tj.baseId ? '&b=' + encodeURIComponent(tj.baseId) : '');
    if (location.hash !== h) {
      try { history.replaceState(null, '', h); } catch (err) { location.hash = h; }
    }
    tj.hash = h;
  }
  function readHash() {
    var h = location.hash.replace(/^#/, '');
    if (!h) { return null; }
    var parts = h.split('&'), view = parts[0].split('/').map(Number), out = {};
    if (view.length === 3 && view.every(function (v) { return isFinite(v); })) { out.view = view; }
    parts.slice(1).forEach(function (kv) {
      var i = kv.indexOf('='), k = kv.slice(0, i), v = kv.slice(i + 1);
      if (k === 'l') { out.layers = v ? v.split(',').map(decodeURIComponent) : []; }
      if (k === 'b') { out.base = decodeURIComponent(v); }
    });
    return out;
  }

  // ------------------------------------------------------------------------------------------ print
  function northArrow(map) {
    var ctl = L.control({position: 'topright'});
    ctl.onAdd = function () {
      var div = el('div', 'tj-north leaflet-control');
      div.id = 'tj-north';
      div.title = '北 / north';
      div.innerHTML = '<svg xmlns="http://www.w3.org/2000/svg" width="26" height="38" viewBox="0 0 26 38" aria-label="north arrow">' +
        '<polygon points="13,2 22,30 13,24 4,30" fill="#222"/><polygon points="13,2 13,24 4,30" fill="#fff" stroke="#222" stroke-width="1"/>' +
        '<text x="13" y="37" text-anchor="middle" font-size="9" font-family="sans-serif">N 北</text></svg>';
      return div;
    };
    ctl.addTo(map);
  }
  function printButton(cfg, map) {
    var ctl = L.control({position: 'topleft'});
    ctl.onAdd = function () {
      var div = el('div', 'leaflet-bar leaflet-control tj-tools');
      var pr = el('a', 'tj-print-btn');
      pr.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><path d="M4 1h8v4H4z M2 6h12v6h-2v3H4v-3H2z" fill="none" stroke="#222" stroke-width="1.3"/><path d="M5 10h6v4H5z" fill="#222"/></svg>';
      pr.href = '#'; pr.title = '打印 / 导出 PDF · print / save as PDF (A4/A3 landscape)';
      pr.setAttribute('role', 'button');
      L.DomEvent.on(pr, 'click', function (e) { L.DomEvent.preventDefault(e); tj.print(); });
      var sh = el('a', 'tj-share-btn');
      sh.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><circle cx="4" cy="8" r="2.2" fill="#222"/><circle cx="12" cy="3.5" r="2.2" fill="#222"/><circle cx="12" cy="12.5" r="2.2" fill="#222"/><path d="M4 8L12 3.5M4 8l8 4.5" stroke="#222" stroke-width="1.4"/></svg>';
      sh.href = '#'; sh.title = '复制分享链接 / copy share link (view and layers)';
      sh.setAttribute('role', 'button');
      L.DomEvent.on(sh, 'click', function (e) {
        L.DomEvent.preventDefault(e);
        writeHash(map, tj.overlays);
        var url = location.href;
        if (navigator.clipboard) { navigator.clipboard.writeText(url).catch(function () {}); }
        showToast(map, '已复制链接 / link copied: ' + url);
      });
      div.appendChild(pr);
      div.appendChild(sh);
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    ctl.addTo(map);
  }
  function showToast(map, text) {
    var t = el('div', 'tj-toast', text);
    map.getContainer().appendChild(t);
    setTimeout(function () { if (t.parentNode) { t.parentNode.removeChild(t); } }, 4000);
  }
  tj.print = function () {
    document.body.classList.add('tj-printing');
    if (tj.legend) { tj.legend.getContainer().open = true; }
    setTimeout(function () { window.print(); document.body.classList.remove('tj-printing'); }, 50);
  };

  // ------------------------------------------------------------------------------------------ compare
  // Swipe comparison (e.g. existing vs plan): the left layers are clipped to the left of a divider, the right
  // layers to its right (each layer has its own pane, clipped like leaflet-side-by-side does).
  function compareControl(cfg, map) {
    var c = cfg.compare;
    if (!c) { return; }
    var container = map.getContainer(), state = {on: false, x: 0.5};
    var bar = el('div', 'tj-compare');
    bar.id = 'tj-compare';
    bar.style.display = 'none';
    var line = el('div', 'tj-compare-line');
    var lab = el('div', 'tj-compare-labels');
    lab.appendChild(el('span', 'tj-compare-left', '◀ ' + c.left_label));
    lab.appendChild(el('span', 'tj-compare-right', c.right_label + ' ▶'));
    line.appendChild(lab);
    var range = el('input', 'tj-compare-range');
    range.type = 'range'; range.min = '0'; range.max = '1000'; range.value = '500';
    range.setAttribute('aria-label', '对比分割线 / comparison divider');
    bar.appendChild(line);
    bar.appendChild(range);
    container.appendChild(bar);
    L.DomEvent.disableClickPropagation(bar);
    L.DomEvent.disableScrollPropagation(bar);
    function panes(ids) { return ids.map(function (id) { return tj.layers[id] && map.getPane(tj.layers[id].tjPane); }).filter(Boolean); }
    function update() {
      var size = map.getSize(), nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
      var x = size.x * state.x, cx = nw.x + x;
      line.style.left = x + 'px';
      panes(c.left).forEach(function (p) { p.style.clip = state.on ? 'rect(' + [nw.y, cx, se.y, nw.x].join('px,') + 'px)' : ''; });
      panes(c.right).forEach(function (p) { p.style.clip = state.on ? 'rect(' + [nw.y, se.x, se.y, cx].join('px,') + 'px)' : ''; });
    }
    range.addEventListener('input', function () { state.x = Number(range.value) / 1000; update(); });
    map.on('move zoom resize', function () { if (state.on) { update(); } });
    tj.compare = function (on) {
      state.on = on === undefined ? !state.on : !!on;
      bar.style.display = state.on ? '' : 'none';
      if (state.on) {
        c.left.concat(c.right).forEach(function (id) { if (tj.layers[id] && !map.hasLayer(tj.layers[id])) { map.addLayer(tj.layers[id]); } });
      }
      update();
      return state.on;
    };
    var ctl = L.control({position: 'topleft'});
    ctl.onAdd = function () {
      var div = el('div', 'leaflet-bar leaflet-control tj-tools');
      var a = el('a', 'tj-compare-btn', '⇆');
      a.href = '#'; a.title = '对比：' + c.left_label + ' | ' + c.right_label + ' / swipe comparison';
      a.setAttribute('role', 'button');
      L.DomEvent.on(a, 'click', function (e) { L.DomEvent.preventDefault(e); tj.compare(); });
      div.appendChild(a);
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    ctl.addTo(map);
  }

  // ------------------------------------------------------------------------------------------ layout
  function headerBottom() {
    var h = document.getElementById('tj-header');
    if (!h) { return 10; }
    var r = h.getBoundingClientRect(), m = tj.map ? tj.map.getContainer().getBoundingClientRect() : {top: 0};
    return Math.max(10, r.bottom - m.top + 8);
  }
  function fitLayout(map) {
    tj.small = window.innerWidth < 600;
    document.body.classList.toggle('tj-small', tj.small);
    tj.popupPad.x = 10;
    tj.popupPad.y = headerBottom();
    var panel = document.getElementById('tj-panel');
    if (panel && tj.map) { panel.style.top = tj.small ? '' : headerBottom() + 'px'; }
  }

  // ------------------------------------------------------------------------------------------ init
  tj.popupPad = L.point(10, 90);

  tj.showUnnamed = function (id, on) {
    var o = tj.layers[id];
    if (o && o.tjShowUnnamed) { o.tjShowUnnamed(on); }
  };

  tj.setOpacity = function (id, value) {
    var o = tj.layers[id];
    if (!o) { return; }
    tj.map.getPane(o.tjPane).style.opacity = String(value);
    o.tjOpacity = value;
  };

  tj.init = function (map, cfg) {
    tj.map = map;
    tj.cfg = cfg;
    fitLayout(map);
    // header and side panel live inside the map container, so full screen keeps the title and the warnings
    ['tj-header', 'tj-panel'].forEach(function (id) {
      var node = document.getElementById(id);
      if (node) {
        map.getContainer().appendChild(node);
        L.DomEvent.disableClickPropagation(node);
        L.DomEvent.disableScrollPropagation(node);
      }
    });
    var panel = document.querySelector('#tj-panel details');
    if (panel && tj.small) { panel.open = false; }
    var hd = document.querySelector('#tj-header details');
    if (hd && tj.small) { hd.open = false; }
    if (hd) { hd.addEventListener('toggle', function () { fitLayout(map); }); }
    if (cfg.default_icon) {  // offline: default marker images inlined (plugins such as measure place markers)
      L.Icon.Default.imagePath = '';
      L.Icon.Default.mergeOptions(cfg.default_icon);
    }
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a> · tjspatial');
    if (cfg.attribution_html) { map.attributionControl.addAttribution(cfg.attribution_html); }
    paneFor(map, 'tj-labels', 590);
    map.getPane('tj-labels').style.pointerEvents = 'none';
    var bases = basemaps(cfg, map);
    var overlays = [], byId = {}, groups = {};
    cfg.groups.forEach(function (g) { groups[g.label] = {}; });
    cfg.layers.forEach(function (meta) {
      var o = makeOverlay(cfg, meta, map);
      overlays.push(o);
      byId[meta.id] = o;
      groups[meta.group_label][overlayName(cfg, meta)] = o;
    });
    tj.layers = byId;
    tj.overlays = overlays;
    var state = readHash();
    var shown = state && state.layers ? state.layers : null;
    overlays.forEach(function (o) {
      if (shown ? shown.indexOf(o.tjMeta.id) >= 0 : o.tjMeta.show) { o.addTo(map); }
    });
    if (state && state.base) {
      Object.keys(bases).forEach(function (k) {
        var b = bases[k];
        if (b.tjBaseId === state.base && !map.hasLayer(b)) {
          Object.keys(bases).forEach(function (j) { if (map.hasLayer(bases[j])) { map.removeLayer(bases[j]); } });
          b.addTo(map);
          tj.baseId = b.tjBaseId;
        }
      });
    }
    var ctl = L.control.groupedLayers(bases, groups, {collapsed: window.innerWidth < 900, position: 'topright'});
    ctl.addTo(map);
    tj.legend = buildLegend(cfg, map, overlays);
    L.control.scale({imperial: false, maxWidth: 160, position: 'bottomright'}).addTo(map);
    northArrow(map);
    if (L.control.fullscreen) {
      L.control.fullscreen({position: 'topleft', title: '全屏 / Full screen', titleCancel: '退出全屏 / Exit full screen',
                            forcePseudoFullscreen: false}).addTo(map);
    }
    printButton(cfg, map);
    compareControl(cfg, map);
    if (L.control.measure) {
      // leaflet-measure 2.x with Leaflet >= 1.8: its invisible capture marker gets focus and the map pans to it
      // on every click (ljagis/leaflet-measure#171); keep the marker from auto-panning.
      L.Control.Measure.include({
        _setCaptureMarkerIcon: function () {
          this._captureMarker.options.autoPanOnFocus = false;
          this._captureMarker.setIcon(L.divIcon({iconSize: this._map.getSize().multiplyBy(2)}));
        }
      });
      var mctl = L.control.measure({position: 'topleft', primaryLengthUnit: 'kilometers', secondaryLengthUnit: 'meters',
                                    primaryAreaUnit: 'hectares', secondaryAreaUnit: 'sqmeters'});
      mctl.addTo(map);
      if (cfg.coords.note) {
        var mc = mctl.getContainer();
        if (mc) { mc.setAttribute('title', cfg.coords.note); mc.appendChild(el('div', 'tj-measure-note', cfg.coords.note)); }
      }
    }
    if (L.Control.MiniMap && !tj.small) {
      var mini = cfg.minimap_url
        ? L.tileLayer(cfg.minimap_url, {attribution: ''})
        : L.geoJSON(cfg.minimap_outline_layer && byId[cfg.minimap_outline_layer] ? byId[cfg.minimap_outline_layer].tjMeta.data : null,
                    {style: function () { return cfg.minimap_style; }, interactive: false});
      new L.Control.MiniMap(mini, {toggleDisplay: true, position: 'bottomright', width: 120, height: 120,
                                   zoomLevelOffset: -4, strings: {hideText: '隐藏 / hide', showText: '鹰眼 / overview'}}).addTo(map);
    }
    coordControl(cfg, map);
    buildSearch(cfg, map, overlays);
    var b = cfg.bounds;
    if (state && state.view) {
      map.setView([state.view[1], state.view[2]], state.view[0], {animate: false});
    } else if (b) {
      map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {paddingTopLeft: [10, tj.small ? 4 : headerBottom()],
                                                    paddingBottomRight: [10, 10], animate: false});
    }
    var relabel = function () { placeLabels(cfg, map, overlays); };
    tj.relabel = relabel;
    map.on('zoomend moveend overlayadd overlayremove baselayerchange', relabel);
    map.on('moveend overlayadd overlayremove baselayerchange', function () { writeHash(map, overlays); });
    window.addEventListener('resize', function () { fitLayout(map); relabel(); });
    window.addEventListener('hashchange', function () {
      if (location.hash === tj.hash) { return; }
      var s = readHash();
      if (s && s.view) { map.setView([s.view[1], s.view[2]], s.view[0], {animate: false}); }
      if (s && s.layers) {
        overlays.forEach(function (o) {
          var want = s.layers.indexOf(o.tjMeta.id) >= 0;
          if (want && !map.hasLayer(o)) { map.addLayer(o); } else if (!want && map.hasLayer(o)) { map.removeLayer(o); }
        });
      }
    });
    fitLayout(map);
    relabel();
    writeHash(map, overlays);
    tj.control = ctl;
    tj.ready = true;
    return tj;
  };

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
      var pop = t.overlay.tjGeoJSON.getPopup();
      if (pop) { pop._source = t.layer; }  // the layer-level popup opens for this feature
      t.overlay.tjGeoJSON.openPopup(t.layer.getLatLng ? t.layer.getLatLng() : t.layer.getBounds().getCenter());
    });
    map.addControl(search);
    tj.search = search;
  }
}());
