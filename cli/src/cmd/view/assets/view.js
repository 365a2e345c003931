// retrace view: keyboard navigation and opening a call's detail from its bar. The
// pages work without this script; it only saves clicks.
(function () {
  "use strict";

  function typing(event) {
    var t = event.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }

  // The things j and k move between: list rows, else waterfall bars.
  function items() {
    var rows = document.querySelectorAll("tr.row");
    if (rows.length) return Array.prototype.slice.call(rows);
    return Array.prototype.slice.call(document.querySelectorAll("a.bar"));
  }

  function linkOf(item) {
    return item.tagName === "A" ? item : item.querySelector("a.open");
  }

  function current(list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].classList.contains("selected")) return i;
    }
    return -1;
  }

  function select(list, i) {
    list.forEach(function (el) { el.classList.remove("selected"); });
    var item = list[i];
    item.classList.add("selected");
    var link = linkOf(item);
    if (link) link.focus();
    item.scrollIntoView({ block: "nearest" });
  }

  // Opens the <details> the URL's fragment names (a bar's call or value) and shows it.
  function openFromHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    var detail = document.getElementById(id);
    if (!detail || detail.tagName !== "DETAILS") return;
    document.querySelectorAll("details.detail.highlight").forEach(function (d) { d.classList.remove("highlight"); });
    detail.open = true;
    detail.classList.add("highlight");
    detail.scrollIntoView({ block: "start" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event)) return;
    var list = items();
    var i = current(list);
    switch (event.key) {
      case "j":
      case "ArrowDown":
        if (!list.length) return;
        select(list, Math.min(i + 1, list.length - 1));
        break;
      case "k":
      case "ArrowUp":
        if (!list.length) return;
        select(list, Math.max(i - 1, 0));
        break;
      case "Enter":
        if (i < 0 || document.activeElement === linkOf(list[i])) return;
        linkOf(list[i]).click();
        break;
      case "/":
        var search = document.getElementById("search");
        if (!search) return;
        search.focus();
        break;
      case "g":
        location.href = "/";
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("tr.row");
    if (!row || event.target.closest("a")) return;
    location.href = row.getAttribute("data-href");
  });

  window.addEventListener("hashchange", openFromHash);
  document.addEventListener("DOMContentLoaded", openFromHash);
})();
