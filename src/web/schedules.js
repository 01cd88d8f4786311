// Schedules (§14) on the "My exports" page: the list with next and last run, create, pause, resume,
// run now, remove; and on each export of the list, the link to the schedule it is a run of and a
// re-run button. A module of its own: it reads the token the page keeps and talks GraphQL itself.

const GRAPHQL_PATH = '/graphql';
const TOKEN_KEY = 'sluice.token';
const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];

const SCHEDULE_FIELDS = `id name cron timeZone incremental paused nextRunOn lastRunOn lastMessage
  definition runs(limit: 1) { id name status { status } }`;

const $ = (id) => document.getElementById(id);
const when = (ms) => (ms == null ? '—' : new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }));

const state = { token: null, schedules: [], runsOf: new Map(), statusOf: new Map(), timer: null, refreshing: null, again: false };
const TICK_TIME = /^ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

class GraphQLFailure extends Error {}

async function gql(query, variables = {}) {
  const res = await fetch(GRAPHQL_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${state.token}` },
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await res.json();
  } catch {
    throw new GraphQLFailure(`the server answered ${res.status} without a readable body`);
  }
  if (body.errors && body.errors.length) throw new GraphQLFailure(body.errors.map((e) => e.message).join('; '));
  return body.data;
}

function show(el, message) {
  el.textContent = message || '';
  el.hidden = !message;
}

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Loads schedules and which exports are runs; runs again if asked meanwhile, never twice at once. */
async function refresh() {
  if (state.refreshing) {
    state.again = true;
    return state.refreshing;
  }
  state.refreshing = (async () => {
    do {
      state.again = false;
      state.token = token();
      if (!state.token || $('exports-section').hidden) {
        $('schedules-section').hidden = true;
        return;
      }
      try {
        const data = await gql(`query MySchedules { me {
          exportSchedules { ${SCHEDULE_FIELDS} }
          datasets(limit: 200) { items { id name } }
          exports(limit: 100) { items { id status { status } schedule { id name } } } } }`);
        state.schedules = data.me.exportSchedules;
        state.runsOf = new Map(data.me.exports.items.map((e) => [e.id, e]));
        renderDatasets(data.me.datasets.items);
        render();
        show($('schedules-error'), '');
      } catch (err) {
        show($('schedules-error'), `Could not load schedules: ${err.message}`);
      }
    } while (state.again);
  })().finally(() => (state.refreshing = null));
  return state.refreshing;
}

function render() {
  $('schedules-section').hidden = false;
  const list = $('schedules-list');
  list.replaceChildren(...state.schedules.map(renderSchedule));
  $('schedules-empty').hidden = state.schedules.length > 0;
  decorateExports();
  wakeAtNextTick();
}

function renderSchedule(s) {
  const li = document.createElement('li');
  li.className = 'schedule';
  li.setAttribute('aria-label', `schedule ${s.name}`);
  li.id = `schedule-${s.id}`;
  li.dataset.id = s.id;
  li.dataset.paused = String(s.paused);
  const head = document.createElement('div');
  head.className = 'export-head';
  const h = document.createElement('h3');
  h.className = 'schedule-name';
  h.textContent = s.name;
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.textContent = s.paused ? 'PAUSED' : 'ACTIVE';
  head.append(h, badge);
  const what = document.createElement('p');
  what.className = 'schedule-when muted';
  what.textContent = `cron ${s.cron} in ${s.timeZone}${s.incremental ? ' · incremental (only what is new since the last run)' : ''}`;
  const next = document.createElement('p');
  next.className = 'schedule-next';
  next.textContent = `Next run: ${s.paused ? 'paused' : when(s.nextRunOn)} · Last run: ${when(s.lastRunOn)}`;
  const last = s.runs[0];
  const lastRun = document.createElement('p');
  lastRun.className = 'schedule-last';
  lastRun.textContent = last ? `Latest run: ${last.name} (${last.status.status})` : 'No run yet';
  const message = document.createElement('p');
  message.className = 'schedule-message alert';
  message.textContent = s.lastMessage || '';
  message.hidden = !s.lastMessage;
  const error = document.createElement('div');
  error.className = 'alert schedule-error';
  error.setAttribute('role', 'alert');
  error.hidden = true;
  const actions = document.createElement('div');
  actions.className = 'actions';
  const button = (label, cls, run) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.className = cls;
    b.addEventListener('click', () => act(s, b, error, run));
    return b;
  };
  actions.append(
    s.paused ? button('Resume', 'act-resume', 'resume') : button('Pause', 'act-pause secondary', 'pause'),
    button('Run now', 'act-run-now secondary', 'runNow'),
    button('Delete', 'act-remove-schedule danger', 'remove'),
  );
  li.append(head, what, next, lastRun, message, error, actions);
  return li;
}

async function act(s, button, error, action) {
  if (action === 'remove' && !window.confirm(`Delete the schedule "${s.name}"? Its past runs are kept.`)) return;
  button.disabled = true;
  show(error, '');
  try {
    const data = await gql(`mutation($id: String!) { onExportSchedule(id: $id) { ${action} { responseCode message } } }`, { id: s.id });
    const res = data.onExportSchedule[action];
    if (res.responseCode !== 'SUCCESS') {
      show(error, res.message || res.responseCode);
      button.disabled = false;
      return;
    }
    show($('schedules-notice'), action === 'remove' ? `Schedule "${s.name}" deleted; its runs stay in the list.` : res.message || '');
    await refresh();
  } catch (err) {
    show(error, err.message);
    button.disabled = false;
  }
}

/** A run of a listed schedule, known as such or named "<schedule name> <ISO time of its tick>". */
function isRun(li) {
  if (state.runsOf.get(li.dataset.id)?.schedule) return true;
  const name = li.querySelector('.export-name')?.textContent ?? '';
  return state.schedules.some((s) => name.startsWith(s.name) && TICK_TIME.test(name.slice(s.name.length)));
}

/** The schedule link and the re-run button on each export the page lists. */
function decorateExports() {
  for (const li of document.querySelectorAll('#exports-list > li')) {
    const e = state.runsOf.get(li.dataset.id);
    let link = li.querySelector('.export-schedule');
    if (e && e.schedule) {
      if (!link) {
        link = document.createElement('a');
        link.className = 'export-schedule';
        li.querySelector('.export-id').after(link);
      }
      const text = `Run of schedule “${e.schedule.name}”`;
      // Assigned only when changed: every assignment is a mutation the observer below would see.
      if (link.getAttribute('href') !== `#schedule-${e.schedule.id}`) link.href = `#schedule-${e.schedule.id}`;
      if (link.textContent !== text) link.textContent = text;
    } else if (link) {
      link.remove();
    }
    const status = li.dataset.status;
    let rerun = li.querySelector('.act-rerun');
    if (!rerun) {
      rerun = document.createElement('button');
      rerun.type = 'button';
      rerun.className = 'act-rerun secondary';
      rerun.textContent = 'Re-run';
      rerun.addEventListener('click', () => rerunExport(li, rerun));
      li.querySelector('.actions').prepend(rerun);
    }
    if (rerun.hidden !== !TERMINAL.includes(status)) rerun.hidden = !TERMINAL.includes(status);
  }
}

