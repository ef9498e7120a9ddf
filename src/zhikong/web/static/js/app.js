// zhikong: behaviour shared by every page (menu toggle on phones, CSRF header for HTMX requests).
(function () {
  "use strict";
  var toggle = document.querySelector(".nav-toggle");
  var sidebar = document.getElementById("sidebar");
  if (toggle && sidebar) {
    toggle.addEventListener("click", function () {
      var open = sidebar.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  var token = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", function (ev) {
    if (token) { ev.detail.headers["X-CSRF-Token"] = token.getAttribute("content"); }
  });
})();
