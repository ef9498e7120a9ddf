// Public report form: pick the place on the map (only when a tile URL is configured).
(function () {
  "use strict";
  var el = document.getElementById("pick-map");
  if (!el || typeof L === "undefined") { return; }
  var map = L.map(el).setView([29.38, 106.54], 11);
  L.tileLayer(el.getAttribute("data-tiles"), {maxZoom: 18}).addTo(map);
  var marker = null;
  map.on("click", function (e) {
    document.getElementById("n-lat").value = e.latlng.lat.toFixed(6);
    document.getElementById("n-lon").value = e.latlng.lng.toFixed(6);
    if (marker) { marker.setLatLng(e.latlng); } else { marker = L.marker(e.latlng).addTo(map); }
  });
})();
