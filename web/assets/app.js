/* kue dashboard: state tabs with live counts, infinite list by range, live
 * updates from /events, job detail and actions, workers, throughput.  With
 * several queues (kue-web --prefix P1,P2) a selector picks the queue every
 * view shows: each request then carries ?queue=P (none for the default). */
'use strict';
(function () {
  const STATES = ['inactive', 'active', 'failed', 'complete', 'delayed'];
  const PRIOS = { low: 10, normal: 0, medium: -5, high: -10, critical: -15 };
  const PAGE = 50;
  const base = location.pathname.replace(/[^/]*$/, '');
  const $ = (id) => document.getElementById(id);

  const st = {
    state: 'inactive', type: '', order: 'asc', search: '',
    loaded: 0,            // ranks loaded so far
    total: 0,             // jobs in the current set
    loading: false, done: false, gen: 0,
    rows: new Map(),      // id -> {li, job}
    selected: new Set(),
    config: { search: false, title: 'Kue', queues: [] },
    queue: '',            // the queue shown ('' : the default, the first)
    searchIds: null,      // ids from server search (search mode)
    detailId: null,
    view: 'jobs',
    down: '',             // why Redis is unavailable ('' while it answers)
  };
  const FILTER_MAX = 500; // rows loaded at most to filter without the search index

  /* ---- helpers ---------------------------------------------------------- */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids) if (c != null) e.append(c);
    return e;
  }
  // path with ?queue= when a queue other than the default is shown
  function onQueue(path) {
    if (!st.queue) return path;
    return path + (path.includes('?') ? '&' : '?') + 'queue=' + encodeURIComponent(st.queue);
  }
  async function api(path, opts) {
    const res = await fetch(base + onQueue(path), Object.assign({ headers: { Accept: 'application/json' } }, opts));
    if (res.status === 204) return null;
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    const fail = (msg) => { const e = new Error(msg); e.status = res.status; return e; };
    if (!res.ok && !(body && body.error)) throw fail('HTTP ' + res.status);
    // Kue's error convention: a body that is just {"error": ...} (a job has
    // an "error" field too, next to its id)
    if (body && !Array.isArray(body) && body.error && !('id' in body)) throw fail(body.error);
    return body;
  }
  // kue-web answers 503 while Redis is unreachable: the list says so
  // instead of "No queued jobs.", and reloads when Redis is back.
  function noteDown(e) {
    if (!e || e.status !== 503) return false;
    if (!st.down) { st.down = e.message; updateListStatus(); }
    return true;
  }
  let bannerTimer = 0;
  function banner(msg, info) {
    const b = $('banner');
    b.textContent = msg;
    b.className = 'banner' + (info ? ' info' : '');
    b.hidden = false;
    clearTimeout(bannerTimer);
    bannerTimer = setTimeout(() => { b.hidden = true; }, 4000);
  }
  function rel(ms) {
    if (!ms) return '';
    const d = Date.now() - Number(ms);
    const a = Math.abs(d), fut = d < 0;
    let s;
    if (a < 1000) return fut ? 'in a moment' : 'just now';
    if (a < 60e3) s = Math.round(a / 1e3) + ' s';
    else if (a < 3600e3) s = Math.round(a / 60e3) + ' min';
    else if (a < 86400e3) s = Math.round(a / 3600e3) + ' h';
    else s = Math.round(a / 86400e3) + ' d';
    return fut ? 'in ' + s : s + ' ago';
  }
  function dur(ms) {
    ms = Number(ms);
    if (!isFinite(ms)) return '';
    if (ms < 1000) return ms + ' ms';
    if (ms < 60e3) return (ms / 1e3).toFixed(1) + ' s';
    if (ms < 3600e3) return Math.floor(ms / 60e3) + ' min ' + Math.round((ms % 60e3) / 1e3) + ' s';
    return (ms / 3600e3).toFixed(1) + ' h';
  }
  // whole seconds up to a minute, then as dur()
  function age(ms) {
    ms = Math.max(0, Number(ms) || 0);
    return ms < 60e3 ? Math.floor(ms / 1e3) + ' s' : dur(ms);
  }
  function prioName(p) {
    for (const k in PRIOS) if (PRIOS[k] === p) return k;
    return String(p);
  }
  function timeEl(ms, prefix) {
    if (!ms) return null;
    const t = el('time', { datetime: new Date(Number(ms)).toISOString(), 'data-ts': ms, 'data-prefix': prefix || '', title: new Date(Number(ms)).toLocaleString() });
    t.textContent = (prefix || '') + rel(ms);
    return t;
  }
  function titleOf(job) {
    const d = job.data;
    if (d && typeof d === 'object' && d.title != null) return String(d.title);
    return 'untitled';
  }
  // Kue's backoff option: true (the job's delay again), {type, delay}
  function backoffText(b) {
    if (b === true || b === 'true') return 'same delay again';
    if (b && typeof b === 'object') {
      const t = b.type || 'fixed';
      return t + (b.delay != null ? ', ' + dur(b.delay) : '');
    }
    return String(b);
  }
  function firstLine(s) { return String(s || '').split('\n')[0]; }
  function js(v) { return typeof v === 'string' ? v : JSON.stringify(v, null, 2); }

  /* ---- counts ------------------------------------------------------------- */
  let countsTimer = 0, countsBusy = false;
  function scheduleCounts(delay) {
    if (countsTimer) return;
    countsTimer = setTimeout(() => { countsTimer = 0; refreshCounts(); }, delay == null ? 400 : delay);
  }
  async function refreshCounts() {
    if (countsBusy) { scheduleCounts(); return; }
    countsBusy = true;
    try {
      let counts;
      const s = await api('stats');
      if (st.type) {
        const t = encodeURIComponent(st.type);
        const r = await Promise.all(STATES.map((x) => api('jobs/' + t + '/' + x + '/stats')));
        counts = {};
        STATES.forEach((x, i) => { counts[x] = r[i].count; });
      } else {
        counts = { inactive: s.inactiveCount, active: s.activeCount, failed: s.failedCount, complete: s.completeCount, delayed: s.delayedCount };
      }
      // Kue keeps one work time for all types
      $('work-time-label').textContent = st.type ? 'Work time (all types)' : 'Work time';
      $('work-time').textContent = s.workTime == null ? '–' : dur(s.workTime);
      for (const s of STATES) {
        const c = document.querySelector('[data-count="' + s + '"]');
        c.textContent = Number(counts[s]).toLocaleString();
      }
      const before = st.total;
      st.total = counts[st.state];
      if (st.total !== before) { updateListStatus(); updateBulk(); }
      setLive(true);
      if (st.down) { st.down = ''; reload(); }
    } catch (e) {
      setLive(false, e.message);
      if (noteDown(e)) scheduleCounts(2000);
    } finally { countsBusy = false; }
  }

  /* ---- job list ------------------------------------------------------------ */
  function rangePath(from, to) {
    const t = st.type ? encodeURIComponent(st.type) + '/' : '';
    return 'jobs/' + t + st.state + '/' + from + '..' + to + '/' + st.order;
  }
  function updateListStatus() {
    const s = $('list-status');
    s.title = st.down;
    if (st.down) { s.textContent = 'Redis unavailable: the list reloads when it is back.'; return; }
    if (st.searchIds) { s.textContent = st.rows.size + ' matching job(s)'; return; }
    if (filtering()) { s.textContent = shownRows().length + ' of ' + st.rows.size.toLocaleString() + ' loaded job(s) match.'; return; }
    if (st.loading) s.textContent = 'Loading…';
    else if (!st.rows.size) s.textContent = 'No ' + tabLabel(st.state).toLowerCase() + ' jobs' + (st.type ? ' of type ' + st.type : '') + '.';
    else s.textContent = 'Showing ' + st.rows.size.toLocaleString() + ' of ' + Number(st.total || st.rows.size).toLocaleString();
  }
  function tabLabel(s) { return s === 'inactive' ? 'Queued' : s[0].toUpperCase() + s.slice(1); }

  function resetList() {
    st.gen++;
    st.loaded = 0; st.done = false; st.loading = false;
    st.rows.clear(); st.selected.clear();
    $('jobs').replaceChildren();
    $('select-all').checked = false;
    updateBulk();
  }
  async function loadMore() {
    if (st.loading || st.done || st.searchIds || st.view !== 'jobs') return;
    st.loading = true;
    updateListStatus();
    const gen = st.gen;
    // "oldest first" walks ranks from the start; "newest first" from the end.
    let from, to;
    if (st.order === 'asc') { from = st.loaded; to = st.loaded + PAGE - 1; }
    else { from = -(st.loaded + PAGE); to = -(st.loaded + 1); }
    try {
      const jobs = await api(rangePath(from, to));
      if (gen !== st.gen) return;
      st.loaded += PAGE;
      if (!jobs || jobs.length < PAGE) st.done = true;
      for (const j of jobs || []) if (!st.rows.has(String(j.id))) addRow(j, false);
    } catch (e) {
      if (!noteDown(e)) banner(e.message);
      st.done = true;
    } finally {
      if (gen === st.gen) { st.loading = false; updateListStatus(); updateBulk(); }
    }
    // keep filling while the sentinel is still on screen (a filter without
    // the search index hides rows: it reads a bounded number of them)
    if (gen === st.gen && !st.done && sentinelVisible() && !(filtering() && st.rows.size >= FILTER_MAX)) loadMore();
  }
  function sentinelVisible() {
    const r = $('sentinel').getBoundingClientRect();
    return r.top < window.innerHeight + 400;
  }

  function rowFor(job) {
    const id = String(job.id);
    const li = el('li', { class: 'job', 'data-id': id, 'data-state': job.state });
    const cb = el('input', { type: 'checkbox', 'aria-label': 'Select job ' + id });
    cb.checked = st.selected.has(id);
    cb.addEventListener('change', () => { cb.checked ? st.selected.add(id) : st.selected.delete(id); updateBulk(); });
    const meta = el('span', { class: 'meta' },
      el('span', { class: 'type', text: job.type }),
      el('span', { class: 'prio-' + prioName(job.priority), text: prioName(job.priority) }));
    const when = job.state === 'complete' ? timeEl(job.updated_at, 'completed ')
      : job.state === 'failed' ? timeEl(job.failed_at || job.updated_at, 'failed ')
      : job.state === 'active' ? timeEl(job.started_at || job.updated_at, 'started ')
      : job.state === 'delayed' ? timeEl(job.promote_at, 'runs ')
      : timeEl(job.created_at, 'created ');
    if (when) meta.append(when);
    if (job.attempts && job.attempts.made > 0) meta.append(el('span', { text: 'attempt ' + job.attempts.made + '/' + job.attempts.max }));
    if (job.state === 'complete' && job.duration) meta.append(el('span', { text: dur(job.duration) }));
    const open = el('button', { type: 'button', class: 'open', 'aria-label': 'Job ' + id + ': ' + titleOf(job) + ', details' },
      el('span', { class: 'title', text: titleOf(job) }), meta);
    open.addEventListener('click', () => openDetail(id));
    const acts = el('span', { class: 'acts' });
    if (job.state !== 'inactive' && job.state !== 'active')
      acts.append(el('button', { type: 'button', title: 'Retry (move to queued)', 'aria-label': 'Retry job ' + id, text: '↻', onclick: () => retry(id) }));
    if (cancellable(job))
      acts.append(el('button', { type: 'button', class: 'cancel', title: 'Cancel', 'aria-label': 'Cancel job ' + id, text: '⊘', onclick: () => cancelJob(id) }));
    acts.append(el('button', { type: 'button', class: 'danger', title: 'Remove', 'aria-label': 'Remove job ' + id, text: '✕', onclick: () => removeJob(id) }));
    li.append(cb, el('span', { class: 'id', text: '#' + id }), el('div', { class: 'main' }, open), acts);
    if (job.state === 'active') {
      const bar = el('div', { class: 'progress', role: 'progressbar', 'aria-label': 'Progress of job ' + id, 'aria-valuemin': '0', 'aria-valuemax': '100' }, el('span'));
      li.append(el('div', { class: 'prog' }, bar, el('span', { class: 'pct', 'aria-hidden': 'true' })));
      setProgress(bar, job.progress);
    }
    if (job.state === 'failed' && job.error) li.append(el('div', { class: 'err', title: firstLine(job.error), text: firstLine(job.error) }));
    return li;
  }
  function setProgress(bar, p) {
    const n = Math.max(0, Math.min(100, Number(p) || 0));
    bar.setAttribute('aria-valuenow', String(n));
    bar.firstChild.style.width = n + '%';
    const pct = bar.nextElementSibling;
    if (pct && pct.classList.contains('pct')) pct.textContent = Math.round(n) + '%';
  }
  function addRow(job, top) {
    const li = rowFor(job);
    li.hidden = !matches(job);
    st.rows.set(String(job.id), { li, job });
    const list = $('jobs');
    if (top) { list.prepend(li); li.classList.add('flash'); } else list.append(li);
  }
  function replaceRow(job) {
    const r = st.rows.get(String(job.id));
    if (!r) return;
    const li = rowFor(job);
    li.hidden = !matches(job);
    r.li.replaceWith(li);
    r.li = li; r.job = job;
  }
  function dropRow(id) {
    const r = st.rows.get(id);
    if (!r) return;
    r.li.remove();
    st.rows.delete(id);
    st.selected.delete(id);
    if (st.loaded > 0) st.loaded--;   // ranks shift down by one
    updateBulk();
  }

  /* ---- live updates ---------------------------------------------------------- */
  const pending = new Set();
  let flushTimer = 0;
  // events that move a job into a state
  const ENTERS = { enqueue: 'inactive', start: 'active', complete: 'complete', failed: 'failed', 'failed attempt': null, promotion: 'inactive' };
  function onEvent(msg) {
    const id = String(msg.id);
    const ev = msg.event;
    scheduleCounts();
    if (ev === 'progress') {
      const r = st.rows.get(id);
      const bar = r && r.li.querySelector('.progress');
      if (bar) setProgress(bar, msg.args[1]);
      if (st.detailId === id) scheduleDetail();
      return;
    }
    if (ev === 'remove') { dropRow(id); if (st.detailId === id) detailGone(); return; }
    if (st.detailId === id) scheduleDetail();
    if (st.rows.has(id) || (ev in ENTERS && !st.searchIds)) { pending.add(id); scheduleFlush(); }
  }
  function scheduleFlush() {
    if (flushTimer) return;
    flushTimer = setTimeout(flush, 300);
  }
  async function flush() {
    flushTimer = 0;
    const ids = Array.from(pending).slice(0, 40);
    ids.forEach((i) => pending.delete(i));
    if (pending.size) {
      // a burst: keep only loaded rows pending, the counts say the rest
      for (const i of Array.from(pending)) if (!st.rows.has(i)) pending.delete(i);
      if (pending.size) scheduleFlush();
    }
    const gen = st.gen;
    const jobs = await Promise.all(ids.map((i) => api('job/' + i).catch(() => null)));
    if (gen !== st.gen) return;
    ids.forEach((id, k) => {
      const job = jobs[k];
      const have = st.rows.has(id);
      if (!job) { if (have) dropRow(id); return; }
      const fits = job.state === st.state && (!st.type || job.type === st.type);
      if (have && !fits) dropRow(id);
      else if (have) replaceRow(job);
      else if (fits && (st.order === 'desc' || st.done)) {
        addRow(job, st.order === 'desc');
        st.loaded++;
      }
    });
    updateListStatus();
    updateBulk();
  }
  let es = null, resizeTimer = 0;
  function connectEvents() {
    if (es) es.close();
    es = new EventSource(base + onQueue('events'));
    es.onopen = () => setLive(true);
    es.onerror = () => setLive(false);
    es.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      if (m && m.event) onEvent(m);
    };
    // events were missed (the server's replay buffer no longer holds them,
    // or kue-web restarted): the lists and counts are reloaded
    es.addEventListener('gap', () => { if (st.view === 'jobs' && !st.searchIds) reload(); else scheduleCounts(0); });
  }
  function setLive(on, why) {
    const l = $('live');
    l.className = 'live ' + (on ? 'on' : 'off');
    l.textContent = on ? 'live' : 'offline' + (why ? ': ' + why : '');
  }

  /* ---- actions ------------------------------------------------------------------- */
  async function retry(id) {
    try { await api('inactive/' + id); banner('Job ' + id + ' queued again', true); pending.add(id); scheduleFlush(); scheduleCounts(0); }
    catch (e) { banner(e.message); }
  }
  // Cancel (PUT /job/:id/cancel): a queued job fails at once, a running one
  // is stopped by its worker or killed after the grace time; a job that
  // finished first is left as it is (409, said in the banner).
  const cancellable = (job) => job.state === 'inactive' || job.state === 'delayed' || job.state === 'active';
  async function cancelJob(id) {
    if (!confirm('Cancel job ' + id + '?')) return false;
    try {
      const r = await api('job/' + id + '/cancel', { method: 'PUT' });
      banner(r && r.outcome === 'cancelling' ? 'Job ' + id + ' is being cancelled' : 'Job ' + id + ' cancelled', true);
      pending.add(String(id)); scheduleFlush(); scheduleCounts(0);
      return true;
    } catch (e) { banner(e.message); return false; }
  }
  async function removeJob(id, quiet) {
    try { await api('job/' + id, { method: 'DELETE' }); dropRow(id); if (!quiet) { banner('Job ' + id + ' removed', true); scheduleCounts(0); } }
    catch (e) { banner(e.message); }
  }
  async function pool(ids, fn) {
    let i = 0;
    const worker = async () => { while (i < ids.length) await fn(ids[i++]); };
    await Promise.all([worker(), worker(), worker(), worker(), worker(), worker()]);
  }
  // Queued and active jobs are never offered a retry.
  function retryable(job) { return job.state !== 'inactive' && job.state !== 'active'; }
  // A search (index) or a filter of the loaded rows (no index) is on.
  function filtering() { return !!st.searchIds || (!st.config.search && st.search.length >= 2); }
  function matches(job) {
    if (st.searchIds || !filtering()) return true;
    const hay = (job.id + ' ' + job.type + ' ' + JSON.stringify(job.data) + ' ' + (job.error || '')).toLowerCase();
    return hay.includes(st.search.toLowerCase());
  }
  function shownRows() { return Array.from(st.rows.values()).filter((r) => !r.li.hidden); }
  // The "all" buttons say what they act on: the rows shown while a search
  // or filter is on, else every job of the state (and type), loaded or not.
  function updateBulk() {
    const n = st.selected.size;
    $('selected-count').textContent = n + ' selected';
    $('bulk-retry').disabled = !n;
    $('bulk-remove').disabled = !n;
    $('bulk-retry').hidden = !st.searchIds && !retryable({ state: st.state });
    const ar = $('all-retry'), am = $('all-remove');
    if (filtering()) {
      const shown = shownRows(), nr = shown.filter((r) => retryable(r.job)).length;
      ar.textContent = 'Retry ' + nr + ' shown';
      am.textContent = 'Remove ' + shown.length + ' shown';
      ar.hidden = !nr;
      am.disabled = !shown.length;
    } else {
      const total = Number(st.total) || 0;
      ar.textContent = 'Retry all ' + total.toLocaleString();
      am.textContent = 'Remove all ' + total.toLocaleString();
      ar.hidden = !retryable({ state: st.state });
      am.disabled = !total;
    }
  }
  async function bulk(kind, ids, confirmed) {
    if (kind === 'retry') ids = ids.filter((id) => { const r = st.rows.get(id); return !r || retryable(r.job); });
    if (!ids.length) return;
    if (kind === 'remove' && !confirmed && !confirm('Remove ' + ids.length + ' selected job(s)?')) return;
    await pool(ids, (id) => kind === 'remove' ? removeJob(id, true) : api('inactive/' + id).then(() => { pending.add(id); }).catch((e) => banner(e.message)));
    st.selected.clear(); $('select-all').checked = false; updateBulk();
    scheduleFlush(); scheduleCounts(0);
    banner((kind === 'remove' ? 'Removed ' : 'Queued again ') + ids.length + ' job(s)', true);
  }
  // Every job of the current state (and type filter), fetched by range in
  // batches: the action moves each one out of the set, so start at 0 again.
  async function bulkAll(kind) {
    const verb = kind === 'remove' ? 'Remove' : 'Retry';
    if (filtering()) {
      // exactly the rows shown
      const rows = shownRows().filter((r) => kind === 'remove' || retryable(r.job));
      const ids = rows.map((r) => String(r.job.id));
      if (!ids.length) return;
      if (!confirm(verb + ' the ' + ids.length + ' job(s) shown, matching “' + st.search + '”? Jobs not shown are not touched.')) return;
      await bulk(kind, ids, true);
      return;
    }
    if (kind === 'retry' && !retryable({ state: st.state })) return;
    const label = tabLabel(st.state).toLowerCase() + ' job(s)' + (st.type ? ' of type ' + st.type : '');
    if (!confirm(verb + ' all ' + Number(st.total).toLocaleString() + ' ' + label + ', loaded or not?')) return;
    let total = 0, rounds = 0;
    const t = st.type ? encodeURIComponent(st.type) + '/' : '';
    for (;;) {
      const jobs = await api('jobs/' + t + st.state + '/0..499/asc').catch((e) => { banner(e.message); return []; });
      if (!jobs.length || ++rounds > 1000) break;
      const ids = jobs.map((j) => String(j.id));
      await pool(ids, (id) => kind === 'remove' ? api('job/' + id, { method: 'DELETE' }).catch(() => null) : api('inactive/' + id).catch(() => null));
      total += ids.length;
      $('list-status').textContent = (kind === 'remove' ? 'Removed ' : 'Queued again ') + total + '…';
    }
    banner((kind === 'remove' ? 'Removed ' : 'Queued again ') + total + ' job(s)', true);
    reload();
  }

  /* ---- detail -------------------------------------------------------------------- */
  let detailTimer = 0, logTimer = 0, countdownTimer = 0;
  function scheduleDetail() {
    if (detailTimer) return;
    detailTimer = setTimeout(() => { detailTimer = 0; if (st.detailId) renderDetail(st.detailId); }, 250);
  }
  function detailGone() {
    $('detail-body').prepend(el('p', { class: 'error', text: 'This job was removed.' }));
  }
  async function openDetail(id) {
    st.detailId = id;
    $('detail-title').textContent = 'Job #' + id;
    $('detail-body').replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
    const d = $('detail');
    if (!d.open) d.showModal();
    await renderDetail(id);
    clearInterval(logTimer);
    logTimer = setInterval(() => { if (st.detailId) refreshLog(st.detailId); }, 2000);
  }
  function closeDetail() {
    st.detailId = null;
    clearInterval(logTimer); clearInterval(countdownTimer);
  }
  async function refreshLog(id) {
    const ul = document.getElementById('detail-log');
    if (!ul) return;
    try {
      const lines = await api('job/' + id + '/log');
      if (String(st.detailId) !== String(id)) return;
      if (ul.dataset.n === String(lines.length)) return;
      ul.dataset.n = String(lines.length);
      const atEnd = ul.scrollTop + ul.clientHeight >= ul.scrollHeight - 4;
      ul.replaceChildren(...lines.map((l) => el('li', { text: l })));
      if (!lines.length) ul.append(el('li', { class: 'muted', text: 'No log lines.' }));
      if (atEnd) ul.scrollTop = ul.scrollHeight;
    } catch (e) { /* next tick */ }
  }
  async function renderDetail(id) {
    let job;
    try { job = await api('job/' + id); }
    catch (e) { $('detail-body').replaceChildren(el('p', { class: 'error', text: e.message })); return; }
    if (String(st.detailId) !== String(id)) return;
    const body = $('detail-body');
    const kv = el('dl', { class: 'kv' });
    const row = (k, v) => { if (v == null || v === '') return; kv.append(el('dt', { text: k }), el('dd', null, v)); };

    const stateSel = el('select', { 'aria-label': 'State' });
    for (const s of STATES) stateSel.append(el('option', { value: s, text: s, selected: s === job.state }));
    if (!STATES.includes(job.state)) stateSel.append(el('option', { value: job.state, text: job.state, selected: true }));
    stateSel.addEventListener('change', async () => {
      try { await api('job/' + id + '/state/' + encodeURIComponent(stateSel.value), { method: 'PUT' }); banner('State changed to ' + stateSel.value, true); pending.add(String(id)); scheduleFlush(); scheduleCounts(0); }
      catch (e) { banner(e.message); }
    });
    const prioSel = el('select', { 'aria-label': 'Priority' });
    let named = false;
    for (const k in PRIOS) { const sel = PRIOS[k] === job.priority; named = named || sel; prioSel.append(el('option', { value: String(PRIOS[k]), text: k + ' (' + PRIOS[k] + ')', selected: sel })); }
    if (!named) prioSel.append(el('option', { value: String(job.priority), text: String(job.priority), selected: true }));
    prioSel.addEventListener('change', async () => {
      try { await api('job/' + id + '/priority/' + prioSel.value, { method: 'PUT' }); banner('Priority changed', true); pending.add(String(id)); scheduleFlush(); }
      catch (e) { banner(e.message); }
    });

    row('Type', el('span', { class: 'type', text: job.type }));
    row('State', stateSel);
    row('Priority', prioSel);
    if (job.state === 'active' || Number(job.progress) > 0) {
      const bar = el('div', { class: 'progress', role: 'progressbar', 'aria-label': 'Progress', 'aria-valuemin': '0', 'aria-valuemax': '100' }, el('span'));
      row('Progress', el('div', { class: 'prog' }, bar, el('span', { class: 'pct', 'aria-hidden': 'true' })));
      setProgress(bar, job.progress);
    }
    const a = job.attempts || {};
    row('Attempts', (a.made || 0) + ' made of ' + (a.max || 1) + ' (' + (a.remaining != null ? a.remaining : '?') + ' remaining)');
    row('Created', timeEl(job.created_at));
    row('Updated', timeEl(job.updated_at));
    if (job.started_at) row('Started', timeEl(job.started_at));
    if (job.failed_at) row('Failed', timeEl(job.failed_at));
    if (job.duration) row('Duration', dur(job.duration));
    if (job.state === 'active' && job.started_at) row('Running for', dur(Date.now() - Number(job.started_at)));
    if (job.ttl) row('TTL', dur(job.ttl));
    if (job.backoff != null) row('Backoff', backoffText(job.backoff));
    if (job.delay) row('Delay', dur(job.delay));
    let countdown = null;
    if (job.state === 'delayed' && job.promote_at) {
      countdown = el('span', { 'aria-live': 'off' });
      row('Runs', countdown);
    }
    if (job.workerId) row('Worker', el('code', { text: job.workerId }));
    if (job.progress_data != null) row('Progress data', el('pre', { text: js(job.progress_data) }));

    const data = el('dl', { class: 'kv' });
    if (job.data && typeof job.data === 'object' && !Array.isArray(job.data)) {
      const keys = Object.keys(job.data).sort();
      for (const k of keys) {
        const v = job.data[k];
        data.append(el('dt', { text: k }), el('dd', null, typeof v === 'object' && v !== null ? el('pre', { text: JSON.stringify(v, null, 2) }) : el('code', { text: String(v) })));
      }
      if (!keys.length) data.append(el('dt', { text: '(empty)' }), el('dd'));
    } else {
      data.append(el('dt', { text: 'value' }), el('dd', null, el('pre', { text: js(job.data) })));
    }

    const actions = el('div', { class: 'detail-actions' });
    if (job.state !== 'inactive' && job.state !== 'active')
      actions.append(el('button', { type: 'button', class: 'primary', text: 'Retry', onclick: async () => { await retry(id); renderDetail(id); } }));
    if (cancellable(job))
      actions.append(el('button', { type: 'button', text: 'Cancel', onclick: async () => { if (await cancelJob(String(id))) renderDetail(id); } }));
    actions.append(el('button', { type: 'button', class: 'danger', text: 'Remove', onclick: async () => { if (confirm('Remove job ' + id + '?')) { await removeJob(String(id)); $('detail').close(); } } }));

    const parts = [actions, kv, el('section', null, el('h3', { text: 'Data' }), data)];
    if (job.result !== undefined) parts.push(el('section', null, el('h3', { text: 'Result' }), el('pre', { text: js(job.result) })));
    if (job.error) parts.push(el('section', null, el('h3', { text: 'Error' }), el('pre', { class: 'error-text', text: job.error })));
    const logList = el('ol', { class: 'log', id: 'detail-log', 'aria-label': 'Log lines' });
    parts.push(el('section', null, el('h3', { text: 'Log' }), logList));
    body.replaceChildren(...parts);
    refreshLog(id);
    clearInterval(countdownTimer);
    if (countdown) {
      const tick = () => {
        const left = Number(job.promote_at) - Date.now();
        countdown.textContent = left > 0 ? 'in ' + dur(Math.ceil(left / 1000) * 1000) : 'due now';
      };
      tick();
      countdownTimer = setInterval(tick, 1000);
    }
  }

  /* ---- create -------------------------------------------------------------------- */
  async function createJob(ev) {
    ev.preventDefault();
    const f = ev.target, err = $('create-error');
    err.textContent = '';
    if (!f.type.value.trim()) { err.textContent = 'Type is required.'; f.type.focus(); return; }
    let data;
    try { data = JSON.parse(f.data.value || '{}'); }
    catch (e) { err.textContent = 'Data is not valid JSON: ' + e.message; f.data.focus(); return; }
    const options = { priority: f.priority.value };
    if (Number(f.attempts.value) > 1) options.attempts = Number(f.attempts.value);
    if (Number(f.delay.value) > 0) options.delay = Number(f.delay.value);
    if (Number(f.ttl.value) > 0) options.ttl = Number(f.ttl.value);
    if (f.backoff.value === 'true') options.backoff = true;
    else if (f.backoff.value) options.backoff = { type: f.backoff.value, delay: Number(f.backoffDelay.value) || 0 };
    if (f.removeOnComplete.checked) options.removeOnComplete = true;
    try {
      const r = await api('job', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify({ type: f.type.value.trim(), data, options }) });
      $('create').close();
      banner('Created job ' + r.id, true);
      loadTypes();
      scheduleCounts(0);
    } catch (e) { err.textContent = e.message; }
  }

  /* ---- types, search ----------------------------------------------------------------- */
  async function loadTypes() {
    try {
      const types = (await api('job/types')).sort();
      const sel = $('type-filter'), dl = $('type-list');
      const cur = st.type;
      sel.replaceChildren(el('option', { value: '', text: 'all types' }), ...types.map((t) => el('option', { value: t, text: t, selected: t === cur })));
      dl.replaceChildren(...types.map((t) => el('option', { value: t })));
    } catch (e) { /* shown by counts */ }
  }
  let searchTimer = 0;
  function onSearch() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 250);
  }
  async function runSearch() {
    const q = $('search').value.trim();
    st.search = q;
    const note = $('search-note');
    if (q.length < 2) {
      note.hidden = true;
      if (st.searchIds) { st.searchIds = null; reload(); }
      else filterLoaded();
      return;
    }
    if (!st.config.search) {
      // no server index: filter what is loaded (and load more, bounded)
      note.hidden = false;
      note.textContent = 'Search index is off: filtering the loaded jobs (up to ' + FILTER_MAX + ').';
      filterLoaded();
      if (!st.done && sentinelVisible()) loadMore();
      return;
    }
    try {
      const ids = await api('job/search?q=' + encodeURIComponent(q));
      st.searchIds = ids;
      resetList();
      st.done = true;
      note.hidden = false;
      note.textContent = ids.length + ' job(s) match “' + q + '” (all states).';
      const jobs = await Promise.all(ids.slice(0, 200).map((i) => api('job/' + i).catch(() => null)));
      for (const j of jobs) if (j) addRow(j, false);
      updateListStatus();
      updateBulk();
    } catch (e) { banner(e.message); }
  }
  // Hide the loaded rows that do not match; a hidden row is never selected.
  function filterLoaded() {
    for (const [id, r] of st.rows) {
      r.li.hidden = !matches(r.job);
      if (r.li.hidden && st.selected.delete(id)) r.li.querySelector('input[type=checkbox]').checked = false;
    }
    updateListStatus();
    updateBulk();
  }

  /* ---- workers and chart ------------------------------------------------------------------ */
  const INFLIGHT_SHOWN = 8;
  function inflightCell(x) {
    if (!x.inflight.length) return '–';
    const ul = el('ul', { class: 'inflight-list', 'aria-label': 'Jobs in flight' });
    for (const j of x.inflight.slice().sort((a, b) => b.age_ms - a.age_ms).slice(0, INFLIGHT_SHOWN)) {
      const id = String(j.id);
      ul.append(el('li', null,
        el('a', { href: base + 'active', text: '#' + id, onclick: (e) => { e.preventDefault(); openDetail(id); } }),
        el('span', { class: 'age', text: age(j.age_ms) })));
    }
    if (x.inflight.length > INFLIGHT_SHOWN) ul.append(el('li', { class: 'muted', text: '+' + (x.inflight.length - INFLIGHT_SHOWN) + ' more' }));
    return ul;
  }
  // One toggle per known type: paused on every host (kue pause) or not.
  async function renderPauses(paused) {
    const box = $('pauses');
    if (!Array.isArray(paused)) { box.replaceChildren(); return; }
    const types = await api('job/types').catch(() => []);
    const all = Array.from(new Set(types.concat(paused))).sort();
    box.replaceChildren(...all.map((t) => {
      const on = paused.includes(t);
      return el('button', { type: 'button', class: 'pause-toggle', 'aria-pressed': on ? 'true' : 'false',
        title: on ? 'Paused on every host: click to resume' : 'Click to pause on every host',
        text: (on ? '▶ Resume ' : 'Pause ') + t,
        onclick: async () => {
          try { await api((on ? 'resume/' : 'pause/') + encodeURIComponent(t), { method: 'PUT' }); banner('Type ' + t + (on ? ' resumed' : ' paused'), true); }
          catch (e) { banner(e.message); }
          refreshWorkers();
        } });
    }));
  }
  async function refreshWorkers() {
    if (st.view !== 'workers') return;
    try {
      const w = await api('workers');
      renderPauses(w.paused);
      const tb = $('workers');
      if (!w.scoreboard) {
        $('master-info').textContent = 'This web process runs without a supervisor scoreboard: no worker processes to show.';
        tb.replaceChildren();
        return;
      }
      const m = w.master;
      $('master-info').textContent = 'Supervisor pid ' + m.pid + ', up ' + age(w.now - m.started_ms) + ', heartbeat ' + rel(m.heartbeat_ms) + (m.draining ? ', draining' : '') + (m.quiet ? ', quiet' : '') +
        ', ' + m.promoted_total + ' promoted, ' + m.recovered_total + ' recovered, ' + m.restarts_total + ' restarts';
      const td = (label, v, cls) => el('td', { 'data-label': label, class: cls }, v);
      tb.replaceChildren(...w.workers.map((x) => el('tr', null,
        td('PID', String(x.pid)), td('Type', el('span', { class: 'type', text: x.type })),
        td('State', x.state, 'st-' + x.state),
        td('In flight', inflightCell(x)),
        td('Concurrency', x.inflight.length + ' / ' + x.concurrency, 'num'),
        td('Done', String(x.jobs_done), 'num'), td('Failed', String(x.jobs_failed), 'num'),
        td('RSS', (x.rss_kb / 1024).toFixed(1) + ' MiB', 'num'),
        td('Uptime', x.started_ms ? age(w.now - x.started_ms) : '–'),
        td('Heartbeat', dur(x.heartbeat_age_ms) + ' ago'),
        td('Restarts', String(x.restarts), 'num'))));
      if (!w.workers.length) tb.append(el('tr', null, el('td', { colspan: '11', class: 'muted empty', text: 'No worker processes.' })));
    } catch (e) { if (!noteDown(e)) banner(e.message); }
    refreshCron();
  }
  // The cron schedules as the leader last saw them (GET /cron): next and
  // last run and the job the last tick made.
  async function refreshCron() {
    const tb = $('cron');
    let list;
    try { list = await api('cron'); } catch (e) { return; }
    if (!Array.isArray(list)) return;
    const td = (label, v, cls) => el('td', { 'data-label': label, class: cls }, v);
    const when = (ms) => (ms > 0 ? el('time', { 'data-ts': String(ms), 'data-prefix': '', title: new Date(ms).toISOString(), text: rel(ms) }) : '–');
    tb.replaceChildren(...list.map((c) => {
      const info = c.info || {};
      const def = c.definition || {};
      const job = info.job || c.job;
      return el('tr', { 'data-cron': c.name },
        td('Name', c.name),
        td('Schedule', (info.schedule || def.schedule || '') + (info.timezone && info.timezone !== 'UTC' ? ' (' + info.timezone + ')' : '') + (info.error ? ' ⚠ ' + info.error : '')),
        td('Type', el('span', { class: 'type', text: info.type || def.type || '' })),
        td('Next run', when(info.next)),
        td('Last run', job ? when(info.last || c.last) : '–'),   /* a tick recorded when the schedule was first seen made no job */
        td('Last job', job ? el('a', { href: base + 'complete', text: '#' + job, onclick: (e) => { e.preventDefault(); openDetail(String(job)); } }) : '–'));
    }));
    if (!list.length) tb.append(el('tr', null, el('td', { colspan: '6', class: 'muted empty', text: 'No cron schedules.' })));
  }

  // One colour per type for the life of the page and across reloads: a type
  // keeps the colour it got first; a new type takes the first unused one.
  const COLORS = ['#2f6fde', '#1f8a4c', '#b36b00', '#7b4fd6', '#0f8b8d', '#d14f9a', '#6b7a1f', '#8a5a44'];
  const colorOf = (() => {
    let map = {};
    try { map = JSON.parse(localStorage.getItem('kue.chart.colors') || '{}') || {}; } catch (e) { map = {}; }
    return (name) => {
      if (!(name in map)) {
        const used = new Set(Object.values(map));
        let c = COLORS.find((x) => !used.has(x));
        if (!c) c = COLORS[Object.keys(map).length % COLORS.length];
        map[name] = c;
        try { localStorage.setItem('kue.chart.colors', JSON.stringify(map)); } catch (e) { /* private mode */ }
      }
      return map[name];
    };
  })();
  // A round upper bound for the y axis: 1, 2, 2.5, 5 x 10^n.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p + 1e-9) return m * p;
    return 10 * p;
  }
  function fmtRate(v) { return v >= 100 ? Math.round(v).toLocaleString() : v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1).replace(/\.0$/, '') : v ? v.toFixed(2).replace(/0$/, '') : '0'; }
  let lastTp = null;
  async function refreshChart() {
    try { lastTp = await api('throughput'); } catch (e) { return; }
    drawChart();
  }
  function drawChart() {
    const tp = lastTp;
    if (!tp) return;
    const svg = $('chart'), legend = $('chart-legend');
    const NS = 'http://www.w3.org/2000/svg';
    const bins = 60, per = Math.max(1, Math.floor(tp.window_s / bins));
    const avg = (arr) => {
      const out = [];
      for (let b = 0; b < bins; b++) {
        let s = 0;
        for (let k = b * per; k < (b + 1) * per && k < arr.length; k++) s += arr[k];
        out.push(s / per);
      }
      return out;
    };
    // the server lists types in the order it first saw them
    const series = Object.keys(tp.types).map((name) => ({
      name, color: colorOf(name), done: avg(tp.types[name].complete || []), failed: avg(tp.types[name].failed || []),
    }));
    // Scale: a short burst (a backlog drained at start) must not flatten
    // the steady rate, so the axis follows the 90th percentile of the busy
    // bins when the peak is far above it; taller points are clipped at the
    // top and the peak is named.
    const vals = series.flatMap((s) => s.done.concat(s.failed)).filter((v) => v > 0).sort((a, b) => a - b);
    const peak = vals.length ? vals[vals.length - 1] : 0;
    const p90 = vals.length ? vals[Math.floor((vals.length - 1) * 0.9)] : 0;
    const capped = peak > 3 * p90 && vals.length >= 5;
    const top = niceMax(capped ? p90 * 1.5 : peak);
    const W = Math.max(160, Math.round(svg.clientWidth || 300)), H = Math.max(80, Math.round(svg.clientHeight || 120));
    const L = 34, R = 6, T = 8, B = 16, pw = W - L - R, ph = H - T - B;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    const mk = (tag, attrs, text) => {
      const e = document.createElementNS(NS, tag);
      for (const k in attrs) e.setAttribute(k, attrs[k]);
      if (text != null) e.textContent = text;
      return e;
    };
    const y = (v) => T + ph - Math.min(v, top) / top * ph;
    const x = (i) => L + i * pw / (bins - 1);
    const kids = [];
    for (const f of [0, 0.5, 1]) {
      const yy = y(top * f).toFixed(1);
      kids.push(mk('line', { class: f ? 'grid' : 'axis', x1: L, x2: W - R, y1: yy, y2: yy }));
      kids.push(mk('text', { x: L - 4, y: Number(yy) + 3, 'text-anchor': 'end' }, fmtRate(top * f)));
    }
    kids.push(mk('line', { class: 'axis', x1: L, x2: L, y1: T, y2: T + ph }));
    const mins = tp.window_s / 60;
    [[0, '-' + mins + ' min'], [0.5, '-' + mins / 2 + ' min'], [1, 'now']].forEach(([f, label]) => {
      kids.push(mk('text', { x: L + f * pw, y: H - 3, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' }, label));
    });
    for (const s of series) {
      for (const [pts, dash] of [[s.done, null], [s.failed, '4 3']]) {
        if (!pts.some((v) => v > 0)) continue;
        const a = { fill: 'none', stroke: s.color, 'stroke-width': dash ? '1.5' : '2', 'stroke-linejoin': 'round',
                    points: pts.map((v, i) => x(i).toFixed(1) + ',' + y(v).toFixed(1)).join(' '), 'data-type': s.name, 'data-kind': dash ? 'failed' : 'complete' };
        if (dash) a['stroke-dasharray'] = dash;
        kids.push(mk('polyline', a));
      }
    }
    if (capped) kids.push(mk('text', { class: 'cap', x: W - R - 2, y: T + 9, 'text-anchor': 'end' }, 'peak ' + fmtRate(peak) + '/s ▲'));
    svg.replaceChildren(...kids);
    const recent = (pts) => pts.slice(-6).reduce((a, b) => a + b, 0) / 6;
    legend.replaceChildren(...series.map((s) => {
      const i = el('i'); i.style.background = s.color;
      const f = recent(s.failed);
      return el('li', { 'data-type': s.name, 'data-color': s.color }, i, s.name + ' ' + fmtRate(recent(s.done)) + '/s',
        f > 0 ? el('span', { class: 'f', text: ' · ' + fmtRate(f) + ' failed/s' }) : null);
    }));
    svg.setAttribute('aria-label', 'Completed (solid) and failed (dashed) jobs per second by type, last ' + mins + ' minutes; scale 0 to ' + fmtRate(top) + '/s' +
      (capped ? '; peak ' + fmtRate(peak) + '/s clipped' : '') + (series.length ? '' : '; nothing completed yet'));
  }

  /* ---- navigation -------------------------------------------------------------------------- */
  // The address names the state tab, the filters and the view
  // (/failed?type=video, /inactive?view=workers), so a reload or a shared
  // link shows the same page.
  function urlFor() {
    const p = new URLSearchParams();
    if (st.queue) p.set('queue', st.queue);
    if (st.type) p.set('type', st.type);
    if (st.order === 'desc') p.set('order', 'desc');
    if (st.view === 'workers') p.set('view', 'workers');
    const q = p.toString();
    return base + st.state + (q ? '?' + q : '');
  }
  function selectTab(state, push) {
    if (!STATES.includes(state)) state = 'inactive';
    st.state = state;
    showView('jobs', false);
    if (push) history.pushState({ state }, '', urlFor());
    reload();
  }
  function reload() {
    resetList();
    st.searchIds = null;
    $('search-note').hidden = !filtering();
    scheduleCounts(0);
    loadMore();
  }
  function markTabs() {
    // no state tab is current while the workers are shown
    for (const a of document.querySelectorAll('#tabs a')) {
      const on = a.dataset.state === st.state;
      a.setAttribute('aria-selected', on && st.view === 'jobs' ? 'true' : 'false');
      a.tabIndex = on ? 0 : -1;
    }
  }
  function showView(v, push) {
    const was = st.view;
    st.view = v;
    $('jobs-view').hidden = v !== 'jobs';
    $('workers-view').hidden = v !== 'workers';
    $('view-jobs').setAttribute('aria-pressed', String(v === 'jobs'));
    $('view-workers').setAttribute('aria-pressed', String(v === 'workers'));
    markTabs();
    document.title = (v === 'workers' ? 'Workers' : tabLabel(st.state)) + ' · ' + st.config.title;
    if (push && was !== v) history.pushState({ state: st.state, view: v }, '', urlFor());
    if (v === 'workers') refreshWorkers();
    else if (was !== 'jobs' && !st.rows.size) loadMore();
  }
  // The queues kue-web serves; the selector is shown only with several.
  function setupQueues() {
    const qs = Array.isArray(st.config.queues) ? st.config.queues : [];
    $('queue-box').hidden = qs.length < 2;
    $('queue').replaceChildren(...qs.map((q, i) => el('option', { value: i ? q : '', text: q + (i ? '' : ' (default)') })));
  }
  function queueFrom(params) {
    const q = params.get('queue') || '';
    const qs = st.config.queues || [];
    return qs.indexOf(q) > 0 ? q : '';      // the default, or one not served: no parameter
  }
  // Another queue: everything shown is reloaded from it.
  async function switchQueue(q) {
    if (q === st.queue) return;
    st.queue = q;
    $('queue').value = q;
    const d = $('detail');
    if (d.open) d.close();
    st.type = '';
    $('type-filter').value = '';
    $('search').value = '';
    st.search = '';
    lastTp = null;
    connectEvents();
    await loadTypes();
    refreshChart();
    if (st.view === 'workers') refreshWorkers();
  }
  async function fromLocation() {
    const params = new URLSearchParams(location.search);
    await switchQueue(queueFrom(params));
    st.type = params.get('type') || '';
    st.order = params.get('order') === 'desc' ? 'desc' : 'asc';
    $('sort').value = st.order;
    $('type-filter').value = st.type;
    const seg = location.pathname.slice(base.length);
    st.state = STATES.includes(seg) ? seg : 'inactive';
    showView(params.get('view') === 'workers' ? 'workers' : 'jobs', false);
    reload();
  }
  function tick() {
    for (const t of document.querySelectorAll('time[data-ts]')) t.textContent = t.dataset.prefix + rel(t.dataset.ts);
  }

  async function init() {
    try {
      st.config = Object.assign(st.config, await api('config'));
      $('title').textContent = st.config.title;
    } catch (e) { /* defaults */ }
    setupQueues();

    $('tabs').addEventListener('click', (e) => {
      const a = e.target.closest('a[data-state]');
      if (!a) return;
      e.preventDefault();
      selectTab(a.dataset.state, true);
    });
    $('tabs').addEventListener('keydown', (e) => {
      const i = STATES.indexOf(st.state);
      let n = -1;
      if (e.key === 'ArrowDown' || e.key === 'ArrowRight') n = (i + 1) % STATES.length;
      if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') n = (i + STATES.length - 1) % STATES.length;
      if (n < 0) return;
      e.preventDefault();
      selectTab(STATES[n], true);
      $('tab-' + STATES[n]).focus();
    });
    window.addEventListener('popstate', fromLocation);
    $('queue').addEventListener('change', async (e) => {
      await switchQueue(e.target.value);
      history.pushState({ state: st.state, view: st.view }, '', urlFor());
      reload();
    });
    const setParam = () => history.replaceState(history.state, '', urlFor());
    $('type-filter').addEventListener('change', (e) => { st.type = e.target.value; setParam(); reload(); });
    $('sort').addEventListener('change', (e) => { st.order = e.target.value; setParam(); reload(); });
    $('toolbar').addEventListener('submit', (e) => { e.preventDefault(); runSearch(); });
    $('search').addEventListener('input', onSearch);
    $('select-all').addEventListener('change', (e) => {
      for (const [id, r] of st.rows) {
        if (r.li.hidden) continue;
        const cb = r.li.querySelector('input[type=checkbox]');
        cb.checked = e.target.checked;
        e.target.checked ? st.selected.add(id) : st.selected.delete(id);
      }
      updateBulk();
    });
    $('bulk-retry').addEventListener('click', () => bulk('retry', Array.from(st.selected)));
    $('bulk-remove').addEventListener('click', () => bulk('remove', Array.from(st.selected)));
    $('all-retry').addEventListener('click', () => bulkAll('retry'));
    $('all-remove').addEventListener('click', () => bulkAll('remove'));
    $('view-jobs').addEventListener('click', () => showView('jobs', true));
    $('view-workers').addEventListener('click', () => showView('workers', true));
    $('new-job').addEventListener('click', () => { $('create-error').textContent = ''; $('create').showModal(); });
    // an error is about the values it was shown for
    $('create-form').addEventListener('input', () => { $('create-error').textContent = ''; });
    $('create-form').addEventListener('submit', createJob);
    $('detail').addEventListener('close', closeDetail);

    new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadMore(); }, { rootMargin: '400px' }).observe($('sentinel'));
    await loadTypes();
    await fromLocation();
    if (!es) connectEvents();
    window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(drawChart, 150); });
    setInterval(tick, 5000);
    setInterval(refreshWorkers, 2000);
    refreshChart();
    setInterval(refreshChart, 5000);
    setInterval(() => scheduleCounts(0), 10000);   // a safety net; events drive the rest
  }
  document.addEventListener('DOMContentLoaded', init);
})();
