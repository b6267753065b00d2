// lonsdaleite's web page: metric tree, graph composer, dashboards, auto-refresh.
// Plain DOM code; every server answer is put in the page as text, never as HTML.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const c of children) e.append(c);
    return e;
  }

  // The message of a failed answer: graphite's {"error": ...} JSON, or the body text.
  async function errorText(res) {
    const text = (await res.text()).trim();
    try {
      const v = JSON.parse(text);
      if (v && typeof v.error === 'string') return v.error;
    } catch (_) { /* plain text */ }
    return text || `${res.status} ${res.statusText}`;
  }

  async function api(url, options) {
    const res = await fetch(url, options);
    if (!res.ok) throw new Error(await errorText(res));
    return res.json();
  }

  // Saves and deletes: when the server sets http.write_token it answers 401; ask for the
  // token once, keep it for this tab, and send it again. A wrong token (403) is forgotten.
  const TOKEN_KEY = 'lonsdaleite.writeToken';
  async function write(url, options) {
    for (let attempt = 0; ; attempt += 1) {
      const token = sessionStorage.getItem(TOKEN_KEY);
      const headers = token ? { 'X-Lonsdaleite-Token': token } : {};
      const res = await fetch(url, { ...options, headers });
      if (res.status === 401 && attempt === 0) {
        const given = window.prompt('This server asks for its write token (http.write_token) to change dashboards:');
        if (!given) throw new Error('the server asks for its write token (http.write_token)');
        sessionStorage.setItem(TOKEN_KEY, given);
        continue;
      }
      if (res.status === 403 && token) sessionStorage.removeItem(TOKEN_KEY);
      if (!res.ok) throw new Error(await errorText(res));
      return res.json();
    }
  }

  // ---- metric tree (/metrics/find, treejson) ----

  function treeItem(node) {
    const li = el('li', { className: node.leaf ? 'leaf' : 'branch', role: 'treeitem' });
    const button = el('button', { type: 'button', textContent: node.text });
    button.dataset.id = node.id;
    li.append(button);
    if (node.leaf) {
      button.title = `add ${node.id} to the graph`;
      button.addEventListener('click', () => { useTarget(node.id); draw(); });
    } else {
      button.setAttribute('aria-expanded', 'false');
      const ul = el('ul', { role: 'group', hidden: true });
      li.append(ul);
      button.addEventListener('click', () => {
        const open = button.getAttribute('aria-expanded') === 'true';
        button.setAttribute('aria-expanded', String(!open));
        ul.hidden = open;
        if (!open && !ul.dataset.loaded) loadTree(`${node.id}.*`, ul);
      });
    }
    return li;
  }

  async function loadTree(query, ul) {
    $('tree-error').textContent = '';
    try {
      const nodes = await api(`/metrics/find?query=${encodeURIComponent(query)}`);
      ul.replaceChildren(...nodes.map(treeItem));
      if (!nodes.length) ul.append(el('li', { className: 'help', textContent: 'no metrics yet' }));
      ul.dataset.loaded = '1';
    } catch (e) {
      $('tree-error').textContent = `${query}: ${e.message}`;
    }
  }

  // ---- targets ----

  let selectedRow = null;

  function selectRow(row) {
    if (selectedRow) selectedRow.classList.remove('selected');
    selectedRow = row;
    if (row) row.classList.add('selected');
  }

  function addTargetRow(value) {
    const input = el('input', { className: 'target', value, spellcheck: false,
                                placeholder: 'a.metric.path or function(a.metric.*)' });
    input.setAttribute('aria-label', 'Target');
    const remove = el('button', { type: 'button', textContent: '×', title: 'remove target' });
    const error = el('span', { className: 'error', role: 'alert' });
    const row = el('div', { className: 'target-row' }, input, remove, error);
    input.addEventListener('focus', () => selectRow(row));
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') draw(); });
    remove.addEventListener('click', () => {
      row.remove();
      if (selectedRow === row) selectRow(null);
      if (!$('targets').children.length) addTargetRow('');
    });
    $('targets').append(row);
    selectRow(row);
    return row;
  }

  function targetRows() { return [...$('targets').querySelectorAll('.target-row')]; }

  function targets() {
    return targetRows().map((r) => r.querySelector('input').value.trim()).filter(Boolean);
  }

  // Puts a path in the selected target if it is empty, else in a new one.
  function useTarget(path) {
    const row = selectedRow && !selectedRow.querySelector('input').value.trim()
      ? selectedRow : addTargetRow('');
    row.querySelector('input').value = path;
    selectRow(row);
  }

  function setTargets(list) {
    $('targets').replaceChildren();
    selectRow(null);
    for (const t of list.length ? list : ['']) addTargetRow(t);
  }

  // ---- functions (/functions) ----

  let functions = {};

  function signature(f) {
    const params = (f.params || []).map((p) => (p.required ? p.name : `${p.name}?`));
    return `${f.name}(${params.join(', ')})`;
  }

  async function loadFunctions() {
    try {
      functions = await api('/functions');
    } catch (e) {
      $('function-help').textContent = `functions unavailable: ${e.message}`;
      return;
    }
    const groups = new Map();
    for (const name of Object.keys(functions).sort()) {
      const g = functions[name].group || 'Other';
      if (!groups.has(g)) groups.set(g, el('optgroup', { label: g }));
      groups.get(g).append(el('option', { value: name, textContent: name }));
    }
    $('function').append(...[...groups.keys()].sort().map((g) => groups.get(g)));
  }

  $('function').addEventListener('change', () => {
    const f = functions[$('function').value];
    const description = f && f.description ? f.description.trim().split('\n')[0] : '';
    $('function-help').textContent = f ? `${signature(f)} ${description}` : '';
  });

  $('apply-function').addEventListener('click', () => {
    const name = $('function').value;
    const row = selectedRow || targetRows().at(-1);
    if (!name || !row) return;
    const input = row.querySelector('input');
    const args = $('function-args').value.trim();
    input.value = `${name}(${input.value.trim()}${args ? `, ${args}` : ''})`;
    draw();
  });

  // ---- graphs ----

  const OPTION_DEFAULTS = { title: '', areaMode: 'none', lineMode: 'slope', hideLegend: false };

  // The composer's graph: targets and options (the time range is the page's).
  function composerGraph() {
    return {
      targets: targets(),
      width: Number($('width').value) || 800,
      height: Number($('height').value) || 400,
      title: $('title').value,
      areaMode: $('areaMode').value,
      lineMode: $('lineMode').value,
      hideLegend: $('hideLegend').checked,
    };
  }

  function setComposer(g) {
    setTargets(g.targets || []);
    $('width').value = g.width || 800;
    $('height').value = g.height || 400;
    $('title').value = g.title || '';
    $('areaMode').value = g.areaMode || 'none';
    $('lineMode').value = g.lineMode || 'slope';
    $('hideLegend').checked = Boolean(g.hideLegend);
  }

  function timeRange() {
    return { from: $('from').value.trim() || '-1h', until: $('until').value.trim() || 'now' };
  }

  function renderUrl(g, extra) {
    const p = new URLSearchParams();
    for (const t of g.targets) p.append('target', t);
    const { from, until } = timeRange();
    p.set('from', from);
    p.set('until', until);
    if (g.width) p.set('width', g.width);
    if (g.height) p.set('height', g.height);
    for (const [k, def] of Object.entries(OPTION_DEFAULTS)) {
      if (g[k] !== def && g[k] !== undefined) p.set(k, g[k] === true ? 'true' : g[k]);
    }
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return `/render?${p}`;
  }

  // Shows `url` in `img`; on failure asks the server why and hands the message to onError.
  function showImage(img, url, onError) {
    img.dataset.src = url;
    img.onload = () => { img.hidden = false; onError(null); };
    img.onerror = async () => {
      if (img.dataset.src !== url) return;
      img.hidden = true;
      try {
        const res = await fetch(url);
        onError(res.ok ? null : await errorText(res));
      } catch (e) {
        onError(e.message);
      }
    };
    img.src = url;
  }

  let drawGeneration = 0;

  function draw() {
    const generation = ++drawGeneration;
    for (const r of targetRows()) r.querySelector('.error').textContent = '';
    $('graph-error').textContent = '';
    const g = composerGraph();
    if (!g.targets.length) {
      $('graph-error').textContent = 'Add a target: pick a metric in the tree or type a path.';
      return;
    }
    const url = renderUrl(g);
    $('embed-url').value = new URL(url, location.href).href;
    $('embed-link').href = url;
    showImage($('graph-img'), url, (message) => {
      if (message && generation === drawGeneration) explain(message, generation);
    });
  }

  // Finds which targets the server refuses and shows its message next to each of them;
  // a message about no target in particular goes under the graph.
  async function explain(message, generation) {
    const { from, until } = timeRange();
    let placed = false;
    await Promise.all(targetRows().map(async (row) => {
      const target = row.querySelector('input').value.trim();
      if (!target) return;
      const p = new URLSearchParams({ target, from, until, format: 'json', maxDataPoints: '1' });
      const res = await fetch(`/render?${p}`);
      if (res.status === 400 && generation === drawGeneration) {
        row.querySelector('.error').textContent = await errorText(res);
        placed = true;
      }
    }));
    if (!placed && generation === drawGeneration) $('graph-error').textContent = message;
  }

  $('draw').addEventListener('click', draw);
  $('add-target').addEventListener('click', () => addTargetRow('').querySelector('input').focus());
  for (const id of ['width', 'height', 'title', 'areaMode', 'lineMode', 'hideLegend']) {
    $(id).addEventListener('change', () => { if (targets().length) draw(); });
  }

  function rangeChanged() {
    if ($('graph-img').dataset.src) draw();
    renderGrid();
  }
  $('from').addEventListener('change', rangeChanged);
  $('until').addEventListener('change', rangeChanged);
  $('range').addEventListener('change', () => {
    if (!$('range').value) return;
    $('from').value = $('range').value;
    $('until').value = 'now';
    $('range').value = '';
    rangeChanged();
  });

  // ---- dashboard ----

  let graphs = [];

  function card(g, index) {
    const img = el('img', { alt: g.title || g.targets.join(', ') });
    const error = el('p', { className: 'error' });
    const edit = el('button', { type: 'button', className: 'link', textContent: 'edit' });
    const remove = el('button', { type: 'button', className: 'link', textContent: 'remove' });
    const name = el('span', { className: 'name', textContent: g.title || g.targets.join(', ') });
    const c = el('div', { className: 'card' },
      el('div', { className: 'bar' }, name, el('span', {}, edit, remove)), img, error);
    edit.addEventListener('click', () => { setComposer(g); draw(); $('composer').scrollIntoView(); });
    remove.addEventListener('click', () => { graphs.splice(index, 1); renderGrid(); });
    showImage(img, renderUrl(g), (message) => { error.textContent = message || ''; });
    return c;
  }

  function renderGrid() {
    $('dashboard-grid').replaceChildren(...graphs.map(card));
  }

  $('add-to-dashboard').addEventListener('click', () => {
    const g = composerGraph();
    if (!g.targets.length) {
      $('graph-error').textContent = 'Add a target before adding the graph to the dashboard.';
      return;
    }
    graphs.push(g);
    renderGrid();
  });

  function status(text) { $('dashboard-status').textContent = text; }

  function dashboardState() {
    return { version: 1, ...timeRange(), refresh: Number($('refresh').value), graphs };
  }

  $('save-dashboard').addEventListener('click', async () => {
    const name = $('dashboard-name').value.trim();
    if (!name) { status('Give the dashboard a name first.'); return; }
    try {
      await write(`/dashboard/save/${encodeURIComponent(name)}`, {
        method: 'POST',
        body: new URLSearchParams({ state: JSON.stringify(dashboardState()) }),
      });
      status(`Saved "${name}".`);
      history.replaceState(null, '', `#dashboard=${encodeURIComponent(name)}`);
      listDashboards();
    } catch (e) {
      status(`Not saved: ${e.message}`);
    }
  });

  $('new-dashboard').addEventListener('click', () => {
    graphs = [];
    $('dashboard-name').value = '';
    history.replaceState(null, '', location.pathname);
    status('');
    renderGrid();
  });

  async function openDashboard(name) {
    try {
      const { state } = await api(`/dashboard/load/${encodeURIComponent(name)}`);
      $('dashboard-name').value = name;
      if (state.from) $('from').value = state.from;
      if (state.until) $('until').value = state.until;
      $('refresh').value = String(state.refresh || 0);
      setRefresh();
      graphs = (Array.isArray(state.graphs) ? state.graphs : [])
        .filter((g) => g && Array.isArray(g.targets));
      renderGrid();
      history.replaceState(null, '', `#dashboard=${encodeURIComponent(name)}`);
      status(`Opened "${name}".`);
    } catch (e) {
      status(`Cannot open "${name}": ${e.message}`);
    }
  }

  async function deleteDashboard(name) {
    if (!window.confirm(`Delete dashboard "${name}"?`)) return;
    try {
      await write(`/dashboard/delete/${encodeURIComponent(name)}`, { method: 'POST' });
      status(`Deleted "${name}".`);
    } catch (e) {
      status(`Not deleted: ${e.message}`);
    }
    listDashboards();
  }

  async function listDashboards() {
    const query = $('dashboard-search').value.trim();
    try {
      const { dashboards } = await api(`/dashboard/find?query=${encodeURIComponent(query)}`);
      $('dashboard-list').replaceChildren(...dashboards.map(({ name }) => {
        const open = el('button', { type: 'button', className: 'link open', textContent: name });
        const del = el('button', { type: 'button', className: 'link delete', textContent: 'delete' });
        open.addEventListener('click', () => openDashboard(name));
        del.addEventListener('click', () => deleteDashboard(name));
        const li = el('li', {}, open, ' ', del);
        li.dataset.name = name;
        return li;
      }));
      if (!dashboards.length) {
        $('dashboard-list').append(el('li', { className: 'help', textContent: 'none saved' }));
      }
    } catch (e) {
      $('dashboard-list').replaceChildren(el('li', { className: 'error', textContent: e.message }));
    }
  }
  $('dashboard-search').addEventListener('input', listDashboards);

  // ---- auto-refresh ----

  let refreshTimer = null;

  function setRefresh() {
    clearInterval(refreshTimer);
    const seconds = Number($('refresh').value);
    if (seconds > 0) {
      refreshTimer = setInterval(() => {
        for (const img of document.querySelectorAll('img[data-src]')) {
          img.src = `${img.dataset.src}&_uniq=${Date.now()}`;
        }
      }, seconds * 1000);
    }
  }
  $('refresh').addEventListener('change', setRefresh);

  // ---- start ----

  addTargetRow('');
  loadTree('*', $('tree'));
  loadFunctions();
  listDashboards();
  renderGrid();
  const m = location.hash.match(/^#dashboard=(.+)$/);
  if (m) openDashboard(decodeURIComponent(m[1]));
}());