async function rerunExport(li, button) {
  const error = li.querySelector('.export-error');
  button.disabled = true;
  try {
    const data = await gql('mutation($id: String!) { onExport(id: $id) { rerun { responseCode message item { id } } } }', { id: li.dataset.id });
    const res = data.onExport.rerun;
    if (res.responseCode !== 'SUCCESS') show(error, res.message || res.responseCode);
  } catch (err) {
    show(error, err.message);
  } finally {
    button.disabled = false;
  }
}

/** Ticks change next/last run without touching the export list: look again just after the next one. */
function wakeAtNextTick() {
  clearTimeout(state.timer);
  const next = Math.min(...state.schedules.filter((s) => !s.paused && s.nextRunOn).map((s) => s.nextRunOn));
  if (Number.isFinite(next)) state.timer = setTimeout(refresh, Math.min(Math.max(next - Date.now() + 2000, 1000), 2 ** 31 - 1));
}

function renderDatasets(datasets) {
  const select = $('schedule-datasets');
  const chosen = new Set([...select.selectedOptions].map((o) => o.value));
  select.replaceChildren(...datasets.map((d) => {
    const o = document.createElement('option');
    o.value = d.id;
    o.textContent = d.name;
    o.selected = chosen.has(d.id);
    return o;
  }));
}

async function onCreate(event) {
  event.preventDefault();
  const form = $('schedule-form');
  show($('schedule-create-error'), '');
  show($('schedules-notice'), '');
  const datasets = [...$('schedule-datasets').selectedOptions].map((o) => o.value);
  if (!datasets.length) return show($('schedule-create-error'), 'Choose at least one dataset.');
  const input = {
    name: $('schedule-name').value.trim(),
    cron: $('schedule-cron').value.trim(),
    timeZone: $('schedule-zone').value.trim() || 'UTC',
    incremental: $('schedule-incremental').checked,
    export: { dataRange: { datasets } },
  };
  $('schedule-submit').disabled = true;
  try {
    const data = await gql('mutation($input: CreateExportScheduleInput!) { createExportSchedule(input: $input) { responseCode message item { id name nextRunOn } } }', { input });
    const res = data.createExportSchedule;
    if (res.responseCode !== 'SUCCESS') {
      show($('schedule-create-error'), res.message || res.responseCode);
      return;
    }
    form.reset();
    $('schedule-zone').value = 'UTC';
    show($('schedules-notice'), `Schedule "${res.item.name}" created; next run ${when(res.item.nextRunOn)}.`);
    await refresh();
  } catch (err) {
    show($('schedule-create-error'), err.message);
  } finally {
    $('schedule-submit').disabled = false;
  }
}

function init() {
  $('schedule-form').addEventListener('submit', onCreate);
  // The page signs in and out, and adds and updates exports; schedules follow those changes.
  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, 250);
  };
  new MutationObserver(soon).observe($('exports-section'), { attributes: true, attributeFilter: ['hidden'] });
  new MutationObserver(() => {
    // Only a row that is (or is named like) a run of one of these schedules asks the server again, and
    // only when its state changes: exports' progress comes from the page's subscription, not from polling.
    let ask = false;
    for (const li of document.querySelectorAll('#exports-list > li')) {
      const status = li.dataset.status;
      if (state.statusOf.get(li.dataset.id) === status) continue;
      state.statusOf.set(li.dataset.id, status);
      if (isRun(li)) ask = true;
    }
    if (ask) soon();
    decorateExports();
  }).observe($('exports-list'), { childList: true, subtree: true, attributes: true, attributeFilter: ['data-status'] });
  soon();
}

init();
