/* lakegate auditor's report: filters, paging and the diff of any two environments.
   Reads only the document embedded in the page (#lakegate-data); writes text (never HTML) into the page. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("lakegate-data").textContent);
  var paged = {};

  function Paged(table) {
    this.table = table;
    this.size = parseInt(table.getAttribute("data-paged"), 10) || 50;
    this.page = 0;
    this.filters = {};
    this.pager = document.querySelector('.pager[data-pager-for="' + table.id + '"]');
    if (this.pager) {
      var self = this;
      this.prev = button("‹ previous", function () { self.page -= 1; self.render(); });
      this.next = button("next ›", function () { self.page += 1; self.render(); });
      this.label = document.createElement("span");
      this.pager.appendChild(this.prev);
      this.pager.appendChild(this.label);
      this.pager.appendChild(this.next);
      this.pager.hidden = false;
    }
  }

  function button(text, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  Paged.prototype.rows = function () {
    return this.table.tBodies.length ? Array.prototype.slice.call(this.table.tBodies[0].rows) : [];
  };

  Paged.prototype.matches = function (row) {
    for (var key in this.filters) {
      var wanted = this.filters[key];
      if (!wanted) continue;
      if (key === "text") {
        if (row.textContent.toLowerCase().indexOf(wanted) < 0) return false;
      } else if ((row.getAttribute("data-" + key) || "") !== wanted) {
        return false;
      }
    }
    return true;
  };

  Paged.prototype.render = function () {
    var rows = this.rows();
    var shown = rows.filter(this.matches, this);
    var pages = Math.max(1, Math.ceil(shown.length / this.size));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    var start = this.page * this.size, end = start + this.size;
    rows.forEach(function (row) { row.hidden = true; });
    shown.forEach(function (row, index) { row.hidden = index < start || index >= end; });
    this.table.setAttribute("data-matching", String(shown.length));
    if (this.pager) {
      var text = shown.length
        ? "rows " + (start + 1) + "–" + Math.min(end, shown.length) + " of " + shown.length
        : "no rows match";
      if (shown.length !== rows.length) text += " (filtered from " + rows.length + ")";
      if (pages > 1) text += " · page " + (this.page + 1) + " of " + pages;
      this.label.textContent = text;
      this.prev.disabled = this.page === 0;
      this.next.disabled = this.page >= pages - 1;
    }
  };

  Array.prototype.forEach.call(document.querySelectorAll("table[data-paged]"), function (table) {
    paged[table.id] = new Paged(table);
  });

  function bind(control, ids) {
    var kind = control.getAttribute("data-filter");
    var apply = function () {
      var value = kind === "text" ? control.value.trim().toLowerCase() : control.value;
      ids.forEach(function (id) {
        var table = paged[id];
        if (!table) return;
        table.filters[kind] = value;
        table.page = 0;
        table.render();
      });
    };
    control.addEventListener("input", apply);
    control.addEventListener("change", apply);
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-controls]"), function (box) {
    var ids = box.getAttribute("data-controls").split(/\s+/).filter(Boolean);
    Array.prototype.forEach.call(box.querySelectorAll("[data-filter]:not([data-filter-for])"), function (control) {
      bind(control, ids);
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-filter-for]"), function (control) {
    bind(control, control.getAttribute("data-filter-for").split(/\s+/).filter(Boolean));
  });

  // -- the diff of any two environments, from the flattened definitions in the document ---------------
  function display(value) {
    if (value === null || value === undefined) return "null";
    if (value === true) return "true";
    if (value === false) return "false";
    if (Array.isArray(value)) return value.length ? value.map(display).join(", ") : "[]";
    if (typeof value === "object") return Object.keys(value).length ? JSON.stringify(value) : "{}";
    return String(value);
  }

  var left = document.getElementById("diff-left"), right = document.getElementById("diff-right");
  var all = document.getElementById("diff-all"), body = document.getElementById("diff-body");

  function renderDiff() {
    if (!left || !right || !body) return;
    var a = data.diff.flat[left.value] || {}, b = data.diff.flat[right.value] || {}, absent = data.diff.absent;
    var keys = Object.keys(a).concat(Object.keys(b).filter(function (k) { return !(k in a); })).sort();
    var fragment = document.createDocumentFragment(), differences = 0;
    keys.forEach(function (key) {
      var va = key in a ? a[key] : absent, vb = key in b ? b[key] : absent;
      var differ = JSON.stringify(va) !== JSON.stringify(vb);
      if (differ) differences += 1;
      if (!differ && !all.checked) return;
      var row = document.createElement("tr");
      row.className = "diff-row" + (differ ? " differs" : "");
      var field = document.createElement("td");
      field.className = "field";
      field.textContent = key;
      row.appendChild(field);
      [va, vb].forEach(function (value) {
        var cell = document.createElement("td");
        cell.className = "value" + (value === absent ? " absent" : differ ? " changed" : "");
        cell.textContent = display(value);
        row.appendChild(cell);
      });
      fragment.appendChild(row);
    });
    while (body.firstChild) body.removeChild(body.firstChild);
    body.appendChild(fragment);
    document.getElementById("diff-left-head").textContent = left.value;
    document.getElementById("diff-right-head").textContent = right.value;
    document.getElementById("diff-summary").textContent =
      differences + " difference(s) between " + left.value + " and " + right.value;
    if (paged["diff-table"]) { paged["diff-table"].page = 0; paged["diff-table"].render(); }
  }

  [left, right, all].forEach(function (control) {
    if (control) control.addEventListener("change", renderDiff);
  });
  renderDiff();
  Object.keys(paged).forEach(function (id) { paged[id].render(); });
  document.documentElement.setAttribute("data-report-ready", "true");
})();
