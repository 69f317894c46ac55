// The console's only script of its own: nothing that the pages need to work without it.
// htmx sends the CSRF token from <body hx-headers>; forms carry it as a hidden field.
document.addEventListener("htmx:responseError", function (event) {
  var target = document.getElementById("htmx-error");
  if (target) { target.innerHTML = event.detail.xhr.responseText; }
});
