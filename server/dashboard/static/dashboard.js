// kitty-sync dashboard: live updates over Server-Sent Events. When the store changes within what
// this page shows, the page's <main> is fetched again and swapped in place (no reload).
// Served as a file: the Content-Security-Policy allows no inline script.
(function () {
  'use strict';
  var body = document.body;
  var status = document.getElementById('live-status');
  if (!body || body.dataset.live !== 'on' || typeof EventSource !== 'function') return;
  var scope = {
    project: body.dataset.project || null,
    ns: body.dataset.ns ? Number(body.dataset.ns) : null,
    path: body.dataset.path || null,
  };
  var timer = null;
  var inFlight = false;
  var again = false;

  function setStatus(text, cls) {
    if (!status) return;
    status.textContent = text;
    status.className = 'live ' + (cls || '');
  }

  function relevant(change) {
    if (scope.path) return change.namespace_id === scope.ns && change.artifact_path === scope.path;
    if (scope.ns !== null) return change.namespace_id === scope.ns;
    if (scope.project) return change.project_uuid === scope.project;
    return true;
  }

  function refresh() {
    timer = null;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.text();
      })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, 'text/html').getElementById('main');
        var current = document.getElementById('main');
        if (next && current) {
          current.replaceWith(document.importNode(next, true));
          setStatus('updated ' + new Date().toLocaleTimeString(), 'updated');
          body.dispatchEvent(new CustomEvent('kitty-sync:updated'));
        }
      })
      .catch(function (err) {
        setStatus('update failed (' + err.message + ')', 'error');
      })
      .then(function () {
        inFlight = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var source = new EventSource('/live');
  source.addEventListener('open', function () {
    setStatus('live', 'on');
  });
  source.addEventListener('error', function () {
    setStatus('reconnecting…', 'off');
  });
  source.addEventListener('change', function (ev) {
    var changes;
    try {
      changes = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (!Array.isArray(changes) || !changes.some(relevant)) return;
    // A commit arrives as several requests: coalesce them into one refresh.
    if (timer === null) timer = setTimeout(refresh, 150);
  });
  window.addEventListener('pagehide', function () {
    source.close();
  });
})();
