// The scim-host console: a client of the admin API, in plain DOM calls (no framework, no
// build step). Every value from the server reaches the page as text (textContent), never as
// markup. The admin token lives in this tab's sessionStorage and travels only in the
// Authorization header: never in a URL, so never in a log or a Referer.
'use strict';

(() => {
  const TOKEN_KEY = 'scim-host.admin-token';
  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  const statusLine = document.getElementById('status');

  // What a page started (timers, streams) and must stop when another page replaces it.
  let stops = [];
  // Bumped on every navigation, so a slow answer for an old page is not drawn over a new one.
  let generation = 0;

  // ---- small helpers ----------------------------------------------------------------

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else if (key === 'text') el.textContent = value;
      else if (key === 'value') el.value = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const enc = encodeURIComponent;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function when(ms) {
    if (!ms) return '—';
    return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  function short(digest) {
    return digest ? digest.slice(0, 12) : '—';
  }

  let quiet = null;
  function say(text) {
    statusLine.textContent = text;
    clearTimeout(quiet);
    quiet = setTimeout(() => {
      statusLine.textContent = '';
    }, 10000);
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  // One admin API call: JSON in and out; a SCIM error's `detail` becomes the error's message.
  // A refused token signs the console out.
  async function api(method, path, body, contentType) {
    try {
      return await call(method, path, body, contentType);
    } catch (e) {
      if (e.status === 401) signOut('The server refused the admin token: sign in again.');
      throw e;
    }
  }

  async function call(method, path, body, contentType) {
    const headers = { Authorization: 'Bearer ' + token() };
    let payload;
    if (contentType) {
      headers['Content-Type'] = contentType;
      payload = body;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body: payload, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, 'the server did not answer (' + e.message + ')');
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (_) {
      json = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, (json && json.detail) || text || response.statusText);
    }
    return json;
  }

  // A form's failure, shown beside it and announced.
  function problem(where, error) {
    where.replaceChildren(h('p', { class: 'error', role: 'alert' }, error.message || String(error)));
  }

  // A button that asks once more before it acts (no modal dialog: the keyboard stays put).
  // `what` names the item it acts on, for a screen reader reading the row's buttons.
  function confirmButton(label, confirmLabel, action, what) {
    const button = h('button', { type: 'button', class: 'danger', 'aria-label': what ? label + ' ' + what : null }, label);
    let armedAt = 0;
    let disarm = null;
    const reset = () => {
      armedAt = 0;
      clearTimeout(disarm);
      button.textContent = label;
      button.classList.remove('armed');
    };
    button.addEventListener('click', async () => {
      const now = performance.now();
      if (!armedAt) {
        armedAt = now;
        button.textContent = confirmLabel;
        button.classList.add('armed');
        say(confirmLabel + '.');
        disarm = setTimeout(reset, 5000);
        return;
      }
      // A double click or a held key is not a second thought.
      if (now - armedAt < 700) return;
      reset();
      button.disabled = true;
      try {
        await action();
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  // A form's submit: the page stays, and its buttons wait for the answer (no double submit).
  function onSubmit(form, handler) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const buttons = [...form.querySelectorAll('button[type=submit]')];
      if (buttons.some((b) => b.disabled)) return;
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await handler();
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      say('Copied.');
    } catch (_) {
      say('Select the text and copy it (the browser refused the clipboard here).');
    }
  }

  // A value to take away (a token, a secret, a URL): read-only, selectable, with Copy.
  function takeAway(label, value, id) {
    const input = h('input', { id, readonly: true, value, spellcheck: 'false', autocomplete: 'off' });
    input.addEventListener('focus', () => input.select());
    return h('div', { class: 'field takeaway' },
      h('label', { for: id }, label),
      h('div', { class: 'row' }, input, h('button', { type: 'button', onclick: () => copy(value) }, 'Copy')));
  }

  // What the server shows once (a token, a secret), in view until the operator has kept it.
  function shownOnce(holder, note, fields, doneId) {
    holder.replaceChildren(
      h('p', { class: 'once' }, note),
      ...fields.map(([label, value, id]) => takeAway(label, value, id)),
      h('button', { type: 'button', id: doneId, onclick: () => route() }, 'Done: I have kept it'));
    holder.querySelector('#' + fields[0][2]).focus();
  }

  function table(headings, rows, empty) {
    if (!rows.length) return h('p', { class: 'empty' }, empty);
    return h('div', { class: 'table' },
      h('table', {},
        h('thead', {}, h('tr', {}, headings.map((title) => h('th', { scope: 'col' }, title)))),
        h('tbody', {}, rows)));
  }

  function scimBase(realm, organization) {
    const path = '/realms/' + enc(realm) + '/scim/v2' + (organization ? '/organizations/' + enc(organization) : '');
    return location.origin + path;
  }

  // ---- request and error rates, from the host's /metrics --------------------------------

  async function sampleMetrics() {
    const response = await fetch('/metrics', { cache: 'no-store', credentials: 'omit' });
    const text = await response.text();
    const totals = Object.create(null);
    for (const line of text.split('\n')) {
      const m = /^scim_host_requests_total\{([^}]*)\} (\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const [, name, value] of m[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name] = value;
      const total = (totals[labels.realm] ||= { requests: 0, errors: 0 });
      const count = Number(m[2]);
      total.requests += count;
      if (Number(labels.status) >= 400) total.errors += count;
    }
    return { at: performance.now(), totals };
  }

  // Calls `draw(rates)` now and every few seconds with each realm's requests and errors per
  // second since the previous sample (this host's counters: each host counts its own).
  function followRates(draw) {
    let stopped = false;
    let lastSample = null;
    const tick = async () => {
      try {
        const sample = await sampleMetrics();
        const before = lastSample;
        lastSample = sample;
        const rates = Object.create(null);
        // Behind a load balancer two samples may come from two hosts, and a host that
        // restarted counts from zero: a rate is never below zero.
        const per = (now, then, seconds) => Math.max(0, now - then) / seconds;
        if (before && sample.at > before.at) {
          const seconds = (sample.at - before.at) / 1000;
          for (const [realm, t] of Object.entries(sample.totals)) {
            const p = before.totals[realm] || { requests: 0, errors: 0 };
            rates[realm] = { requests: per(t.requests, p.requests, seconds), errors: per(t.errors, p.errors, seconds) };
          }
        }
        if (!stopped) draw(before ? rates : null);
      } catch (_) {
        if (!stopped) draw(null);
      }
    };
    tick();
    const first = setTimeout(tick, 1500);
    const timer = setInterval(tick, 5000);
    stops.push(() => {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
    });
  }

  function rate(rates, realm, which) {
    if (!rates) return '…';
    const value = (rates[realm] || { requests: 0, errors: 0 })[which];
    return value.toFixed(value < 10 ? 1 : 0) + '/s';
  }

  // ---- pages ------------------------------------------------------------------------

  function draw(gen, title, ...content) {
    if (gen !== generation) return false;
    document.title = title + ' · scim-host console';
    const heading = h('h1', { tabindex: '-1' }, title);
    main.replaceChildren(heading, ...content);
    main.removeAttribute('aria-busy');
    heading.focus({ preventScroll: true });
    return true;
  }

  function showNav() {
    nav.replaceChildren(
      h('a', { href: '#/realms' }, 'Realms'),
      h('button', { type: 'button', id: 'sign-out', onclick: () => signOut('Signed out.') }, 'Sign out'));
  }

  function signIn(gen) {
    nav.replaceChildren();
    const input = h('input', { id: 'admin-token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
    const failure = h('div', {});
    const form = h('form', { id: 'sign-in', class: 'card' },
      h('p', {}, 'Sign in with an admin token (admin_tokens in the configuration; serve --demo prints one). ' +
        'This tab keeps it in its session storage until you sign out or close the tab; ' +
        'signing out here signs out every tab of the console.'),
      h('div', { class: 'field' }, h('label', { for: 'admin-token' }, 'Admin token'), input),
      h('button', { type: 'submit' }, 'Sign in'),
      failure);
    onSubmit(form, async () => {
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      try {
        await call('GET', '/admin/realms');
        say('Signed in.');
        if (!location.hash.startsWith('#/') || location.hash === '#/sign-in') location.hash = '#/realms';
        else route();
      } catch (e) {
        sessionStorage.removeItem(TOKEN_KEY);
        problem(failure, e.status === 401 ? new Error('That is not an admin token of this server.') : e);
      }
    });
    draw(gen, 'Sign in', form);
    input.focus();
  }

  // Signing out in one tab signs out the console's other tabs (a duplicated tab has a copy).
  const otherTabs = 'BroadcastChannel' in window ? new BroadcastChannel('scim-host-console') : null;
  if (otherTabs) {
    otherTabs.onmessage = (event) => {
      if (event.data === 'sign-out' && token()) {
        sessionStorage.removeItem(TOKEN_KEY);
        say('Signed out in another tab.');
        route();
      }
    };
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (otherTabs) otherTabs.postMessage('sign-out');
    say(message);
    route();
  }

  async function realmsPage(gen) {
    const { realms } = await api('GET', '/admin/realms');
    const cells = Object.create(null);
    const rows = realms.map((realm) => {
      cells[realm.name] = { requests: h('td', { class: 'num' }, '…'), errors: h('td', { class: 'num' }, '…') };
      return h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: '#/realms/' + enc(realm.name) }, realm.name)),
        h('td', {}, realm.store),
        h('td', { class: 'num' }, String(realm.organizations.length)),
        h('td', { class: 'num' }, String(realm.tokens.issued + realm.tokens.configured)),
        h('td', {}, h('code', { title: realm.module }, short(realm.module))),
        cells[realm.name].requests,
        cells[realm.name].errors);
    });
    const name = h('input', { id: 'new-realm', required: true, pattern: '[A-Za-z0-9._\\-]+', autocomplete: 'off' });
    const failure = h('div', {});
    const form = h('form', { id: 'create-realm', class: 'card' },
      h('h2', {}, 'New realm'),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'new-realm' }, 'Name'), name),
        h('button', { type: 'submit' }, 'Create realm')),
      failure);
    onSubmit(form, async () => {
      try {
        await api('POST', '/admin/realms', { name: name.value.trim() });
        say('Realm ' + name.value.trim() + ' created.');
        location.hash = '#/realms/' + enc(name.value.trim());
      } catch (e) {
        problem(failure, e);
      }
    });
    const headings = ['Realm', 'Store', 'Organizations', 'Tokens', 'Module', 'Requests', 'Errors'];
    if (!draw(gen, 'Realms', table(headings, rows, 'No realms yet.'),
      h('p', { class: 'hint' }, 'Rates are this host\'s, per second over the last few seconds.'), form)) return;
    followRates((rates) => {
      for (const [realm, cell] of Object.entries(cells)) {
        cell.requests.textContent = rate(rates, realm, 'requests');
        cell.errors.textContent = rate(rates, realm, 'errors');
      }
    });
  }

  const TABS = [
    ['', 'Overview'],
    ['organizations', 'Organizations'],
    ['tokens', 'Tokens'],
    ['module', 'Module'],
    ['events', 'Events'],
    ['webhooks', 'Webhooks'],
    ['requests', 'Failed requests'],
  ];

  function tabs(realm, current) {
    return h('nav', { class: 'tabs', 'aria-label': 'Realm' },
      TABS.map(([path, label]) => h('a', {
        href: '#/realms/' + enc(realm) + (path ? '/' + path : ''),
        'aria-current': path === current ? 'page' : null,
      }, label)));
  }

  async function realmPage(gen, realm, tab, rest) {
    const pages = {
      '': overview, organizations, tokens, module, events, webhooks, requests,
    };
    // Only a webhook has pages of its own (its delivery log).
    if (!Object.hasOwn(pages, tab) || (rest !== undefined && tab !== 'webhooks')) return notFound(gen);
    const page = pages[tab];
    const content = await page(realm, rest);
    const title = tab === '' ? realm : realm + ' · ' + TABS.find(([path]) => path === tab)[1];
    if (!draw(gen, title, tabs(realm, tab), content.node)) return;
    if (content.start) content.start();
  }

  async function overview(realm) {
    const info = await api('GET', '/admin/realms/' + enc(realm));
    const requests = h('dd', {}, '…');
    const errors = h('dd', {}, '…');
    const facts = h('dl', { class: 'facts' },
      h('dt', {}, 'Store'), h('dd', {}, info.store),
      h('dt', {}, 'Module'), h('dd', {}, h('code', {}, info.module)),
      h('dt', {}, 'Tokens'), h('dd', {}, info.tokens.configured + ' from the configuration, ' + info.tokens.issued + ' issued'),
      h('dt', {}, 'Requests'), requests,
      h('dt', {}, 'Errors'), errors);

    const limitsFailure = h('div', {});
    const inputs = {};
    const limitFields = Object.entries(info.limits).map(([name, value]) => {
      inputs[name] = h('input', { id: 'limit-' + name, type: 'number', min: '0', step: 'any', value: value === null ? '' : String(value) });
      return h('div', { class: 'field' }, h('label', { for: 'limit-' + name }, name.replaceAll('_', ' ')), inputs[name]);
    });
    const limitsForm = h('form', { id: 'limits', class: 'card' },
      h('h2', {}, 'Limits'),
      h('p', { class: 'hint' }, 'From ' + info.limitsFrom + '. An empty rate, burst or concurrency lifts that limit.'),
      h('div', { class: 'grid' }, limitFields),
      h('div', { class: 'row' },
        h('button', { type: 'submit' }, 'Save limits'),
        info.limitsFrom === 'admin'
          ? h('button', { type: 'button', onclick: () => changeRealm(realm, { limits: null }, limitsFailure) }, 'Back to the configuration\'s limits')
          : null),
      limitsFailure);
    onSubmit(limitsForm, async () => {
      const changed = {};
      for (const [name, input] of Object.entries(inputs)) {
        const before = info.limits[name] === null ? '' : String(info.limits[name]);
        if (input.value === before) continue;
        changed[name] = input.value === '' ? null : Number(input.value);
      }
      // An empty change would pin the current limits as the operator's own.
      if (!Object.keys(changed).length) return say('Nothing to save: no limit changed.');
      return changeRealm(realm, { limits: changed }, limitsFailure);
    });

    const settingsText = Object.entries(info.settings).map(([k, v]) => k + ' = ' + v).join('\n');
    const settings = h('textarea', { id: 'settings', rows: '4', spellcheck: 'false', value: settingsText });
    const settingsFailure = h('div', {});
    const settingsForm = h('form', { id: 'settings-form', class: 'card' },
      h('h2', {}, 'Settings of the handler'),
      h('p', { class: 'hint' }, 'One "name = value" a line (from ' + info.settingsFrom + '). See the README for the stock handler\'s.'),
      h('div', { class: 'field' }, h('label', { for: 'settings' }, 'Settings'), settings),
      h('div', { class: 'row' },
        h('button', { type: 'submit' }, 'Save settings'),
        info.settingsFrom === 'admin'
          ? h('button', { type: 'button', onclick: () => changeRealm(realm, { settings: null }, settingsFailure) }, 'Back to the configuration\'s settings')
          : null),
      settingsFailure);
    onSubmit(settingsForm, async () => {
      const parsed = new Map();
      for (const line of settings.value.split('\n')) {
        if (!line.trim()) continue;
        const at = line.indexOf('=');
        if (at < 0) return problem(settingsFailure, new Error('"' + line.trim() + '" has no "=": write name = value'));
        parsed.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
      }
      return changeRealm(realm, { settings: Object.fromEntries(parsed) }, settingsFailure);
    });

    const deleteFailure = h('div', {});
    const danger = h('section', { class: 'card' },
      h('h2', {}, 'Delete the realm'),
      h('p', { class: 'hint' }, 'Takes its users, groups, organizations, tokens and events with it.'),
      confirmButton('Delete realm ' + realm, 'Press again to delete ' + realm, async () => {
        try {
          await api('DELETE', '/admin/realms/' + enc(realm));
          say('Realm ' + realm + ' deleted.');
          location.hash = '#/realms';
        } catch (e) {
          problem(deleteFailure, e);
        }
      }),
      deleteFailure);

    return {
      node: h('div', {},
        takeAway('SCIM base URL (paste it into the identity provider)', scimBase(realm), 'scim-base'),
        facts, limitsForm, settingsForm, danger),
      start: () => followRates((rates) => {
        requests.textContent = rate(rates, realm, 'requests');
        errors.textContent = rate(rates, realm, 'errors');
      }),
    };
  }

  async function changeRealm(realm, change, failure) {
    try {
      await api('PATCH', '/admin/realms/' + enc(realm), change);
      say('Saved.');
      route();
    } catch (e) {
      problem(failure, e);
    }
  }

  function scopeSelect(id, organizations, label) {
    return h('div', { class: 'field' },
      h('label', { for: id }, label),
      h('select', { id },
        h('option', { value: '' }, 'the whole realm'),
        organizations.map((o) => h('option', { value: o.alias }, 'organization ' + o.alias))));
  }

  async function organizations(realm) {
    const { organizations: listed } = await api('GET', '/admin/realms/' + enc(realm) + '/organizations');
    const failure = h('div', {});
    const rows = listed.map((o) => h('tr', {},
      h('th', { scope: 'row' }, o.alias),
      h('td', {}, h('code', {}, o.id)),
      h('td', {}, h('code', {}, scimBase(realm, o.alias))),
      h('td', {}, o.configured ? 'configuration' : 'admin API'),
      h('td', {}, o.configured ? '' : confirmButton('Delete', 'Press again to delete ' + o.alias, async () => {
        try {
          await api('DELETE', '/admin/realms/' + enc(realm) + '/organizations/' + enc(o.alias));
          say('Organization ' + o.alias + ' deleted.');
          route();
        } catch (e) {
          problem(failure, e);
        }
      }, 'organization ' + o.alias))));
    const alias = h('input', { id: 'new-organization', required: true, autocomplete: 'off' });
    const name = h('input', { id: 'new-organization-name', autocomplete: 'off' });
    const formFailure = h('div', {});
    const form = h('form', { id: 'create-organization', class: 'card' },
      h('h2', {}, 'New organization'),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'new-organization' }, 'Alias'), alias),
        h('div', { class: 'field' }, h('label', { for: 'new-organization-name' }, 'Name (optional)'), name),
        h('button', { type: 'submit' }, 'Create organization')),
      formFailure);
    onSubmit(form, async () => {
      const body = { alias: alias.value.trim() };
      if (name.value.trim()) body.name = name.value.trim();
      try {
        await api('POST', '/admin/realms/' + enc(realm) + '/organizations', body);
        say('Organization ' + body.alias + ' created.');
        route();
      } catch (e) {
        problem(formFailure, e);
      }
    });
    return {
      node: h('div', {},
        table(['Alias', 'Id', 'SCIM base URL', 'From', ''], rows, 'No organizations.'), failure, form),
    };
  }

  async function tokens(realm) {
    const base = '/admin/realms/' + enc(realm);
    const [{ tokens: listed }, { organizations: orgs }] =
      await Promise.all([api('GET', base + '/tokens'), api('GET', base + '/organizations')]);
    const failure = h('div', {});
    const rows = listed.map((t) => h('tr', {},
      h('th', { scope: 'row' }, t.label || '(no label)'),
      h('td', {}, t.organization ? 'organization ' + t.organization : 'the whole realm'),
      h('td', {}, when(t.createdAt)),
      h('td', {}, h('code', {}, t.id)),
      h('td', {}, confirmButton('Revoke', 'Press again to revoke', async () => {
        try {
          await api('DELETE', base + '/tokens/' + enc(t.id));
          say('Token revoked.');
          route();
        } catch (e) {
          problem(failure, e);
        }
      }, 'token ' + (t.label || t.id)))));
    const label = h('input', { id: 'token-label', autocomplete: 'off' });
    const issued = h('div', { id: 'issued', 'aria-live': 'polite' });
    const form = h('form', { id: 'issue-token', class: 'card' },
      h('h2', {}, 'Issue a token'),
      h('div', { class: 'row' },
        scopeSelect('token-scope', orgs, 'For'),
        h('div', { class: 'field' }, h('label', { for: 'token-label' }, 'Label'), label),
        h('button', { type: 'submit' }, 'Issue token')),
      issued);
    onSubmit(form, async () => {
      const scope = form.querySelector('#token-scope').value;
      const body = { label: label.value.trim() || null };
      if (scope) body.organization = scope;
      try {
        const answer = await api('POST', base + '/tokens', body);
        shownOnce(issued, 'The token is shown this once; only its hash is kept.', [
          ['Token', answer.token, 'new-token'],
          ['SCIM base URL', scimBase(realm, answer.organization), 'new-token-base'],
        ], 'token-done');
      } catch (e) {
        problem(issued, e);
      }
    });
    return {
      node: h('div', {},
        h('p', { class: 'hint' }, 'Tokens from the configuration file are not listed here.'),
        table(['Label', 'For', 'Issued', 'Id', ''], rows, 'No issued tokens.'), failure, form),
    };
  }

  async function module(realm) {
    const base = '/admin/realms/' + enc(realm) + '/module';
    const info = await api('GET', base);
    const failure = h('div', { id: 'module-outcome' });
    const rollback = async (digest) => {
      try {
        const answer = await api('POST', base + '/rollback', digest ? { digest } : {});
        say('Rolled back: the realm runs ' + short(answer.digest) + '.');
        route();
      } catch (e) {
        problem(failure, e);
      }
    };
    const history = info.history.slice().reverse();
    const rows = history.map((installed, i) => h('tr', {},
      h('td', {}, when(installed.installed_at)),
      h('td', {}, h('code', {}, installed.digest)),
      h('td', {}, installed.digest !== info.digest
        ? confirmButton('Run this one', 'Press again to run it', () => rollback(installed.digest), short(installed.digest))
        : i === 0 ? h('strong', {}, 'running') : null)));
    const file = h('input', { id: 'module-file', type: 'file', accept: '.wasm,application/wasm', required: true });
    const form = h('form', { id: 'upload-module', class: 'card' },
      h('h2', {}, 'Upload a component'),
      h('p', { class: 'hint' }, 'Checked and compiled like PUT …/module: a component that does not fit the contract, ' +
        'or is too large, is refused and the realm keeps its module.'),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'module-file' }, 'Component (.wasm)'), file),
        h('button', { type: 'submit' }, 'Upload')));
    onSubmit(form, async () => {
      if (!file.files.length) return;
      failure.replaceChildren(h('p', {}, 'Uploading and compiling…'));
      try {
        const bytes = await file.files[0].arrayBuffer();
        const answer = await api('PUT', base, bytes, 'application/wasm');
        say('The realm runs ' + short(answer.digest) + '.');
        route();
      } catch (e) {
        problem(failure, new Error('Refused: ' + e.message));
      }
    });
    return {
      node: h('div', {},
        h('dl', { class: 'facts' }, h('dt', {}, 'Runs'), h('dd', {}, h('code', { id: 'module-digest' }, info.digest))),
        form, failure,
        h('h2', {}, 'History'),
        info.history.length > 1
          ? Object.assign(confirmButton('Roll back to the previous module', 'Press again to roll back', () => rollback(null)), { id: 'rollback' })
          : null,
        table(['Installed', 'Digest', ''], rows, 'The realm runs the module it started with; none was uploaded.')),
    };
  }

  function eventSummary(e) {
    const d = e.details || {};
    const name = d.userName || d.displayName || (d.resource && (d.resource.userName || d.resource.displayName));
    return name ? name + ' (' + e.resourceId + ')' : e.resourceId;
  }

  function eventItem(e) {
    return h('li', { class: 'event', 'data-seq': e.seq },
      h('div', { class: 'row' },
        h('span', { class: 'type' }, e.type),
        h('span', {}, eventSummary(e)),
        h('time', {}, when(e.time))),
      h('details', {}, h('summary', {}, 'Details'), h('pre', {}, JSON.stringify(e, null, 2))));
  }

  async function events(realm) {
    const base = '/admin/realms/' + enc(realm) + '/events';
    const recent = await api('GET', base + '?order=newest&limit=50');
    const list = h('ol', { id: 'events', class: 'events', reversed: true }, recent.events.map(eventItem));
    const state = h('p', { id: 'stream-state', class: 'hint', role: 'status' }, 'Connecting…');
    const controller = new AbortController();
    const start = () => {
      stops.push(() => controller.abort());
      follow(realm, recent.next, controller.signal, (e) => {
        list.prepend(eventItem(e));
        while (list.children.length > 200) list.lastChild.remove();
      }, (text) => {
        state.textContent = text;
      });
    };
    return {
      node: h('div', {}, state, list),
      start,
    };
  }

  // Server-Sent Events over fetch: EventSource cannot send an Authorization header, and the
  // token must not go into the URL. Reconnects after `after`, the last sequence number seen.
  async function follow(realm, after, signal, onEvent, onState) {
    const url = () => '/admin/realms/' + enc(realm) + '/events/stream?after=' + after;
    while (!signal.aborted) {
      try {
        const response = await fetch(url(), {
          headers: { Authorization: 'Bearer ' + token(), Accept: 'text/event-stream' },
          cache: 'no-store', credentials: 'omit', signal,
        });
        if (response.status === 401) return signOut('The server refused the admin token: sign in again.');
        if (response.status === 429 || response.status >= 500) {
          const wait = Number(response.headers.get('Retry-After')) || 5;
          onState('The server is busy (' + response.status + '); trying again in ' + wait + ' s…');
          await sleep(wait * 1000);
          continue;
        }
        if (!response.ok) {
          const detail = await response.json().then((j) => j.detail).catch(() => '');
          return onState('The stream was refused (' + response.status + (detail ? ': ' + detail : '') + ').');
        }
        onState('Live: new events appear at the top.');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replaceAll('\r\n', '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
            if (!data) continue;
            const event = JSON.parse(data);
            after = Math.max(after, event.seq);
            onEvent(event);
          }
        }
        onState('The stream ended; reconnecting…');
      } catch (e) {
        if (signal.aborted) return;
        onState('Disconnected (' + e.message + '); reconnecting…');
      }
      await sleep(2000);
    }
  }

  async function webhooks(realm, rest) {
    if (rest) return deliveries(realm, rest);
    const base = '/admin/realms/' + enc(realm) + '/webhooks';
    const [{ webhooks: listed }, { organizations: orgs }] =
      await Promise.all([api('GET', base), api('GET', '/admin/realms/' + enc(realm) + '/organizations')]);
    const failure = h('div', { id: 'webhook-outcome', 'aria-live': 'polite' });
    const act = async (work, done) => {
      try {
        const answer = await work();
        say(done(answer));
        route();
      } catch (e) {
        problem(failure, e);
      }
    };
    const rows = listed.map((w) => h('tr', {},
      h('th', { scope: 'row' }, h('a', { href: '#/realms/' + enc(realm) + '/webhooks/' + enc(w.id) }, w.url)),
      h('td', {}, w.organization ? 'organization ' + w.organization : 'the whole realm'),
      h('td', {}, w.types.length + ' types'),
      h('td', {}, w.enabled
        ? (w.delivered.failingSince ? 'failing since ' + when(w.delivered.failingSince) : 'enabled')
        : 'disabled' + (w.disabledReason ? ': ' + w.disabledReason : '')),
      h('td', { class: 'num' }, String(w.delivered.through)),
      h('td', { class: 'actions' },
        h('button', { type: 'button', 'aria-label': 'Send a test to ' + w.url, onclick: () => act(() => api('POST', base + '/' + enc(w.id) + '/test'),
          (a) => a.status ? 'Test delivered: ' + a.status + ' in ' + a.latencyMs + ' ms.' : 'Test failed: ' + a.response) }, 'Send test'),
        h('button', { type: 'button', 'aria-label': (w.enabled ? 'Disable ' : 'Enable ') + w.url, onclick: () => act(() => api('PATCH', base + '/' + enc(w.id), { enabled: !w.enabled }),
          () => (w.enabled ? 'Disabled.' : 'Enabled.')) }, w.enabled ? 'Disable' : 'Enable'),
        confirmButton('Delete', 'Press again to delete', () => act(() => api('DELETE', base + '/' + enc(w.id)), () => 'Deleted.'), w.url))));
    const url = h('input', { id: 'webhook-url', type: 'url', required: true, placeholder: 'https://…', autocomplete: 'off' });
    const types = ['USER_CREATED', 'USER_UPDATED', 'USER_DELETED', 'GROUP_CREATED', 'GROUP_UPDATED', 'GROUP_DELETED',
      'MEMBER_JOINED', 'MEMBER_LEFT', 'ORGANIZATION_MEMBER_JOINED', 'ORGANIZATION_MEMBER_LEFT'];
    const boxes = types.map((type) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: type }), type));
    const created = h('div', { id: 'webhook-created', 'aria-live': 'polite' });
    const form = h('form', { id: 'create-webhook', class: 'card' },
      h('h2', {}, 'New subscription'),
      h('div', { class: 'row' },
        h('div', { class: 'field wide' }, h('label', { for: 'webhook-url' }, 'Endpoint URL'), url),
        scopeSelect('webhook-scope', orgs, 'Changes in')),
      h('fieldset', {}, h('legend', {}, 'Event types (none ticked: every type)'), h('div', { class: 'checks' }, boxes)),
      h('button', { type: 'submit' }, 'Subscribe'),
      created);
    onSubmit(form, async () => {
      const body = { url: url.value.trim() };
      const scope = form.querySelector('#webhook-scope').value;
      if (scope) body.organization = scope;
      const ticked = boxes.map((b) => b.querySelector('input')).filter((b) => b.checked).map((b) => b.value);
      if (ticked.length) body.types = ticked;
      try {
        const answer = await api('POST', base, body);
        shownOnce(created, 'The signing secret is shown this once: verify deliveries with it (Standard Webhooks).', [
          ['Signing secret', answer.secret, 'webhook-secret'],
        ], 'webhook-done');
      } catch (e) {
        problem(created, e);
      }
    });
    return {
      node: h('div', {},
        table(['Endpoint', 'Changes in', 'Types', 'State', 'Delivered through', ''], rows, 'No subscriptions.'),
        failure, form),
    };
  }

  async function deliveries(realm, id) {
    const base = '/admin/realms/' + enc(realm) + '/webhooks/' + enc(id);
    const load = () => Promise.all([api('GET', base), api('GET', base + '/deliveries')]);
    const show = ([w, log]) => [
      h('dl', { class: 'facts' },
        h('dt', {}, 'Endpoint'), h('dd', {}, w.url),
        h('dt', {}, 'State'), h('dd', {}, w.enabled ? 'enabled' : 'disabled' + (w.disabledReason ? ': ' + w.disabledReason : '')),
        h('dt', {}, 'Delivered through event'), h('dd', {}, String(w.delivered.through)),
        h('dt', {}, 'Failing since'), h('dd', {}, when(w.delivered.failingSince))),
      h('h2', {}, 'Delivery log'),
      table(['Time', 'Event', 'Status', 'Latency', 'Answer', 'Message id'], log.deliveries.map((a) => h('tr', {},
        h('td', {}, when(a.at)),
        h('td', { class: 'num' }, a.event ? String(a.event) : 'test'),
        h('td', { class: a.status && a.status < 300 ? 'ok' : 'bad' }, a.status ? String(a.status) : 'no answer'),
        h('td', { class: 'num' }, a.latencyMs + ' ms'),
        h('td', {}, h('code', {}, a.response || '')),
        h('td', {}, h('code', {}, a.messageId)))), 'No delivery attempts yet.'),
    ];
    const log = h('div', { id: 'delivery-log' }, show(await load()));
    return {
      node: h('div', {}, h('p', {}, h('a', { href: '#/realms/' + enc(realm) + '/webhooks' }, '← All subscriptions')), log),
      // The log is redrawn where it stands, every few seconds: focus stays where it is.
      start: () => {
        const timer = setInterval(async () => {
          try {
            log.replaceChildren(...show(await load()));
          } catch (_) {
            // The next refresh tries again; a refused token has signed the console out.
          }
        }, 5000);
        stops.push(() => clearInterval(timer));
      },
    };
  }

  async function requests(realm, _rest) {
    const params = new URLSearchParams(location.hash.split('?')[1] || '');
    const query = new URLSearchParams();
    if (params.get('status')) query.set('status', params.get('status'));
    if (params.get('organization')) query.set('organization', params.get('organization'));
    const base = '/admin/realms/' + enc(realm);
    const [answer, { organizations: orgs }] = await Promise.all([
      api('GET', base + '/requests?' + query), api('GET', base + '/organizations')]);
    const status = h('select', { id: 'requests-status' },
      [['', 'every failure'], ['4xx', '4xx: refused'], ['5xx', '5xx: failed']].map(([value, label]) =>
        h('option', { value, selected: params.get('status') === value || (!params.get('status') && !value) }, label)));
    const organization = h('select', { id: 'requests-organization' },
      h('option', { value: '' }, 'any scope'),
      orgs.map((o) => h('option', { value: o.alias, selected: params.get('organization') === o.alias }, 'organization ' + o.alias)));
    const filter = h('form', { class: 'row card', id: 'requests-filter' },
      h('div', { class: 'field' }, h('label', { for: 'requests-status' }, 'Status'), status),
      h('div', { class: 'field' }, h('label', { for: 'requests-organization' }, 'Scope'), organization),
      h('button', { type: 'submit' }, 'Show'));
    onSubmit(filter, async () => {
      const next = new URLSearchParams();
      if (status.value) next.set('status', status.value);
      if (organization.value) next.set('organization', organization.value);
      location.hash = '#/realms/' + enc(realm) + '/requests' + (next.toString() ? '?' + next : '');
    });
    const counts = (group) => Object.entries(answer.counts[group]).map(([name, c]) => h('tr', {},
      h('th', { scope: 'row' }, name),
      h('td', { class: 'num' }, String(c.requests)),
      h('td', { class: 'num' }, String(c.client_errors)),
      h('td', { class: 'num' }, String(c.server_errors))));
    const rows = answer.requests.map((r) => h('tr', {},
      h('td', {}, when(r.at)),
      h('td', {}, r.method + ' ' + r.path + (r.organization ? ' (organization ' + r.organization + ')' : '')),
      h('td', { class: 'bad' }, String(r.status)),
      h('td', {}, r.scimType || ''),
      h('td', {}, r.detail || '',
        r.body ? h('details', {}, h('summary', {}, 'Body as sent (secrets redacted)'), h('pre', {}, r.body)) : null),
      h('td', {}, r.identityProvider + ' · ' + (r.userAgent || 'no user agent')),
      h('td', {}, h('code', {}, r.requestId))));
    return {
      node: h('div', {},
        h('p', { class: 'hint' }, answer.note),
        filter,
        h('h2', {}, 'By identity provider'),
        table(['Identity provider', 'Requests', '4xx', '5xx'], counts('identityProviders'), 'No SCIM requests yet.'),
        h('h2', {}, 'Last failed requests'),
        table(['Time', 'Request', 'Status', 'scimType', 'Detail', 'Client', 'Request id'], rows, 'No failed requests.'),
        h('h2', {}, 'By user agent'),
        table(['User agent', 'Requests', '4xx', '5xx'], counts('userAgents'), 'No SCIM requests yet.')),
    };
  }

  function notFound(gen) {
    draw(gen, 'Not here', h('p', {}, 'Nothing at this address. ', h('a', { href: '#/realms' }, 'Back to the realms.')));
  }

  // ---- routing ----------------------------------------------------------------------

  async function route() {
    const hash = location.hash;
    for (const stop of stops.splice(0)) stop();
    const gen = ++generation;
    if (!token()) return signIn(gen);
    if (!hash.startsWith('#/') || hash === '#/sign-in') {
      location.replace('#/realms');
      return;
    }
    showNav();
    main.setAttribute('aria-busy', 'true');
    try {
      const decoded = (part) => {
        try {
          return decodeURIComponent(part);
        } catch (_) {
          return '';
        }
      };
      const parts = hash.slice(2).split('?')[0].split('/').map(decoded);
      // Realm names and ids as the server makes them: a segment like ".." would point the
      // page's calls at another resource than the one it names.
      const named = (part) => /^[A-Za-z0-9._-]{1,64}$/.test(part) && part !== '.' && part !== '..';
      if (parts.length === 1 && parts[0] === 'realms') await realmsPage(gen);
      else if (parts[0] === 'realms' && parts.length >= 2 && parts.length <= 4 && parts.slice(1).every(named)) {
        await realmPage(gen, parts[1], parts[2] || '', parts[3]);
      } else notFound(gen);
    } catch (e) {
      if (e.status === 401) return;
      draw(gen, e.status === 404 ? 'Not found' : 'Something went wrong',
        h('p', { class: 'error', role: 'alert' }, e.message),
        h('p', {}, h('a', { href: '#/realms' }, 'Back to the realms.')));
    } finally {
      if (gen === generation) main.removeAttribute('aria-busy');
    }
  }

  document.querySelector('.skip').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  window.addEventListener('hashchange', route);
  route();
})();
