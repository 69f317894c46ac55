// The console's only script of its own: nothing that the pages need to work without it.
// htmx sends the CSRF token from <body hx-headers>; forms carry it as a hidden field.
document.addEventListener("htmx:responseError", function (event) {
  var target = document.getElementById("htmx-error");
  if (target) { target.innerHTML = event.detail.xhr.responseText; }
});

// The builder's build panel while a build runs (templates/console/builder/build.html): follow
// the conversation's Server-Sent Events (data-events) and fetch the panel (data-panel) after
// each burst of them; when the build is done, reload the page (state, chat, files). Without
// EventSource, or once the stream fails for good, poll the panel instead (data-poll).
(function () {
  var following = {};  // events URL -> its EventSource, kept across the panel's swaps

  function poll(panel) {
    if (panel.getAttribute("hx-trigger")) { return; }
    panel.setAttribute("hx-get", panel.getAttribute("data-panel"));
    panel.setAttribute("hx-trigger", panel.getAttribute("data-poll") || "every 1s");
    panel.setAttribute("hx-swap", "outerHTML");
    window.htmx.process(panel);
  }

  function follow(panel) {
    var url = panel.getAttribute("data-events");
    if (!url || !panel.getAttribute("data-panel") || !window.htmx) { return; }
    var key = url.split("?")[0];
    if (following[key]) { return; }
    if (!window.EventSource) { poll(panel); return; }
    var source = new EventSource(url), pending = null;
    following[key] = source;
    function refresh() {
      if (pending) { return; }
      pending = setTimeout(function () {
        pending = null;
        var current = document.getElementById("build-panel");
        if (current && current.getAttribute("data-panel")) {
          window.htmx.ajax("GET", current.getAttribute("data-panel"),
                           {target: current, swap: "outerHTML"});
        }
      }, 250);
    }
    ["step", "round", "build", "progress"].forEach(function (name) {
      source.addEventListener(name, refresh);
    });
    source.addEventListener("done", function () { source.close(); window.location.reload(); });
    source.onerror = function (event) {
      if (event.data) { source.close(); window.location.reload(); return; }  // the server's
      if (source.readyState === EventSource.CLOSED) {  // refused, not a reconnect
        delete following[key];
        var current = document.getElementById("build-panel");
        if (current && current.getAttribute("data-panel")) { poll(current); }
      }
    };
  }

  function scan() {
    var panel = document.getElementById("build-panel");
    if (panel) { follow(panel); }
  }
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:load", scan);
})();
