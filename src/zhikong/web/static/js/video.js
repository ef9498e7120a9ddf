// Video wall and patrol screen: reload the latest frames, cycle the patrol plan's cameras.
(function () {
  "use strict";
  var wall = document.querySelector(".video-wall");
  var refresh = wall ? Number(wall.dataset.refresh) || 5 : 5;
  function reload() {
    document.querySelectorAll("img[data-live]").forEach(function (img) {
      if (img.offsetParent === null) return;  // hidden patrol cameras are not fetched
      var base = img.getAttribute("src").split("?")[0];
      img.setAttribute("src", base + "?t=" + Date.now());
    });
  }
  setInterval(reload, refresh * 1000);

  var patrol = document.querySelector(".patrol");
  if (!patrol) return;
  var cams = Array.prototype.slice.call(document.querySelectorAll(".patrol-cam"));
  var select = document.getElementById("finding-camera");
  var pauseBtn = document.getElementById("patrol-pause");
  var countdown = document.getElementById("patrol-countdown");
  var interval = Number(patrol.dataset.interval) || 20;
  var index = 0, left = interval, paused = false;
  if (select) {
    var chosen = cams.findIndex(function (c) { return c.dataset.camera === select.value; });
    if (chosen > 0) index = chosen;
  }
  function show(i) {
    index = (i + cams.length) % cams.length;
    cams.forEach(function (c, j) { c.hidden = j !== index; });
    if (select) select.value = cams[index].dataset.camera;
    left = interval;
    reload();
  }
  function tick() {
    if (!paused && cams.length > 1) {
      left -= 1;
      if (left <= 0) show(index + 1);
    }
    if (countdown) countdown.textContent = cams.length > 1 ? left + " s" : "";
  }
  if (cams.length) show(index);
  setInterval(tick, 1000);
  document.getElementById("patrol-next").addEventListener("click", function () { show(index + 1); });
  pauseBtn.addEventListener("click", function () {
    paused = !paused;
    pauseBtn.textContent = paused ? pauseBtn.dataset.resume : pauseBtn.dataset.pause;
    pauseBtn.setAttribute("aria-pressed", paused ? "true" : "false");
  });
  if (select) select.addEventListener("change", function () {
    var i = cams.findIndex(function (c) { return c.dataset.camera === select.value; });
    if (i >= 0) { paused = true; pauseBtn.textContent = pauseBtn.dataset.resume; pauseBtn.setAttribute("aria-pressed", "true"); show(i); }
  });
})();
