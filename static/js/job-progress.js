// G3: the invitation job's page follows the job in place (issue 14), instead of a meta
// refresh that reloads the whole page every 2 s (axe "meta-refresh", WCAG 2.2.1: a page that
// reloads itself moves a keyboard or screen-reader user back to its top).
//
// Loaded from our own origin (CSP `script-src 'self'`, no inline script). While
//   <div id="job-live" data-refresh-ms="2000">
// is on the page, it reads the same page again every data-refresh-ms and puts the fresh
// #job-live's parts in place: #job-status (role="status": its text is announced, and only when
// it changes), the progress bar, the counts, the rows and the error report's link. The fresh
// page of a finished job has no data-refresh-ms, which ends the polling. Without script the
// page's "Refresh" link does the same by hand.
(function () {
  "use strict";

  function delayOf(live) {
    var delay = Number(live.getAttribute("data-refresh-ms") || 0);
    return delay > 0 ? delay : 0;
  }

  function apply(live, fresh) {
    var status = live.querySelector("#job-status");
    var freshStatus = fresh.querySelector("#job-status");
    if (status && freshStatus) {
      if (status.textContent.trim() !== freshStatus.textContent.trim()) {
        status.textContent = freshStatus.textContent;
      }
      status.setAttribute("data-status", freshStatus.getAttribute("data-status") || "");
    }
    Array.prototype.forEach.call(fresh.querySelectorAll("[data-part]"), function (part) {
      var old = live.querySelector('[data-part="' + part.getAttribute("data-part") + '"]');
      if (old) {
        old.replaceWith(document.importNode(part, true));
      }
    });
    var delay = delayOf(fresh);
    if (delay) {
      live.setAttribute("data-refresh-ms", String(delay));
    } else {
      live.removeAttribute("data-refresh-ms");
    }
  }

  function poll(live) {
    var delay = delayOf(live);
    if (!delay) {
      return;
    }
    window.setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          return response.ok ? response.text() : "";
        })
        .then(function (html) {
          var fresh = html && new DOMParser().parseFromString(html, "text/html").getElementById("job-live");
          if (fresh) {
            apply(live, fresh);
          }
          // Signed out meanwhile (the sign-in page has no #job-live): stop, the link remains.
          if (fresh) {
            poll(live);
          }
        })
        .catch(function () {
          poll(live); // the network failed once: try again after the delay
        });
    }, delay);
  }

  var live = document.getElementById("job-live");
  if (live) {
    poll(live);
  }
})();
