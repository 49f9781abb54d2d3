package chaos

import "html/template"

// pageTemplate is the page. It must stay well-formed XML (self-closed
// empty elements, no < or & in the script) for the test that parses it.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>{{.Title}}</title>
<style>
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529; margin: 16px; background: #fff; }
h1 { font-size: 17px; margin: 0 0 4px; }
code, pre { font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
.replay code { background: #f1f3f5; padding: 1px 4px; }
.verdict { font-weight: 600; margin: 6px 0; }
.verdict.ok { color: #2b8a3e; }
.verdict.bad { color: #c92a2a; }
ul.problems { margin: 2px 0 8px; color: #c92a2a; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 8px 0; font-size: 12px; }
.legend .group { display: flex; flex-wrap: wrap; gap: 2px 10px; align-items: center; }
.legend .gname { font-weight: 600; color: #495057; }
.legend .item { display: inline-flex; align-items: center; gap: 4px; }
.sw { border: 1px solid #ced4da; }
svg.timeline { display: block; max-width: 100%; height: auto; }
svg.timeline text { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 11px; fill: #212529; }
svg.timeline text.section { font-family: system-ui, sans-serif; font-size: 13px; font-weight: 700; }
svg.timeline text.note { font-family: system-ui, sans-serif; font-size: 11px; fill: #495057; }
svg.timeline text.kind { font-weight: 700; }
svg.timeline text.small, svg.timeline text.figure { font-size: 10px; fill: #343a40; }
svg.timeline text.tick { font-size: 10px; fill: #495057; }
.grid { stroke: #dee2e6; stroke-width: 1; }
.grid.zero { stroke: #868e96; }
.sep { stroke: #ced4da; }
.heal { stroke: ` + finalColor + `; stroke-width: 2; stroke-dasharray: 6 3; }
.lane { fill: #f8f9fa; fill-opacity: 0.6; }
.row { fill: #f8f9fa; fill-opacity: 0.5; }
.bar { stroke: #fff; stroke-width: 0.5; }
.bar.stale, .bar.below { stroke: ` + convergedNo + `; stroke-width: 2; }
.paused { stroke: #212529; stroke-width: 1; stroke-dasharray: 3 2; }
.cgrid { stroke: #adb5bd; stroke-width: 0.6; stroke-dasharray: 1 3; }
.czero { stroke: #495057; stroke-width: 0.8; }
.uband { fill-opacity: 0.6; stroke: none; }
.err { fill: none; stroke: ` + errorColor + `; stroke-width: 1.3; }
.referr { fill: none; stroke: #e67700; stroke-width: 1.3; }
.unsynced { fill: ` + unsynced + `; fill-opacity: 0.6; }
.noref { fill: ` + noRefColor + `; }
.cstale { fill: ` + staleColor + `; }
.load { fill: ` + loadColor + `; fill-opacity: 0.7; stroke: ` + loadColor + `; stroke-width: 0.5; }
.evload { fill: ` + eventColor + `; fill-opacity: 0.7; stroke: ` + eventColor + `; stroke-width: 0.5; }
.evfail { fill: ` + convergedNo + `; fill-opacity: 0.5; }
.evgap { fill: ` + convergedNo + `; fill-opacity: 0.8; }
table.phases { border-collapse: collapse; margin-top: 10px; }
table.phases td:first-child { text-align: right; color: #495057; }
table.phases td { padding: 1px 8px 1px 0; white-space: pre; font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
table.phases .key { width: 10px; height: 10px; display: inline-block; }
</style>
</head>
<body data-loaded="no">
<h1>{{.Title}}</h1>
<p class="replay">replay: <code>{{.Replay}}</code></p>
{{range .Notes}}<p class="verdict bad">{{.}}</p>
{{end}}{{if .Problems}}<p class="verdict bad">exit status {{.Status}}: {{len .Problems}} problem{{if gt (len .Problems) 1}}s{{end}}</p>
<ul class="problems">{{range .Problems}}<li>{{.}}</li>{{end}}</ul>
{{else}}<p class="verdict ok">exit status {{.Status}}: every property held</p>
{{end}}<div class="legend">{{range .Legend}}<div class="group"><span class="gname">{{.Name}}</span>{{range .Items}}<span class="item">{{.Swatch}}{{.Label}}</span>{{end}}</div>{{end}}</div>
<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{printf "%.0f" .Height}}" viewBox="0 0 {{.Width}} {{printf "%.0f" .Height}}" data-bands="{{.Bands}}">
<defs><pattern id="paused" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#212529" fill-opacity="0.45"/></pattern></defs>
{{.Chart}}</svg>
<table class="phases">{{range .Phases}}<tr><td>{{.N}}</td><td><span class="key" style="background: {{.Color}}"></span></td><td>{{.Line}}</td></tr>{{end}}</table>
<script>
(function () {
  var body = document.body;
  window.onerror = function (msg) { body.setAttribute("data-error", String(msg)); };
  // The page checks itself: the bands drawn, and labels that overlap.
  function overlaps() {
    var texts = document.querySelectorAll("svg.timeline text"), boxes = [], n = 0;
    texts.forEach(function (t) { boxes.push(t.getBBox()); });
    boxes.forEach(function (a, i) {
      boxes.slice(i + 1).forEach(function (b) {
        var w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
        var h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
        if (Math.min(w, h) > 1) { n++; }
      });
    });
    return n;
  }
  window.addEventListener("load", function () {
    body.setAttribute("data-bands", String(document.querySelectorAll("svg.timeline rect.band").length));
    body.setAttribute("data-overlaps", String(overlaps()));
    body.setAttribute("data-loaded", "yes");
  });
})();
</script>
</body>
</html>
`))
