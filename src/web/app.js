// "My exports": a small page for people. Native ES modules, no build step, no dependencies.
// Data comes from GraphQL over fetch; live progress comes from GraphQL subscriptions over a WebSocket
// speaking graphql-transport-ws, implemented here by hand (never by polling).
import { bytes, duration, fmt, FORMAT_NAMES, rateAndTimeLeft, when } from './format.js';
import { readOptions, resetOptions, setUpOptions } from './export-options.js';

(() => {
  const GRAPHQL_PATH = '/graphql';
  const TOKEN_KEY = 'sluice.token';
  const GET_A_TOKEN = 'npx sluice token create --email you@example.com';
  const EVENT_FIELDS = ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'];
  const DEFAULT_FIELDS = ['timestamp', 'dataset', 'metric', 'source', 'value'];
  const RUNNING = ['QUEUING', 'GENERATING'];
  const EXPORTS_SHOWN = 100;
  // The server's own words for an export deleted while someone was watching it.
  const REMOVED_MESSAGE = 'removed by the user';

  const STATUS_FIELDS = `id name requestedOn from to fields removed format packaging
    status { status recordsEstimate recordsProcessed queuePosition startedOn message }
    result { completedOn expiresOn sizeInBytes compressedSizeInBytes sha256 truncated }`;
  const EXPORT_FIELDS = `${STATUS_FIELDS} dataRange { datasets { id name } metrics }`;

  const $ = (id) => document.getElementById(id);

  // ---- errors, in words -------------------------------------------------------------------------

  class TokenRefused extends Error {}
  class Unreachable extends Error {}

  function show(el, message) {
    el.textContent = message;
    el.hidden = !message;
  }

  function describe(err) {
    if (err instanceof Unreachable || err instanceof TokenRefused) return err.message;
    return `Something went wrong: ${err && err.message ? err.message : String(err)}`;
  }

  function tokenRefused(reason) {
    const said = reason ? ` It said: “${reason.replace(/[.\s]+$/, '')}”.` : '';
    return `The server refused this token.${said} Paste a valid token; to get one, run: ${GET_A_TOKEN}`;
  }

  // ---- GraphQL over HTTP ------------------------------------------------------------------------

  async function gql(query, variables = {}) {
    let res;
    try {
      res = await fetch(GRAPHQL_PATH, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${state.token}` },
        body: JSON.stringify({ query, variables }),
      });
    } catch (err) {
      throw new Unreachable(`Could not reach the Sluice server (${err.message}). Check your network and that the server is running, then try again.`);
    }
    let body;
    try {
      body = await res.json();
    } catch {
      throw new Error(`the server answered HTTP ${res.status} with something that is not JSON`);
    }
    const errors = body.errors || [];
    if (res.status === 401 || errors.some((e) => e.extensions && e.extensions.code === 'UNAUTHENTICATED')) {
      throw new TokenRefused(tokenRefused(errors[0] && errors[0].message));
    }
    if (errors.length) throw new Error(errors.map((e) => e.message).join('; '));
    if (!res.ok || !body.data) throw new Error(`the server answered HTTP ${res.status}`);
    return body.data;
  }

  // ---- GraphQL subscriptions over WebSocket (graphql-transport-ws) --------------------------------

  /** One socket, many subscriptions; reconnects with backoff and resubscribes. */
  class LiveClient {
    constructor(token, { onState, onRefused, onReconnected }) {
      this.token = token;
      this.onState = onState;
      this.onRefused = onRefused;
      this.onReconnected = onReconnected;
      this.subs = new Map();
      this.nextId = 1;
      this.attempt = 0;
      this.everAcked = false;
      this.stopped = false;
      this.ws = null;
      this.acked = false;
      this.timer = null;
    }

    start() {
      this.connect();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      this.subs.clear();
      if (this.ws) this.ws.close(1000, 'bye');
      this.ws = null;
    }

    send(message) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
    }

    sendSubscribe(id, sub) {
      this.send({ id, type: 'subscribe', payload: { query: sub.query, variables: sub.variables } });
    }

    connect() {
      if (this.stopped) return;
      const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${GRAPHQL_PATH}`;
      let ws;
      try {
        ws = new WebSocket(url, 'graphql-transport-ws');
      } catch {
        this.retry();
        return;
      }
      this.ws = ws;
      this.acked = false;
      this.onState('connecting');
      // A server that never acknowledges is as good as down: try again.
      const ackTimer = setTimeout(() => ws.close(4408, 'connection_ack timeout'), 10_000);
      ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${this.token}` } }));
      ws.onmessage = (event) => {
        let msg;
        try {
          msg = JSON.parse(event.data);
        } catch {
          return;
        }
        const sub = msg.id !== undefined ? this.subs.get(msg.id) : undefined;
        switch (msg.type) {
          case 'connection_ack': {
            clearTimeout(ackTimer);
            this.acked = true;
            this.attempt = 0;
            this.onState('live');
            for (const [id, s] of this.subs) this.sendSubscribe(id, s);
            if (this.everAcked) this.onReconnected();
            this.everAcked = true;
            break;
          }
          case 'ping':
            this.send({ type: 'pong', payload: msg.payload });
            break;
          case 'next':
            if (sub) sub.next(msg.payload);
            break;
          case 'error':
            if (sub) {
              this.subs.delete(msg.id);
              sub.error(msg.payload);
            }
            break;
          case 'complete':
            if (sub) {
              this.subs.delete(msg.id);
              sub.complete();
            }
            break;
          default:
            break;
        }
      };
      ws.onclose = (event) => {
        clearTimeout(ackTimer);
        if (this.ws !== ws) return;
        this.ws = null;
        this.acked = false;
        if (this.stopped) return;
        if (event.code === 4401 || event.code === 4403) {
          this.stopped = true;
          this.onState('refused');
          this.onRefused(event.reason);
          return;
        }
        this.retry();
      };
    }

    retry() {
      // 1 s, 2 s, 4 s … up to 30 s, with jitter so that many tabs do not come back in step.
      const base = Math.min(30_000, 1000 * 2 ** this.attempt);
      const delay = Math.round(base * (0.75 + Math.random() * 0.5));
      this.attempt++;
      this.onState('reconnecting', delay);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), delay);
    }

    /** Returns a function that ends the subscription. */
    subscribe(query, variables, sink) {
      const id = String(this.nextId++);
      const sub = { query, variables, ...sink };
      this.subs.set(id, sub);
      if (this.acked) this.sendSubscribe(id, sub);
      return () => {
        if (this.subs.delete(id) && this.acked) this.send({ id, type: 'complete' });
      };
    }
  }

  // ---- state --------------------------------------------------------------------------------------

  const state = {
    token: null,
    me: null,
    datasets: [],
    exports: new Map(),
    nodes: new Map(),
    watchers: new Map(),
    removed: new Set(),
    total: 0,
    live: null,
    stopMine: null,
  };

  const rank = (status) => (status === 'QUEUING' ? 0 : status === 'GENERATING' ? 1 : 2);

  /**
   * Two subscriptions (and mutation answers) may report the same export, and their messages can cross:
   * never step back from a finished state, nor, on the live path, to an earlier state or a smaller count
   * of the same run. A list read is a fresh snapshot and may step back (an export requeued after a crash).
   */
  function isStale(prev, e, fromList) {
    const before = rank(prev.status.status);
    const now = rank(e.status.status);
    if (before === 2) return now < 2;
    if (fromList) return false;
    if (now < before) return true;
    return now === 1 && before === 1 && prev.status.startedOn === e.status.startedOn && e.status.recordsProcessed < prev.status.recordsProcessed;
  }

  // ---- token --------------------------------------------------------------------------------------

  async function signIn(token) {
    show($('token-error'), '');
    show($('page-error'), '');
    $('token-use').disabled = true;
    state.token = token;
    try {
      const data = await gql(`query MyExportsPage {
        me {
          email
          datasets(limit: 200) { items { id name metrics { id } } }
          exports(limit: ${EXPORTS_SHOWN}) { count items { ${EXPORT_FIELDS} } }
        }
      }`);
      try {
        sessionStorage.setItem(TOKEN_KEY, token);
      } catch {
        // Storage may be off (private mode): the page still works for this visit.
      }
      state.me = data.me;
      state.datasets = data.me.datasets.items;
      $('token-input').value = '';
      renderSignedIn();
      replaceExports(data.me.exports);
      startLive();
    } catch (err) {
      state.token = null;
      if (err instanceof TokenRefused) {
        try {
          sessionStorage.removeItem(TOKEN_KEY);
        } catch {
          // nothing kept, nothing to forget
        }
        show($('token-error'), err.message);
      } else {
        show($('token-error'), describe(err));
      }
      renderSignedOut();
      $('token-input').focus();
    } finally {
      $('token-use').disabled = false;
    }
  }

  function signOut(message) {
    if (state.live) state.live.stop();
    state.live = null;
    state.stopMine = null;
    state.token = null;
    state.me = null;
    state.exports.clear();
    state.watchers.clear();
    state.removed.clear();
    for (const node of state.nodes.values()) node.remove();
    state.nodes.clear();
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // nothing kept
    }
    renderSignedOut();
    show($('token-error'), message || '');
  }

  function renderSignedIn() {
    $('who').hidden = false;
    $('who-email').textContent = state.me.email;
    $('token-section').hidden = true;
    $('create-section').hidden = false;
    $('exports-section').hidden = false;
    renderDatasetChoices();
  }

  function renderSignedOut() {
    $('who').hidden = true;
    $('token-section').hidden = false;
    $('create-section').hidden = true;
    $('exports-section').hidden = true;
  }

  // ---- live updates -------------------------------------------------------------------------------

  function setLive(stateName, delay) {
    const el = $('live');
    el.dataset.state = stateName;
    el.textContent = {
      connecting: 'Live updates: connecting…',
      live: 'Live updates: on',
      reconnecting: `Live updates: connection lost, retrying in ${Math.max(1, Math.round((delay || 0) / 1000))} s`,
      refused: 'Live updates: token refused',
      off: 'Live updates: off',
    }[stateName];
  }

  function startLive() {
    if (state.live) state.live.stop();
    state.watchers.clear();
    const live = new LiveClient(state.token, {
      onState: setLive,
      onRefused: (reason) => signOut(tokenRefused(reason)),
      // Changes made while the socket was down were not heard: read the list once more.
      onReconnected: () => refreshExports(),
    });
    state.live = live;
    state.stopMine = live.subscribe(`subscription MyExports { myExportsUpdated { ${STATUS_FIELDS} } }`, {}, {
      next: (payload) => {
        if (payload.data && payload.data.myExportsUpdated) applyUpdate(payload.data.myExportsUpdated);
      },
      error: (errors) => show($('page-error'), `Live updates stopped: ${errorsText(errors)}. Reload the page to try again.`),
      complete: () => undefined,
    });
    live.start();
    for (const e of state.exports.values()) watch(e);
  }

  function errorsText(errors) {
    return Array.isArray(errors) ? errors.map((e) => e.message).join('; ') : String(errors);
  }

  /** Follows one running export closely: its current state at once, then every change until it ends. */
  function watch(e) {
    if (!state.live || !RUNNING.includes(e.status.status) || state.watchers.has(e.id)) return;
    const stop = state.live.subscribe(
      `subscription ExportProgress($id: String!) { exportUpdated(id: $id) { ${STATUS_FIELDS} } }`,
      { id: e.id },
      {
        next: (payload) => {
          if (payload.data && payload.data.exportUpdated) applyUpdate(payload.data.exportUpdated);
        },
        error: () => state.watchers.delete(e.id),
        complete: () => state.watchers.delete(e.id),
      },
    );
    state.watchers.set(e.id, stop);
  }

  function unwatch(id) {
    const stop = state.watchers.get(id);
    state.watchers.delete(id);
    if (stop) stop();
  }

  async function refreshExports() {
    if (!state.token) return;
    try {
      const data = await gql(`query MyExports { me { exports(limit: ${EXPORTS_SHOWN}) { count items { ${EXPORT_FIELDS} } } } }`);
      replaceExports(data.me.exports);
    } catch (err) {
      if (err instanceof TokenRefused) signOut(err.message);
      else show($('page-error'), describe(err));
    }
  }

  // ---- the list -----------------------------------------------------------------------------------

  function replaceExports(page) {
    const seen = new Set(page.items.map((e) => e.id));
    for (const id of [...state.exports.keys()]) {
      if (!seen.has(id)) forget(id);
    }
    state.total = page.count;
    for (const e of page.items) applyUpdate(e, true);
    renderCount();
  }

  /** Takes in a newer state of an export, from a query, a mutation or a subscription. */
  function applyUpdate(e, fromList) {
    if (state.removed.has(e.id)) return;
    const prev = state.exports.get(e.id);
    if (e.removed || (e.status.status === 'CANCELLED' && e.status.message === REMOVED_MESSAGE)) {
      // Removed elsewhere (another tab, the API): it is gone.
      if (prev) {
        forget(e.id);
        state.total = Math.max(0, state.total - 1);
        renderCount();
      }
      return;
    }
    if (prev && isStale(prev, e, fromList)) {
      // Keep what only the older message carried (subscriptions do not ask for the data range).
      if (e.dataRange && !prev.dataRange) {
        prev.dataRange = e.dataRange;
        renderExport(prev);
      }
      return;
    }
    const merged = { ...prev, ...e };
    state.exports.set(e.id, merged);
    if (!prev && !fromList) {
      state.total++;
      renderCount();
    }
    renderExport(merged);
    watch(merged);
  }

  function forget(id) {
    unwatch(id);
    state.exports.delete(id);
    const node = state.nodes.get(id);
    if (node) node.remove();
    state.nodes.delete(id);
  }

  function renderCount() {
    const n = state.exports.size;
    $('exports-empty').hidden = n > 0;
    const total = Math.max(state.total, n);
    $('exports-count').textContent = total > n ? `newest ${fmt(n)} of ${fmt(total)}` : n === 1 ? '1 export' : `${fmt(n)} exports`;
  }

  function place(node, e) {
    const list = $('exports-list');
    // Newest first: before the first item requested earlier than this one.
    let before = null;
    for (const other of list.children) {
      const o = state.exports.get(other.dataset.id);
      if (o && o.id !== e.id && (o.requestedOn < e.requestedOn || (o.requestedOn === e.requestedOn && o.id < e.id))) {
        before = other;
        break;
      }
    }
    if (node.parentNode !== list || node.nextSibling !== before) list.insertBefore(node, before);
  }

  function renderExport(e) {
    let node = state.nodes.get(e.id);
    if (!node) {
      node = $('export-item').content.firstElementChild.cloneNode(true);
      node.dataset.id = e.id;
      const nameId = `export-name-${e.id}`;
      node.querySelector('.export-name').id = nameId;
      node.setAttribute('aria-labelledby', nameId);
      node.querySelector('.export-progress').setAttribute('aria-labelledby', nameId);
      node.querySelector('.act-download').addEventListener('click', () => download(e.id, node));
      node.querySelector('.act-cancel').addEventListener('click', () => cancel(e.id, node));
      node.querySelector('.act-remove').addEventListener('click', () => remove(e.id, node));
      state.nodes.set(e.id, node);
      place(node, e);
      renderCount();
    }
    const s = e.status;
    node.dataset.status = s.status;
    node.querySelector('.export-name').textContent = e.name || `Export ${e.id.slice(0, 8)}`;
    const badge = node.querySelector('.badge');
    badge.textContent = s.status;
    badge.dataset.status = s.status;
    node.querySelector('.export-id').textContent = details(e);
    node.querySelector('.export-file').textContent = fileDetails(e);
    renderProgress(node.querySelector('.export-progress'), node.querySelector('.export-status'), e);
    const message = node.querySelector('.export-message');
    const why = (s.status === 'FAILED' || s.status === 'CANCELLED') && s.message;
    message.textContent = why ? `${s.status === 'FAILED' ? 'Why it failed' : 'Why it was cancelled'}: ${s.message}` : '';
    message.hidden = !why;
    node.querySelector('.act-download').hidden = s.status !== 'COMPLETED';
    node.querySelector('.act-cancel').hidden = !RUNNING.includes(s.status);
  }

  function details(e) {
    const parts = [`id ${e.id}`, `asked ${when(e.requestedOn)}`];
    if (e.dataRange && e.dataRange.datasets.length) parts.push(`from ${e.dataRange.datasets.map((d) => d.name).join(', ')}`);
    if (e.dataRange && e.dataRange.metrics && e.dataRange.metrics.length) parts.push(`metrics ${e.dataRange.metrics.join(', ')}`);
    if (e.from != null || e.to != null) parts.push(`events ${e.from != null ? when(e.from) : 'any time'} – ${e.to != null ? when(e.to) : 'now'}`);
    return parts.join(' · ');
  }

  function fileDetails(e) {
    const parts = [`${FORMAT_NAMES[e.format] || e.format || 'CSV'}${e.packaging === 'ZIP' ? ' in a ZIP' : ''}`];
    const r = e.result;
    if (r) {
      if (r.compressedSizeInBytes != null) parts.push(`${bytes(r.compressedSizeInBytes)} to download`);
      if (r.sha256) parts.push(`sha256 ${r.sha256}`);
    }
    return parts.join(' · ');
  }

  function setProgress(bar, value, max, words) {
    bar.hidden = false;
    bar.setAttribute('max', String(max));
    if (value === null) bar.removeAttribute('value');
    else bar.setAttribute('value', String(value));
    bar.setAttribute('aria-valuetext', words);
  }

  function renderProgress(bar, text, e) {
    const s = e.status;
    const done = s.recordsProcessed;
    const estimate = s.recordsEstimate;
    let words;
    switch (s.status) {
      case 'QUEUING':
        words = s.queuePosition ? `Waiting in the queue, position ${s.queuePosition} (1 means next to start).` : 'Waiting in the queue.';
        setProgress(bar, null, 1, words);
        break;
      case 'GENERATING':
        if (estimate > 0) {
          const shown = Math.min(done, estimate);
          words = `Writing: ${fmt(done)} of ${fmt(estimate)} records (${Math.floor((shown / estimate) * 100)}%).`;
          const pace = rateAndTimeLeft(done, estimate, s.startedOn);
          if (pace) words += ` ${fmt(Math.round(pace.rate))} records/s, about ${duration(pace.left)} left.`;
          setProgress(bar, shown, estimate, words);
        } else {
          words = done > 0 ? `Writing: ${fmt(done)} records so far.` : 'Starting: counting the records…';
          setProgress(bar, null, 1, words);
        }
        break;
      case 'COMPLETED': {
        const r = e.result;
        words = `Done: ${fmt(done)} records`;
        if (r) {
          words += `, ${bytes(r.sizeInBytes)}`;
          if (r.truncated) words += ' (cut short by the record limit)';
          if (r.expiresOn) words += `. Kept until ${when(r.expiresOn)}`;
        }
        words += '.';
        setProgress(bar, Math.max(done, 1), Math.max(done, 1), words);
        break;
      }
      default:
        words = `${s.status === 'FAILED' ? 'Failed' : 'Cancelled'} after ${fmt(done)}${estimate > 0 ? ` of ${fmt(estimate)}` : ''} records.`;
        bar.hidden = true;
        break;
    }
    text.textContent = words;
  }

  // ---- actions on one export ----------------------------------------------------------------------

  async function exportAction(node, button, run) {
    const error = node.querySelector('.export-error');
    show(error, '');
    button.disabled = true;
    try {
      await run(error);
    } catch (err) {
      if (err instanceof TokenRefused) signOut(err.message);
      else show(error, describe(err));
    } finally {
      button.disabled = false;
    }
  }

  function cancel(id, node) {
    return exportAction(node, node.querySelector('.act-cancel'), async (error) => {
      const data = await gql(`mutation CancelExport($id: String!) { onExport(id: $id) { cancel { responseCode message item { ${EXPORT_FIELDS} } } } }`, { id });
      const r = data.onExport.cancel;
      if (r.responseCode !== 'SUCCESS') return show(error, `Could not cancel: ${r.message || r.responseCode}`);
      if (r.item) applyUpdate(r.item);
    });
  }

  function remove(id, node) {
    const name = node.querySelector('.export-name').textContent;
    const running = RUNNING.includes(node.dataset.status);
    if (!window.confirm(`Remove “${name}”?${running ? ' It is still running: it will be cancelled.' : ''} Its file is deleted; this cannot be undone.`)) return undefined;
    return exportAction(node, node.querySelector('.act-remove'), async (error) => {
      const data = await gql(`mutation RemoveExport($id: String!) { onExport(id: $id) { remove { responseCode message } } }`, { id });
      const r = data.onExport.remove;
      if (r.responseCode !== 'SUCCESS' && r.responseCode !== 'NOT_FOUND') return show(error, `Could not remove: ${r.message || r.responseCode}`);
      state.removed.add(id);
      forget(id);
      state.total = Math.max(0, state.total - 1);
      renderCount();
      $('exports-notice').textContent = `Removed “${name}”.`;
    });
  }

  function download(id, node) {
    return exportAction(node, node.querySelector('.act-download'), async (error) => {
      const data = await gql(`mutation DownloadLink($id: String!) { onExport(id: $id) { createDownloadLink { responseCode message link expiresOn } } }`, { id });
      const r = data.onExport.createDownloadLink;
      if (r.responseCode !== 'SUCCESS' || !r.link) return show(error, `Could not download: ${r.message || r.responseCode}`);
      // Ask first, so that a refusal (expired, gone) is explained here instead of replacing the page.
      let head;
      try {
        head = await fetch(r.link, { method: 'HEAD', cache: 'no-store' });
      } catch (err) {
        throw new Unreachable(`Could not reach the Sluice server (${err.message}). Check your network, then try again.`);
      }
      if (!head.ok) {
        let why = `HTTP ${head.status}`;
        try {
          const body = await (await fetch(r.link, { cache: 'no-store' })).json();
          if (body && body.error && body.error.message) why = body.error.message;
        } catch {
          // keep the status code
        }
        return show(error, `Could not download: ${why}`);
      }
      // The link needs no headers: the browser downloads it as an attachment and stays on this page.
      window.location.assign(r.link);
    });
  }

  // ---- the create form ----------------------------------------------------------------------------

  function renderDatasetChoices() {
    const select = $('create-datasets');
    const chosen = new Set([...select.selectedOptions].map((o) => o.value));
    select.textContent = '';
    for (const d of state.datasets) {
      const option = document.createElement('option');
      option.value = d.id;
      option.textContent = `${d.name} (id ${d.id})`;
      option.selected = chosen.has(d.id) || state.datasets.length === 1;
      select.append(option);
    }
    select.size = Math.min(6, Math.max(2, state.datasets.length));
    $('datasets-hint').textContent = state.datasets.length
      ? (window.matchMedia('(pointer: coarse)').matches ? 'Tap to choose one or more.' : 'Choose one or more (Ctrl or ⌘ + click for several).')
      : 'You cannot read any dataset yet. Ask a dataset owner to run: npx sluice dataset grant --dataset ID --email you@example.com --permission READ';
    renderMetricChoices();
  }

  function renderMetricChoices() {
    const list = $('metrics-list');
    const ticked = new Set([...list.querySelectorAll('input:checked')].map((i) => i.value));
    const chosen = new Set([...$('create-datasets').selectedOptions].map((o) => o.value));
    const metrics = [...new Set(state.datasets.filter((d) => chosen.has(d.id)).flatMap((d) => d.metrics.map((m) => m.id)))].sort();
    list.textContent = '';
    for (const m of metrics) list.append(checkbox('metric', m, m, ticked.has(m)));
    $('metrics-empty').hidden = metrics.length > 0;
    $('metrics-empty').textContent = chosen.size ? 'These datasets have no events yet.' : 'Choose a dataset to see its metrics.';
  }

  let checkboxCount = 0;
  function checkbox(name, value, label, checked) {
    const id = `cb-${name}-${checkboxCount++}`;
    const wrap = document.createElement('div');
    wrap.className = 'check';
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.name = name;
    input.value = value;
    input.id = id;
    input.checked = checked;
    const text = document.createElement('label');
    text.htmlFor = id;
    text.textContent = label;
    wrap.append(input, text);
    return wrap;
  }

  function renderFieldChoices() {
    const list = $('fields-list');
    for (const f of EVENT_FIELDS) list.append(checkbox('field', f, f, DEFAULT_FIELDS.includes(f)));
  }

  /** The form as a CreateExportInput, or a sentence saying what to fix. */
  function readForm() {
    const datasets = [...$('create-datasets').selectedOptions].map((o) => o.value);
    if (!datasets.length) return { problem: 'Choose at least one dataset.' };
    const metrics = [...$('metrics-list').querySelectorAll('input:checked')].map((i) => i.value);
    const fields = [...$('fields-list').querySelectorAll('input:checked')].map((i) => i.value);
    if (!fields.length) return { problem: 'Tick at least one column.' };
    const { options, problem } = readOptions($);
    if (problem) return { problem };
    const input = { dataRange: { datasets }, fields, ...options };
    if (metrics.length) input.dataRange.metrics = metrics;
    const name = $('create-name').value.trim();
    if (name) input.name = name;
    for (const key of ['from', 'to']) {
      const raw = $(`create-${key}`).value;
      if (!raw) continue;
      const ms = new Date(raw).getTime();
      if (Number.isNaN(ms)) return { problem: `“${key === 'from' ? 'From' : 'To'}” is not a date and time the page understands: ${raw}` };
      input[key] = ms;
    }
    if (input.from != null && input.to != null && input.from >= input.to) return { problem: '“From” must be before “To”.' };
    const filterText = $('create-filter').value.trim();
    if (filterText) {
      let filter;
      try {
        filter = JSON.parse(filterText);
      } catch (err) {
        return { problem: `The filter is not valid JSON (${err.message}). Nothing was sent. Example: {"value": {"_gt": 20}}` };
      }
      if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) {
        return { problem: 'The filter must be a JSON object, for example {"source": {"_eq": "sensor-1"}}. Nothing was sent.' };
      }
      input.filter = filter;
    }
    return { input };
  }

  async function onCreate(event) {
    event.preventDefault();
    const error = $('create-error');
    const ok = $('create-ok');
    show(error, '');
    ok.textContent = '';
    const { input, problem } = readForm();
    if (problem) return show(error, problem);
    const button = $('create-submit');
    button.disabled = true;
    try {
      const data = await gql(`mutation CreateExport($input: CreateExportInput!) { createExport(input: $input) { responseCode message item { ${EXPORT_FIELDS} } } }`, { input });
      const r = data.createExport;
      if (r.responseCode !== 'SUCCESS' || !r.item) {
        show(error, `The export was not created: ${r.message || r.responseCode}`);
        return;
      }
      applyUpdate(r.item);
      const node = state.nodes.get(r.item.id);
      if (node) node.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      ok.textContent = `Created “${r.item.name || r.item.id}”${r.message ? `: ${r.message}` : '.'} Follow it in the list of exports.`;
      resetForm();
    } catch (err) {
      if (err instanceof TokenRefused) signOut(err.message);
      else show(error, describe(err));
    } finally {
      button.disabled = false;
    }
  }

  /** A new export starts from the defaults, never from the last one's choices (ticked metrics included). */
  function resetForm() {
    $('create-name').value = '';
    for (const input of $('metrics-list').querySelectorAll('input')) input.checked = false;
    for (const input of $('fields-list').querySelectorAll('input')) input.checked = DEFAULT_FIELDS.includes(input.value);
    for (const key of ['from', 'to', 'filter']) $(`create-${key}`).value = '';
    resetOptions($);
  }

  // ---- start --------------------------------------------------------------------------------------

  function init() {
    renderFieldChoices();
    setUpOptions($);
    $('create-reset').addEventListener('click', () => {
      resetForm();
      show($('create-error'), '');
      $('create-ok').textContent = 'The form is back to its defaults.';
    });
    $('create-datasets').addEventListener('change', renderMetricChoices);
    $('create-form').addEventListener('submit', onCreate);
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token-input').value.trim().replace(/^Bearer\s+/i, '');
      if (!token) return show($('token-error'), `Paste a token first. Create one with: ${GET_A_TOKEN}`);
      signIn(token);
    });
    $('token-forget').addEventListener('click', () => {
      signOut('');
      $('token-input').focus();
    });
    let saved = null;
    try {
      saved = sessionStorage.getItem(TOKEN_KEY);
    } catch {
      // no storage: ask for the token
    }
    if (saved) signIn(saved);
    else renderSignedOut();
  }

  init();
})();
