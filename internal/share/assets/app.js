// The share page's behaviour: local times, uploads with progress (button and
// drag-and-drop), new folders and deletes without leaving the page. The page
// works without it through plain forms and links.
(function () {
  "use strict";
  var folder = location.pathname;

  // Show times in the visitor's own zone and language.
  var fmt;
  try {
    fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) { fmt = null; }
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (fmt && !isNaN(d)) { t.textContent = fmt.format(d); t.title = d.toString(); }
    });
  }
  localTimes(document);

  // Refresh the listing in place after a change, so messages on the page
  // stay visible; a full reload is the fallback.
  function refreshList() {
    return fetch(location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["table.list tbody", ".foot"].forEach(function (sel) {
          var fresh = doc.querySelector(sel), old = document.querySelector(sel);
          if (fresh && old) { old.replaceWith(document.adoptNode(fresh)); }
        });
        localTimes(document.querySelector("table.list"));
      })
      .catch(function () { location.reload(); });
  }

  var status = document.getElementById("status");
  function say(msg, isError) {
    if (!status) { if (isError) alert(msg); return; }
    status.hidden = false;
    status.textContent = msg;
    status.classList.toggle("error", !!isError);
  }
  // A change that worked clears what an earlier one left on screen (an
  // upload's refusal must not read as this folder's or delete's failure).
  function clearStatus() {
    if (status) { status.hidden = true; status.textContent = ""; status.classList.remove("error"); }
    if (!busy && bar && document.body.dataset.upload !== "running") {
      bar.hidden = true;
      delete document.body.dataset.upload;
    }
  }

  // The server's answer is a line from the reason table FTP answers with
  // too ("409 file exists and may not be replaced"): show its words, so
  // the page says what an FTP client would. A status alone is the fallback.
  function explain(xhrStatus, text) {
    var said = (text || "").replace(/^\d+\s*/, "").trim();
    if (xhrStatus && said && said.length <= 200 && said.indexOf("<") < 0) return said;
    switch (xhrStatus) {
      case 0: return "connection lost";
      case 401: return "login required";
      case 403: return "not allowed";
      case 409: return "already exists";
      case 413: case 507: return "not enough space";
      default: return "error " + xhrStatus;
    }
  }

  function humanBytes(n) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }

  // Uploads go one file per request, so one refused file (it exists) does
  // not stop the others, and progress is exact per byte sent.
  var bar = document.getElementById("progress");
  var cancelBtn = document.getElementById("progress-cancel");
  var busy = false;
  function upload(files) {
    if (!document.body.classList.contains("can-upload") || busy || !files.length) return;
    busy = true;
    document.body.dataset.upload = "running";
    // Cancel aborts the request under way (the server then discards the
    // part it received: no half file is left) and skips the rest.
    var cancelled = false, xhr = null;
    cancelBtn.hidden = false;
    cancelBtn.onclick = function () {
      cancelled = true;
      if (xhr) xhr.abort();
    };
    var list = Array.prototype.slice.call(files);
    var total = list.reduce(function (s, f) { return s + f.size; }, 0) || 1;
    var sent = 0, ok = 0, failed = [];
    var fill = bar.querySelector(".fill"), track = bar.querySelector(".track");
    var label = document.getElementById("progress-label"), pct = document.getElementById("progress-pct");
    bar.hidden = false;
    if (status) status.hidden = true;
    function show(done) {
      var p = Math.min(100, Math.round(100 * done / total));
      fill.style.width = p + "%";
      track.setAttribute("aria-valuenow", p);
      pct.textContent = p + "% · " + humanBytes(done) + " of " + humanBytes(total);
    }
    function next(i) {
      if (i >= list.length || cancelled) return finish();
      var f = list[i];
      label.textContent = "Uploading " + f.name + (list.length > 1 ? " (" + (i + 1) + " of " + list.length + ")" : "");
      var form = new FormData();
      form.append("file", f, f.name);
      xhr = new XMLHttpRequest();
      xhr.open("POST", folder);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) { show(sent + e.loaded); };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) ok++;
        else failed.push(f.name + ": " + explain(xhr.status, xhr.responseText));
        sent += f.size; show(sent); next(i + 1);
      };
      xhr.onerror = xhr.onabort = function () {
        if (!cancelled) failed.push(f.name + ": " + explain(0));
        sent += f.size; next(i + 1);
      };
      xhr.send(form);
    }
    function finish() {
      busy = false; xhr = null;
      cancelBtn.hidden = true;
      if (input) input.value = "";
      label.textContent = ok + " of " + list.length + " file" + (list.length === 1 ? "" : "s") + " uploaded";
      if (cancelled) {
        label.textContent = "Upload cancelled";
        failed.unshift("Upload cancelled: " + ok + " of " + list.length + " file" + (list.length === 1 ? "" : "s") +
          " uploaded before it; the one under way was discarded.");
      }
      if (failed.length) say(failed.join("\n"), !cancelled || failed.length > 1);
      (ok ? refreshList() : Promise.resolve()).then(function () {
        document.body.dataset.upload = cancelled ? "cancelled" : failed.length ? "failed" : "done";
        if (!failed.length) setTimeout(function () { if (!busy) bar.hidden = true; }, 1500);
      });
    }
    show(0);
    next(0);
  }

  var input = document.getElementById("file-input");
  if (input) {
    input.addEventListener("change", function () { upload(input.files); });
  }

  // Drag-and-drop anywhere on the page. A counter, because dragenter and
  // dragleave fire for every child element crossed.
  var drop = document.getElementById("drop"), depth = 0;
  function hasFiles(e) {
    return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, "Files") >= 0;
  }
  if (document.body.classList.contains("can-upload")) {
    document.addEventListener("dragenter", function (e) {
      if (!hasFiles(e)) return;
      e.preventDefault(); depth++; drop.hidden = false;
    });
    document.addEventListener("dragover", function (e) {
      if (!hasFiles(e)) return;
      e.preventDefault(); e.dataTransfer.dropEffect = "copy";
    });
    document.addEventListener("dragleave", function () {
      if (--depth <= 0) { depth = 0; drop.hidden = true; }
    });
    document.addEventListener("drop", function (e) {
      if (!hasFiles(e)) return;
      e.preventDefault(); depth = 0; drop.hidden = true;
      upload(e.dataTransfer.files);
    });
  }

  var mk = document.getElementById("mkdir-form");
  if (mk) {
    mk.addEventListener("submit", function (e) {
      e.preventDefault();
      var name = mk.elements.name.value.trim();
      if (!name) return;
      fetch(folder + "?op=mkdir", {
        method: "POST",
        headers: { "Accept": "application/json" },
        body: new URLSearchParams({ name: name })
      }).then(function (r) {
        if (r.ok) { mk.elements.name.value = ""; clearStatus(); refreshList(); return; }
        return r.text().then(function (t) { say(name + ": " + explain(r.status, t), true); });
      }, function () { say(name + ": " + explain(0), true); });
    });
  }

  // One listener for every delete button, present and future (the
  // listing is replaced after changes).
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button.del");
    if (!b) return;
    var name = b.dataset.name;
    if (!confirm("Delete " + name + "?")) return;
    fetch(b.dataset.href, { method: "DELETE" }).then(function (r) {
      if (r.ok) { clearStatus(); refreshList(); return; }
      return r.text().then(function (t) { say(name + ": " + explain(r.status, t), true); });
    }, function () { say(name + ": " + explain(0), true); });
  });
})();
