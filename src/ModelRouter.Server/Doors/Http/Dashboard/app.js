// ModelRouter dashboard. One plain script, no libraries, no build step. It reads the server's state from
// GET /dashboard/api/events (server-sent events, read with fetch so that the bearer token can be sent), draws the
// model cards by tier, the device budget, the swap timeline, the queue chart and the routing decisions, streams
// playground prompts through POST /v1/chat/completions, and calls the admin operations when given the admin token.
// Everything from the server is written with textContent or SVG attributes, never parsed as HTML.
'use strict';

(() => {
  const WINDOW_MS = 5 * 60 * 1000;
  const MAX_SWAPS = 256;
  const MAX_SAMPLES = 300;
  const PALETTE = ['#2f6fdf', '#d9480f', '#2b8a3e', '#9c36b5', '#c2255c', '#0b7285', '#e67700', '#5c7cfa', '#495057', '#a61e4d'];
  const SVG = 'http://www.w3.org/2000/svg';

  const $ = (selector) => document.querySelector(selector);
  const state = {
    token: '', admin: false, models: [], swaps: [], routes: [], queue: [], cursor: { swap: 0, sample: 0, routes: 0 },
    device: { used: 0, budget: 0 }, serverSkew: 0, stream: null, colors: new Map(),
  };

  // ---- token: from the fragment (never sent to the server) or the prompt; kept in this tab only ----
  function takeToken() {
    const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem('modelrouter-token', decodeURIComponent(match[1]));
      history.replaceState(null, '', location.pathname + location.search); // out of the address bar and history
    }
    return sessionStorage.getItem('modelrouter-token') || '';
  }

  function headers(extra) {
    const h = Object.assign({}, extra);
    if (state.token) h.Authorization = 'Bearer ' + state.token;
    return h;
  }

  function askToken(message) {
    $('#token-form').hidden = false;
    $('#token-error').textContent = message || '';
    $('#token-input').focus();
  }

  $('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('#token-input').value.trim();
    sessionStorage.setItem('modelrouter-token', state.token);
    $('#token-form').hidden = true;
    connect();
  });
  $('#token-button').addEventListener('click', () => askToken(''));

  // ---- live state ----
  function setConnection(text, on) {
    const el = $('#connection');
    el.textContent = text;
    el.className = 'pill ' + (on ? 'on' : 'off');
    el.dataset.state = on ? 'live' : 'off';
  }

  async function connect() {
    if (state.stream) state.stream.abort();
    const abort = new AbortController();
    state.stream = abort;
    const c = state.cursor;
    const url = `/dashboard/api/events?swap=${c.swap}&sample=${c.sample}&routes=${c.routes}`;
    try {
      const response = await fetch(url, { headers: headers(), signal: abort.signal, cache: 'no-store' });
      if (response.status === 401) {
        setConnection('token needed', false);
        askToken(state.token ? 'That token is not valid for this server.' : '');
        return;
      }
      if (!response.ok) throw new Error('HTTP ' + response.status);
      setConnection('live', true);
      await readEvents(response, (data) => apply(JSON.parse(data)));
      throw new Error('the server closed the stream');
    } catch (err) {
      if (abort.signal.aborted) return;
      setConnection('reconnecting…', false);
      setTimeout(() => { if (state.stream === abort) connect(); }, 2000);
    }
  }

  // Calls onData with each "data:" payload of a text/event-stream response until it ends.
  async function readEvents(response, onData) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
        if (data) onData(data);
      }
    }
  }

  function apply(s) {
    state.serverSkew = s.server_time - Date.now();
    state.admin = s.admin;
    state.models = s.models;
    state.device = { used: s.device_bytes_used, budget: s.device_bytes_budget };
    state.swaps.push(...s.swaps);
    if (state.swaps.length > MAX_SWAPS) state.swaps.splice(0, state.swaps.length - MAX_SWAPS);
    state.queue.push(...s.queue);
    if (state.queue.length > MAX_SAMPLES) state.queue.splice(0, state.queue.length - MAX_SAMPLES);
    if (s.routes) state.routes = s.routes;
    state.cursor = s.cursor;
    s.models.forEach((m, i) => { if (!state.colors.has(m.id)) state.colors.set(m.id, PALETTE[state.colors.size % PALETTE.length]); });
    document.body.classList.toggle('admin', s.admin);
    $('#role').textContent = s.admin ? 'admin' : 'client';
    $('#counters').textContent = `up ${duration(s.uptime_s)} · ${s.requests_in_flight} in flight · ${s.requests_total} requests · ${s.swaps_total} restores`;
    $('#routes-note').textContent = s.prompt_excerpts ? 'newest first' : 'newest first · prompt excerpts are shown to the admin token only';
    renderBudget();
    renderCards();
    renderSwaps();
    renderQueue();
    renderRoutes();
    renderModelChoice();
  }

  // ---- drawing ----
  function el(tag, attrs, text) {
    const node = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
  }

  function duration(seconds) {
    if (seconds < 60) return Math.round(seconds) + ' s';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min';
    return (seconds / 3600).toFixed(1) + ' h';
  }

  function ms(v) { return v === null || v === undefined ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1); }
  function clock(t) { return new Date(t).toLocaleTimeString([], { hour12: false }); }
  function color(id) { return state.colors.get(id) || '#999'; }

  function renderBudget() {
    const { used, budget } = state.device;
    const scale = Math.max(budget, used, 1); // over budget (contexts count too): the bar grows and a red line marks the budget
    const bar = $('#budget');
    bar.replaceChildren();
    let weights = 0;
    for (const m of state.models.filter((x) => x.tier === 'device')) {
      weights += m.weight_bytes;
      const seg = el('div', { class: 'seg', title: `${m.id}: ${bytes(m.weight_bytes)} of weights` }, m.id);
      seg.style.width = (100 * m.weight_bytes / scale) + '%';
      seg.style.background = color(m.id);
      bar.append(seg);
    }
    const other = Math.max(0, used - weights);
    if (other > 0) {
      const seg = el('div', { class: 'seg other', title: `contexts (KV caches, buffers): ${bytes(other)}` });
      seg.style.width = (100 * other / scale) + '%';
      bar.append(seg);
    }
    if (used > budget) {
      const limit = el('div', { class: 'limit', title: `budget ${bytes(budget)}` });
      limit.style.left = (100 * budget / scale) + '%';
      bar.append(limit);
    }
    bar.dataset.used = used;
    bar.dataset.budget = budget;
    const label = $('#budget-label');
    label.textContent = `${bytes(used)} of ${bytes(budget)} (${budget ? Math.round(100 * used / budget) : 0}%) · weights ${bytes(weights)}, contexts ${bytes(other)}` +
      (used > budget ? ' · over budget: idle contexts are released when a restore needs the room' : '');
    label.classList.toggle('over', used > budget);
  }

  function renderCards() {
    const seen = new Set();
    for (const m of state.models) {
      seen.add(m.id);
      let card = document.querySelector(`.card[data-model="${CSS.escape(m.id)}"]`);
      if (!card) card = makeCard(m);
      const column = document.querySelector(`.tier[data-tier="${m.tier}"] .cards`) || document.querySelector('.tier[data-tier="disk"] .cards');
      if (card.parentElement !== column) {
        const moved = card.parentElement !== null;
        column.append(card);
        if (moved) { card.classList.remove('moved'); void card.offsetWidth; card.classList.add('moved'); }
      }
      card.dataset.tier = m.tier;
      card.dataset.pinned = m.pinned;
      card.dataset.inFlight = m.in_flight;
      card.dataset.queued = m.queued;
      card.dataset.bytes = m.weight_bytes;
      card.dataset.state = m.state;
      const st = card.querySelector('.state');
      st.textContent = m.state.replace('_', ' ');
      st.className = 'state ' + m.state;
      card.querySelector('.bytes').textContent = bytes(m.weight_bytes);
      card.querySelector('.pin').textContent = m.pinned ? 'pinned' : 'not pinned';
      card.querySelector('.inflight').textContent = m.in_flight;
      card.querySelector('.queued').textContent = m.queued;
      const last = [...state.swaps].reverse().find((s) => s.model === m.id);
      card.querySelector('.last').textContent = last ? `last ${last.kind} ${ms(last.ms)} ms` : '';
      const ops = card.querySelector('.ops');
      ops.hidden = !state.admin;
      ops.querySelector('[data-op="pin"]').hidden = m.pinned;
      ops.querySelector('[data-op="unpin"]').hidden = !m.pinned;
      ops.querySelector('[data-op="preload"]').disabled = m.tier === 'device';
      ops.querySelector('[data-op="evict"]').disabled = m.tier !== 'device' || m.pinned;
    }
    for (const card of document.querySelectorAll('.card')) if (!seen.has(card.dataset.model)) card.remove();
  }

  function makeCard(m) {
    const card = el('div', { class: 'card', 'data-model': m.id });
    card.style.setProperty('--c', color(m.id));
    const title = el('div');
    title.append(el('span', { class: 'name' }, m.id), el('span', { class: 'state' }));
    const facts = el('div', { class: 'facts' });
    const fact = (label, cls) => { const f = el('span'); f.append(el('b', { class: cls }), document.createTextNode(' ' + label)); return f; };
    facts.append(el('span', { class: 'bytes' }), el('span', { class: 'pin' }), fact('in flight', 'inflight'), fact('queued', 'queued'), el('span', { class: 'last' }));
    const caps = el('div', { class: 'facts' }, (m.capabilities || []).join(', ') + (m.latency_class ? ' · ' + m.latency_class : ''));
    const ops = el('div', { class: 'ops' });
    for (const op of ['preload', 'pin', 'unpin', 'evict']) {
      const b = el('button', { type: 'button', 'data-op': op }, op);
      b.addEventListener('click', () => admin(m.id, op, b));
      ops.append(b);
    }
    card.append(title, facts, caps, ops);
    return card;
  }

  async function admin(model, op, button) {
    button.disabled = true;
    const out = $('#admin-result');
    out.textContent = `${op} ${model}…`;
    try {
      const r = await fetch(`/admin/models/${encodeURIComponent(model)}/${op}`, { method: 'POST', headers: headers() });
      const body = await r.json();
      out.textContent = r.ok ? `${op} ${model}: ${body.message} (now ${body.tier}, ${ms(body.elapsed_ms)} ms)` : `${op} ${model} failed: ${body.error && body.error.message}`;
      out.className = r.ok ? 'muted' : 'error';
    } catch (err) {
      out.textContent = `${op} ${model} failed: ${err.message}`;
      out.className = 'error';
    } finally {
      renderCards(); // the buttons follow the state (the live stream brings the move itself)
    }
  }

  function axis(svg, width, height, left, bottom) {
    const now = Date.now() + state.serverSkew;
    for (let m = 0; m <= 5; m++) {
      const x = left + (width - left) * (1 - m / 5);
      svg.append(el('svg:line', { class: 'grid', x1: x, x2: x, y1: 0, y2: height - bottom }));
      svg.append(el('svg:text', { x: x, y: height - 2, 'text-anchor': m === 0 ? 'end' : 'middle' }, m === 0 ? 'now' : `-${m} min`));
    }
    return (t) => left + (width - left) * (1 - (now - t) / WINDOW_MS);
  }

  function renderSwaps() {
    const svg = $('#swap-chart');
    const models = state.models.map((m) => m.id);
    const lane = 22, left = 90, bottom = 14, width = 600;
    const height = Math.max(60, models.length * lane + bottom + 4);
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.replaceChildren();
    const x = axis(svg, width, height, left, bottom);
    models.forEach((id, i) => {
      const y = i * lane + lane / 2 + 2;
      svg.append(el('svg:text', { x: 4, y: y + 3 }, id));
      svg.append(el('svg:line', { class: 'grid', x1: left, x2: width, y1: y, y2: y }));
    });
    const cutoff = Date.now() + state.serverSkew - WINDOW_MS;
    for (const s of state.swaps) {
      const i = models.indexOf(s.model);
      if (i < 0 || s.t < cutoff) continue;
      const cx = x(s.t), cy = i * lane + lane / 2 + 2;
      const r = Math.min(9, 3 + Math.log10(1 + s.ms) * 2); // bigger for slower moves
      const points = s.kind === 'restore' ? `${cx - r},${cy + r} ${cx + r},${cy + r} ${cx},${cy - r}` : `${cx - r},${cy - r} ${cx + r},${cy - r} ${cx},${cy + r}`;
      const mark = el('svg:polygon', { points, fill: s.kind === 'restore' ? color(s.model) : '#fff', stroke: color(s.model), 'stroke-width': 1.5 });
      mark.append(el('svg:title', {}, `${clock(s.t)} ${s.model} ${s.kind} ${s.kind === 'restore' ? 'from' : 'to'} ${s.tier}: ${ms(s.ms)} ms, ${bytes(s.bytes)}`));
      svg.append(mark);
    }
    const list = $('#swap-list');
    list.replaceChildren(...state.swaps.slice(-12).reverse().map((s) => el('li', { 'data-model': s.model, 'data-kind': s.kind },
      `${clock(s.t)}  ${s.model} ${s.kind} ${s.kind === 'restore' ? '←' : '→'} ${s.tier}  ${ms(s.ms)} ms  (${bytes(s.bytes)})`)));
    if (state.swaps.length === 0) list.append(el('li', { class: 'muted' }, 'no swaps yet'));
  }

  function renderQueue() {
    const svg = $('#queue-chart');
    const width = 600, height = 160, left = 28, bottom = 14;
    svg.replaceChildren();
    const x = axis(svg, width, height, left, bottom);
    const cutoff = Date.now() + state.serverSkew - WINDOW_MS;
    const samples = state.queue.filter((s) => s.t >= cutoff);
    let max = 1;
    for (const s of samples) for (const id in s.queued) max = Math.max(max, s.queued[id], s.in_flight[id] || 0);
    const y = (v) => (height - bottom) - (height - bottom - 6) * v / max;
    for (const v of [0, max]) svg.append(el('svg:text', { x: left - 4, y: y(v) + 3, 'text-anchor': 'end' }, String(v)));
    const legend = $('#queue-legend');
    legend.replaceChildren();
    for (const m of state.models) {
      const line = (key, dash) => {
        const pts = samples.map((s) => `${x(s.t).toFixed(1)},${y((s[key] || {})[m.id] || 0).toFixed(1)}`).join(' ');
        if (!pts) return;
        const attrs = { points: pts, fill: 'none', stroke: color(m.id), 'stroke-width': 1.5 };
        if (dash) attrs['stroke-dasharray'] = '3 3';
        svg.append(el('svg:polyline', attrs));
      };
      line('in_flight', true);
      line('queued', false);
      const item = el('span');
      const swatch = el('i');
      swatch.style.background = color(m.id);
      item.append(swatch, document.createTextNode(`${m.id} ${m.queued} queued, ${m.in_flight} running`));
      legend.append(item);
    }
  }

  function renderRoutes() {
    const body = $('#routes tbody');
    const rows = state.routes.map((r) => {
      const tr = el('tr', { 'data-id': r.id });
      const cell = (text, cls) => tr.append(el('td', cls ? { class: cls } : {}, text));
      cell(clock(r.t));
      cell(r.excerpt === undefined ? '' : r.excerpt, 'excerpt');
      cell(r.task);
      cell(r.confidence.toFixed(2), 'num');
      cell(r.policy ? `${r.stage} · ${r.policy}` : r.stage);
      cell(r.model);
      cell(r.ended ? (r.served_by && r.served_by !== r.model ? `${r.outcome} by ${r.served_by}` : r.outcome) + (r.tokens ? ` · ${r.tokens} tok` : '') : 'running…');
      cell(r.route_us.toFixed(1), 'num');
      cell(r.ended ? ms(r.queue_ms) : '', 'num');
      cell(r.ended ? ms(r.swap_ms) : '', 'num');
      cell(r.ended ? ms(r.ttft_ms) : '', 'num');
      cell(r.ended ? ms(r.total_ms) : '', 'num');
      return tr;
    });
    body.replaceChildren(...rows);
    if (rows.length === 0) body.append(el('tr', {}, '')).firstChild.append(el('td', { colspan: 12, class: 'muted' }, 'no routed requests yet (requests that name model "auto" or none)'));
  }

  function renderModelChoice() {
    const select = $('#play-model');
    const have = new Set([...select.options].map((o) => o.value));
    for (const m of state.models) if (!have.has(m.id)) select.append(el('option', { value: m.id }, m.id));
  }

  // ---- playground: stream a chat through the OpenAI-compatible endpoint ----
  let playing = null;
  $('#play-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (playing) return;
    const out = $('#play-output');
    const decision = $('#play-decision');
    out.textContent = '';
    out.dataset.state = 'streaming';
    decision.textContent = 'waiting for the route…';
    playing = new AbortController();
    $('#play-send').disabled = true;
    $('#play-stop').disabled = false;
    const request = {
      model: $('#play-model').value,
      messages: [{ role: 'user', content: $('#play-prompt').value }],
      max_tokens: Number($('#play-max').value) || 64,
      temperature: Number($('#play-temp').value) || 0,
      stream: true,
      stream_options: { include_usage: true },
    };
    try {
      const r = await fetch('/v1/chat/completions', {
        method: 'POST', headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(request), signal: playing.signal,
      });
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        throw new Error(`HTTP ${r.status}: ${(body.error && body.error.message) || r.statusText}`);
      }
      decision.textContent = `model ${r.headers.get('x-modelrouter-model') || '?'}` + (r.headers.get('x-modelrouter-task') ? ` · task ${r.headers.get('x-modelrouter-task')}` : '');
      await readEvents(r, (data) => {
        if (data === '[DONE]') return;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        for (const choice of chunk.choices || []) {
          if (choice.delta && choice.delta.content) out.textContent += choice.delta.content;
        }
        const x = chunk.modelrouter;
        if (x) {
          decision.textContent = `model ${x.model}` + (x.task ? ` · task ${x.task} (confidence ${Number(x.confidence).toFixed(2)}${x.unsure ? ', unsure' : ''})` : ' · named by the request') +
            ` · route ${ms(x.route_us)} µs · queue ${ms(x.queue_ms)} ms · swap ${ms(x.swap_ms)} ms · ttft ${ms(x.ttft_ms)} ms · total ${ms(x.total_ms)} ms · ${ms(x.tokens_per_second)} tok/s` +
            (x.reason ? ` — ${x.reason}` : '');
          decision.dataset.model = x.model;
        }
      });
      out.dataset.state = 'done';
    } catch (err) {
      if (playing && playing.signal.aborted) { out.dataset.state = 'stopped'; } else { out.dataset.state = 'error'; out.textContent += (out.textContent ? '\n' : '') + err.message; }
    } finally {
      playing = null;
      $('#play-send').disabled = false;
      $('#play-stop').disabled = true;
    }
  });
  $('#play-stop').addEventListener('click', () => { if (playing) playing.abort(); });

  // Redraw the time axes as time passes even when nothing happens.
  setInterval(() => { if (state.models.length) { renderSwaps(); renderQueue(); } }, 5000);

  state.token = takeToken();
  connect();
})();
