// Filters, paging and the blur switch of a livo report / eval page. No network, no libraries.
(function () {
  "use strict";
  const items = Array.from(document.querySelectorAll(".pair"));
  const size = Number(document.body.dataset.pageSize || 24);
  const selects = Array.from(document.querySelectorAll("select[data-filter]"));
  const info = document.getElementById("page-info");
  const prev = document.getElementById("prev");
  const next = document.getElementById("next");
  let page = 0;

  function matching() {
    return items.filter((el) => selects.every((s) => !s.value || el.dataset[s.dataset.filter] === s.value));
  }

  function render() {
    const found = matching();
    const pages = Math.max(1, Math.ceil(found.length / size));
    page = Math.min(page, pages - 1);
    const shown = new Set(found.slice(page * size, (page + 1) * size));
    items.forEach((el) => { el.hidden = !shown.has(el); });
    if (info) {
      const first = found.length ? page * size + 1 : 0;
      info.textContent = `pairs ${first}–${page * size + shown.size} of ${found.length} matching, page ${page + 1} of ${pages}`;
    }
    if (prev) prev.disabled = page === 0;
    if (next) next.disabled = page >= pages - 1;
  }

  selects.forEach((s) => s.addEventListener("change", () => { page = 0; render(); }));
  if (prev) prev.addEventListener("click", () => { page -= 1; render(); });
  if (next) next.addEventListener("click", () => { page += 1; render(); });
  const show = document.getElementById("show-violating");
  if (show) {
    show.checked = false;  // a reload never opens with the images unblurred
    show.addEventListener("change", () => document.body.classList.toggle("show-violating", show.checked));
  }
  render();
})();
