// msk-maps batch page: the studies and failures tables, paginated, sortable, filterable. No network, no library.
// The data is the JSON in #page-data (written by report_page/page.py); rows are built with textContent only.
(() => {
  'use strict';
  const data = JSON.parse(document.getElementById('page-data').textContent);
  // Study rows are lists, in PageEntry.to_json's order.
  const ALL = '__all__';  // the "no filter" option of a select
  const UID = 0, APP = 1, STATUS = 2, CALL = 3, TEXT = 4, VALUE = 5, SUMMARY = 6, IMAGES = 7, OBJECTS = 8, RESULT = 9;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }
  const basename = path => path.slice(path.lastIndexOf('/') + 1);
  const link = (href, text) => el('a', {href, target: '_blank', rel: 'noopener'}, text);

  function thumbnail(src) {
    const img = document.createElement('img');
    img.loading = 'lazy';  // before src, or the browser starts loading at once
    img.decoding = 'async';
    img.alt = basename(src);
    img.title = basename(src);
    img.src = src;
    const anchor = link(src, '');
    anchor.className = 'thumb';
    anchor.append(img);
    return anchor;
  }

  // A table over `rows`: filters (select or text: row -> value), sortable columns, one page at a time.
  function pagedTable(root, rows, columns, filters) {
    const body = root.querySelector('tbody');
    const headers = [...root.querySelectorAll('thead th')];
    const size = root.querySelector('.page-size');
    const count = root.querySelector('.count');
    const label = root.querySelector('.page-label');
    const state = {sort: -1, direction: 1, page: 0, shown: rows};

    for (const filter of filters) {
      if (filter.input.tagName !== 'SELECT') continue;
      const counts = new Map();
      for (const row of rows) {
        const value = filter.value(row);
        counts.set(value, (counts.get(value) || 0) + 1);
      }
      filter.input.append(el('option', {value: ALL}, `all (${rows.length})`));
      for (const value of [...counts.keys()].sort()) {
        filter.input.append(el('option', {value}, `${value === '' ? '(none)' : value} (${counts.get(value)})`));
      }
    }

    function select() {
      const active = filters.map(f => [f, f.input.value, f.input.tagName === 'SELECT'])
        .filter(([, v, isSelect]) => (isSelect ? v !== ALL : v !== ''));
      let shown = rows.filter(row => active.every(([f, v, isSelect]) =>
        isSelect ? f.value(row) === v : f.value(row).toLowerCase().includes(v.toLowerCase())));
      if (state.sort >= 0) {
        const key = columns[state.sort].key;
        const order = shown.map((row, index) => [key(row), index, row]);
        order.sort((a, b) => {
          const [x, y] = [a[0], b[0]];
          const missing = (x === null || x === '') - (y === null || y === '');
          if (missing) return missing;  // empty last, whatever the direction
          const compared = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
          return compared * state.direction || a[1] - b[1];
        });
        shown = order.map(item => item[2]);
      }
      state.shown = shown;
      state.page = 0;
      render();
    }

    function render() {
      const per = Number(size.value);
      const pages = Math.max(1, Math.ceil(state.shown.length / per));
      state.page = Math.min(state.page, pages - 1);
      const start = state.page * per;
      const slice = state.shown.slice(start, start + per);
      body.replaceChildren(...slice.map(row => el('tr', {}, ...columns.map(c => el('td', {class: c.css || ''}, c.cell(row))))));
      count.textContent = `${state.shown.length} of ${rows.length}`;
      root.dataset.matching = String(state.shown.length);
      label.textContent = `page ${state.page + 1} of ${pages}`;
      root.querySelector('.prev').disabled = state.page === 0;
      root.querySelector('.next').disabled = state.page >= pages - 1;
    }

    headers.forEach((th, index) => {
      if (!columns[index].key) return;
      th.classList.add('sortable');
      th.addEventListener('click', () => {
        state.direction = state.sort === index ? -state.direction : 1;
        state.sort = index;
        headers.forEach(h => h.removeAttribute('aria-sort'));
        th.setAttribute('aria-sort', state.direction > 0 ? 'ascending' : 'descending');
        select();
      });
    });
    for (const filter of filters) filter.input.addEventListener(filter.input.tagName === 'SELECT' ? 'change' : 'input', select);
    size.addEventListener('change', render);
    root.querySelector('.prev').addEventListener('click', () => { state.page -= 1; render(); });
    root.querySelector('.next').addEventListener('click', () => { state.page += 1; render(); });
    select();
  }

  const studies = document.getElementById('studies');
  const files = row => {
    const cell = el('span');
    if (row[RESULT]) cell.append(link(row[RESULT], 'result.json'), ' ');
    for (const path of row[OBJECTS]) cell.append(link(path, basename(path)), ' ');
    return cell;
  };
  const images = row => {
    const cell = el('span');
    for (const path of row[IMAGES]) cell.append(thumbnail(path));
    return cell;
  };
  pagedTable(studies, data.studies, [
    {key: r => r[UID], cell: r => el('span', {title: r[SUMMARY]}, r[UID]), css: 'uid'},
    {key: r => r[APP], cell: r => r[APP]},
    {key: r => r[STATUS], cell: r => el('span', {class: `status status-${r[STATUS]}`}, r[STATUS])},
    {key: r => r[CALL], cell: r => el('span', {class: 'call'}, el('b', {}, r[CALL]), ' ', r[TEXT] || r[SUMMARY])},
    {key: r => r[VALUE], cell: r => r[VALUE] === null ? '' : r[VALUE].toFixed(3), css: 'number'},
    {cell: images, css: 'images'},
    {cell: files, css: 'files'},
  ], [
    {input: studies.querySelector('.filter-app'), value: r => r[APP]},
    {input: studies.querySelector('.filter-call'), value: r => r[CALL]},
    {input: studies.querySelector('.filter-status'), value: r => r[STATUS]},
    {input: studies.querySelector('.filter-text'), value: r => `${r[UID]} ${r[SUMMARY]}`},
  ]);

  const failures = document.getElementById('failures');
  pagedTable(failures, data.failures, [
    {key: r => r[0], cell: r => r[0], css: 'uid'},
    {key: r => r[1], cell: r => r[1], css: 'uid'},
    {key: r => r[2], cell: r => r[2]},
    {key: r => r[3], cell: r => r[3]},
  ], [
    {input: failures.querySelector('.filter-text'), value: r => r.join(' ')},
  ]);
  performance.mark('msk-maps-page-ready');  // bench/page_open.py reads it
  document.body.dataset.ready = 'true';
})();
