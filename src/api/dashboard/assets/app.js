// smileyd dashboard: pages over the JSON API, signed in by the session
// cookie. No framework and no build step; text comes from messages.js.
// Everything shown is built with DOM calls (textContent), never HTML
// strings: agent names and notes come from outside.
'use strict';

(() => {
  const MESSAGES = window.SMILEYD_MESSAGES || { en: {} };
  const LANGS = Object.keys(MESSAGES);
  const LANG_KEY = 'smileyd.lang'; // a display preference; the token never leaves its cookie
  const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const DAY = 86400000;

  let lang = pickLanguage();
  let session = null;   // GET /api/v1/session
  let catalog = null;   // GET /api/v1/surveys
  let view = null;      // the page on screen: { id, onEvent }
  let renderCount = 0;

  // ---- text -------------------------------------------------------------

  function pickLanguage() {
    let saved = null;
    try { saved = localStorage.getItem(LANG_KEY); } catch (e) { /* storage off */ }
    if (saved && MESSAGES[saved]) return saved;
    for (const l of navigator.languages || [navigator.language || 'en']) {
      const base = String(l).toLowerCase().split('-')[0];
      if (MESSAGES[base]) return base;
    }
    return 'en';
  }

  // With vars.count, the plural form key.one / key.other (CLDR categories
  // of the language) is used when the catalogue has it.
  function t(key, vars) {
    const lookup = (k) => {
      const own = (MESSAGES[lang] || {})[k];
      return own !== undefined ? own : MESSAGES.en[k];
    };
    let s;
    if (vars && typeof vars.count === 'number') {
      s = lookup(`${key}.${new Intl.PluralRules(lang).select(vars.count)}`);
      if (s === undefined) s = lookup(`${key}.other`);
    }
    if (s === undefined) s = lookup(key);
    if (s === undefined) s = key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    }
    return s;
  }

  // Numbers and dates follow the browser's own locale when it is in the
  // language shown (en-GB: 6 Dec 2026, 14:05; en-US: Dec 6, 2026, 2:05 PM),
  // else the language's default.
  function formatLocale() {
    for (const l of navigator.languages || [navigator.language || 'en']) {
      if (String(l).toLowerCase().split('-')[0] === lang) {
        try { return Intl.getCanonicalLocales(l)[0]; } catch (e) { /* not a locale */ }
      }
    }
    return lang;
  }
  const numberFormat = (opts) => new Intl.NumberFormat(formatLocale(), opts);
  const fmtInt = (n) => numberFormat().format(n);
  const fmtPct = (v) => (v == null ? '–' : numberFormat({ style: 'percent', maximumFractionDigits: 1 }).format(v / 100));
  const fmtNps = (v) => (v == null ? '–' : numberFormat({ maximumFractionDigits: 1, signDisplay: 'exceptZero' }).format(v));
  const fmtFigure = (kind, v) => (kind === 'nps' ? fmtNps(v) : fmtPct(v));
  const fmtTime = (iso) => new Intl.DateTimeFormat(formatLocale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
  function fmtDuration(ms) {
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }
  function languageName(code) {
    try {
      const name = new Intl.DisplayNames([lang], { type: 'language' }).of(code);
      return name && name !== code ? `${name} (${code})` : code;
    } catch (e) {
      return code;
    }
  }

  // ---- DOM --------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    add(el, children);
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setAttrs(el, attrs);
    add(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.setAttribute('class', v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'value') el.value = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function add(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
  }

  // Replaces an element's children; null and false are left out.
  function put(el, ...children) {
    el.replaceChildren();
    add(el, children);
    return el;
  }

  const $ = (id) => document.getElementById(id);

  let idCount = 0;
  const uid = (p) => `${p}-${++idCount}`;

  // ---- API --------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, opts = {}) {
    const init = { method: opts.method || 'GET', headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (opts.json !== undefined) {
      init.body = JSON.stringify(opts.json);
      init.headers['Content-Type'] = 'application/json';
    } else if (opts.body !== undefined) {
      init.body = opts.body;
      init.headers['Content-Type'] = opts.type;
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', t('err.network'));
    }
    if (r.status === 204) return null;
    const body = (r.headers.get('content-type') || '').includes('json') ? await r.json().catch(() => null) : null;
    if (!r.ok) {
      const e = (body && body.error) || {};
      if (r.status === 401 && !opts.quiet) setTimeout(start, 0); // signed out meanwhile: ask again
      throw new ApiError(r.status, e.code || `http_${r.status}`, e.message || r.statusText);
    }
    return body;
  }

  function query(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v != null && v !== '') u.set(k, v);
    const s = u.toString();
    return s ? `?${s}` : '';
  }

  const encodePath = (s) => encodeURIComponent(s);

  // ---- surveys, windows, moods -------------------------------------------

  function currentSurvey() {
    const wanted = new URLSearchParams(location.search).get('survey');
    const found = catalog.items.find((s) => s.name === wanted);
    return found || catalog.items.find((s) => s.default) || catalog.items[0] || { name: catalog.default_survey, kind: 'smiley' };
  }

  function headline(kind, f) {
    if (!f) return null;
    return kind === 'smiley' ? f.happy_pct : kind === 'csat' ? f.csat_pct : f.nps;
  }

  // The face for a figure: smiley and CSAT 80 % or more happy, 60 % or more
  // neutral; NPS 30 or more happy, 0 or more neutral; below that sad.
  function moodOfFigure(kind, v) {
    if (v == null) return null;
    const [good, fair] = kind === 'nps' ? [30, 0] : [80, 60];
    return v >= good ? 'happy' : v >= fair ? 'neutral' : 'sad';
  }

  function moodOfScore(kind, score) {
    if (kind === 'smiley') return score >= 1 ? 'happy' : 'sad';
    if (kind === 'csat') return score >= 4 ? 'happy' : score === 3 ? 'neutral' : 'sad';
    return score >= 9 ? 'happy' : score >= 7 ? 'neutral' : 'sad';
  }

  // Highest score counted as unhappy: a sad smiley, CSAT 1-2, NPS detractors.
  const UNHAPPY_MAX = { smiley: 0, csat: 2, nps: 6 };

  function ratingLabel(m) {
    if (m.kind === 'smiley') return t(m.score >= 1 ? 'rating.happy' : 'rating.sad');
    return t(m.kind === 'csat' ? 'rating.csat' : 'rating.nps', { score: m.score });
  }

  // No figure: a dash in a table cell; nothing beside a big figure, which
  // shows its own dash.
  function face(mood, label, big) {
    if (!mood) return big ? null : h('span', { class: 'muted' }, '–');
    return svg('svg', { class: `face face-${mood}${big ? ' big' : ''}`, role: 'img', 'aria-label': label, focusable: 'false' },
      svg('title', {}, label),
      svg('use', { href: `#face-${mood}` }));
  }

  const moodLabel = (mood) => t(`mood.${mood}`);

  // Windows end now; "today" starts at local midnight.
  function windows() {
    const now = new Date();
    const midnight = new Date(now);
    midnight.setHours(0, 0, 0, 0);
    const back = (d, days) => new Date(d.getTime() - days * DAY);
    return {
      today: { from: midnight, to: now, prevFrom: back(midnight, 1), prevTo: back(now, 1) },
      '7d': { from: back(now, 7), to: now, prevFrom: back(now, 14), prevTo: back(now, 7) },
      '30d': { from: back(now, 30), to: now, prevFrom: back(now, 60), prevTo: back(now, 30) },
      '90d': { from: back(now, 90), to: now, prevFrom: back(now, 180), prevTo: back(now, 90) },
    };
  }
  const iso = (d) => d.toISOString();

  function chosenWindow() {
    const w = new URLSearchParams(location.search).get('window');
    return ['today', '7d', '30d', '90d'].includes(w) ? w : '30d';
  }

  // ---- navigation ---------------------------------------------------------

  function linkTo(path, params) {
    const keep = new URLSearchParams(location.search);
    const u = new URLSearchParams();
    if (keep.get('survey')) u.set('survey', keep.get('survey'));
    for (const [k, v] of Object.entries(params || {})) {
      if (v == null) u.delete(k);
      else u.set(k, v);
    }
    const s = u.toString();
    return s ? `${path}?${s}` : path;
  }

  function navigate(url, replace) {
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    render();
  }

  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[data-nav]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', () => render());

  const PAGES = [
    { re: /^\/$/, nav: 'overview', show: (b, v) => overviewPage(b, v) },
    { re: /^\/agents$/, nav: 'agents', show: (b, v) => leaguePage(b, v, 'agent') },
    { re: /^\/agents\/(.+)$/, nav: 'agents', show: (b, v, m) => memberPage(b, v, 'agent', decodeURIComponent(m[1])) },
    { re: /^\/queues$/, nav: 'queues', show: (b, v) => leaguePage(b, v, 'queue') },
    { re: /^\/queues\/(.+)$/, nav: 'queues', show: (b, v, m) => memberPage(b, v, 'queue', decodeURIComponent(m[1])) },
    { re: /^\/comments$/, nav: 'comments', show: (b, v) => commentsPage(b, v) },
    { re: /^\/prompts$/, nav: 'prompts', show: (b, v) => promptsPage(b, v), admin: true },
    { re: /^\/deliveries$/, nav: 'deliveries', show: (b, v) => deliveriesPage(b, v), admin: true },
  ];

  const NAV = [
    ['overview', '/'], ['agents', '/agents'], ['queues', '/queues'], ['comments', '/comments'],
    ['prompts', '/prompts', true], ['deliveries', '/deliveries', true],
  ];

  const isAdmin = () => session && session.scope === 'admin';

  function renderHeader(active) {
    const nav = $('nav');
    nav.replaceChildren();
    nav.setAttribute('aria-label', t('nav.label'));
    if (session && session.scope) {
      for (const [id, path, admin] of NAV) {
        if (admin && !isAdmin()) continue;
        nav.append(h('a', { href: linkTo(path), 'data-nav': true, 'aria-current': id === active ? 'page' : null, dataset: { page: id } }, t(`nav.${id}`)));
      }
    }
    const select = $('lang');
    select.replaceChildren(...LANGS.map((l) => h('option', { value: l, selected: l === lang }, MESSAGES[l]['lang.name'] || l)));
    select.value = lang;
    $('lang-label').textContent = t('lang.label');
    $('skip').textContent = t('skip');
    const who = $('who');
    who.textContent = '';
    if (session && session.scope) {
      who.textContent = session.via === 'loopback'
        ? t('who.loopback')
        : t('who.token', { name: session.name, scope: t(`scope.${session.scope}`) });
    }
    const out = $('signout');
    out.hidden = !(session && session.cookie);
    out.textContent = t('signout');
    updateLive();
  }

  $('lang').addEventListener('change', (e) => {
    lang = e.target.value;
    try { localStorage.setItem(LANG_KEY, lang); } catch (err) { /* storage off */ }
    render();
  });

  $('signout').addEventListener('click', async () => {
    try { await api('/api/v1/session', { method: 'DELETE', quiet: true }); } catch (e) { /* signed out anyway */ }
    stopLive();
    start();
  });

  // ---- live updates (SSE) -------------------------------------------------

  let source = null;
  let live = false;
  let retryTimer = null;

  function startLive() {
    if (source) return;
    source = new EventSource('/api/v1/events');
    source.onopen = () => { live = true; updateLive(); };
    source.onerror = () => {
      live = false;
      updateLive();
      // The browser retries by itself unless the server refused the stream.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        clearTimeout(retryTimer);
        retryTimer = setTimeout(startLive, 5000);
      }
    };
    for (const type of ['measurement', 'comment', 'comment_deleted', 'follow_up', 'follow_up_deleted']) {
      source.addEventListener(type, (e) => {
        let data = null;
        try { data = JSON.parse(e.data); } catch (err) { return; }
        if (view && view.onEvent) view.onEvent(data);
      });
    }
  }

  function stopLive() {
    clearTimeout(retryTimer);
    if (source) source.close();
    source = null;
    live = false;
    updateLive();
  }

  function updateLive() {
    const el = $('live');
    el.className = live ? 'live on' : 'live';
    el.dataset.state = live ? 'on' : 'off';
    el.textContent = live ? t('live.on') : t('live.off');
    el.title = live ? t('live.on.title') : t('live.off.title');
  }

  // ---- start and render ---------------------------------------------------

  async function start() {
    try {
      session = await api('/api/v1/session', { quiet: true });
    } catch (e) {
      session = null;
    }
    if (session && session.scope) {
      catalog = await api('/api/v1/surveys', { quiet: true }).catch(() => ({ default_survey: 'smiley', items: [] }));
    }
    if (session && session.scope) startLive();
    else stopLive();
    render();
  }

  async function render() {
    const main = $('main');
    const id = ++renderCount;
    redraws = [];
    document.body.removeAttribute('data-ready');
    view = { id };
    document.documentElement.lang = lang;
    if (!session || !session.scope) {
      renderHeader(null);
      document.title = `${t('signin.title')} · smileyd`;
      main.replaceChildren(signInPage());
      markReady('signin');
      return;
    }
    const path = location.pathname;
    let match = null;
    const page = PAGES.find((p) => (match = path.match(p.re)));
    renderHeader(page ? page.nav : null);
    const body = h('div', {});
    main.replaceChildren(body);
    if (!page) {
      body.append(h('h1', {}, t('notfound.title')), h('p', {}, h('a', { href: '/', 'data-nav': true }, t('notfound.back'))));
      markReady('notfound');
      return;
    }
    if (page.admin && !isAdmin()) {
      document.title = `${t(`nav.${page.nav}`)} · smileyd`;
      body.append(h('h1', {}, t(`nav.${page.nav}`)), h('p', { class: 'notice warn', role: 'alert' }, t('err.admin_only')));
      markReady(page.nav);
      return;
    }
    document.title = `${t(`nav.${page.nav}`)} · smileyd`;
    try {
      await page.show(body, view, match);
    } catch (e) {
      if (id !== renderCount) return;
      body.append(h('p', { class: 'notice warn', role: 'alert' }, t('err.generic', { message: e.message })));
    }
    if (id === renderCount) markReady(page.nav);
  }

  const stale = (v) => v !== view;

  // Drawings that depend on the page's width (the trend charts), redrawn
  // when the window is resized or a phone turned; emptied on each render.
  let redraws = [];
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => redraws.forEach((f) => f()), 150);
  });

  // The page has drawn its data: body[data-ready] for the tests, and a
  // performance mark for the speed measurements (bench/dashboard.sh).
  function markReady(id) {
    document.body.dataset.ready = id;
    if (performance.mark) performance.mark(`smileyd:ready:${id}`);
  }

  // ---- sign-in ------------------------------------------------------------

  function signInPage() {
    const wrap = h('section', { class: 'signin', 'aria-labelledby': 'signin-title' }, h('h1', { id: 'signin-title' }, t('signin.title')));
    if (session && !session.tokens_exist) {
      wrap.append(
        h('p', {}, t('signin.no_tokens')),
        h('pre', {}, 'smileyd --config /etc/smileyd/smileyd.toml token create --scope admin --name lead-anna'),
        h('p', { class: 'muted' }, t('signin.no_tokens.more')),
      );
      return wrap;
    }
    const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-help' });
    const status = h('p', { id: 'signin-status', role: 'alert' });
    const form = h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        status.textContent = '';
        try {
          await api('/api/v1/session', { method: 'POST', json: { token: input.value }, quiet: true });
          input.value = '';
          await start();
        } catch (err) {
          status.className = 'error';
          status.textContent = err.status === 401 ? t('signin.bad') : t('err.generic', { message: err.message });
        }
      },
    },
    h('label', { for: 'token' }, t('signin.token')),
    input,
    h('p', { id: 'token-help', class: 'muted' }, t('signin.help')),
    h('div', {}, h('button', { type: 'submit' }, t('signin.submit'))),
    status);
    wrap.append(h('p', {}, t('signin.intro')), form);
    return wrap;
  }

  // ---- shared pieces ------------------------------------------------------

  // Nothing (an empty fragment, which a DOM append leaves out) when there
  // is only one survey.
  function surveySwitch() {
    if (!catalog || catalog.items.length < 2) return document.createDocumentFragment();
    const cur = currentSurvey();
    return h('div', { class: 'controls' },
      h('div', { role: 'group', 'aria-label': t('survey.label') },
        h('span', { class: 'muted' }, `${t('survey.label')}: `),
        h('span', { class: 'seg' }, catalog.items.map((s) => h('a', {
          href: linkTo(location.pathname, { survey: s.name }),
          'data-nav': true,
          'aria-current': s.name === cur.name ? 'true' : null,
        }, `${s.name} (${t(`kind.${s.kind}`)})`)))));
  }

  function windowSelect() {
    const cur = chosenWindow();
    const id = uid('window');
    return h('label', { for: id }, t('window.label'),
      h('select', {
        id,
        onchange: (e) => navigate(linkTo(location.pathname, { ...Object.fromEntries(new URLSearchParams(location.search)), window: e.target.value }), true),
      }, ['today', '7d', '30d', '90d'].map((w) => h('option', { value: w, selected: w === cur }, t(`window.${w}`)))));
  }

  function csvLink(path, params, label) {
    return h('a', { href: path + query({ ...params, format: 'csv' }), download: true }, label || t('csv.download'));
  }

  function emptyRatings() {
    return h('div', { class: 'empty', role: 'note' },
      h('h2', {}, t('empty.ratings.title')),
      h('p', {}, t('empty.ratings.text')),
      h('pre', {}, 'sipp -sf tests/sipp/uac_press1.xml -m 1 -s smiley smileyd.example.net:5060'),
      h('p', { class: 'muted' }, t('empty.ratings.more')));
  }

  // A bar per bucket for the answers and a line for the scale's figure,
  // drawn at the width it is shown (in CSS pixels), so that its text stays
  // readable on a phone instead of shrinking with the picture.
  function trendChart(series, kind, width) {
    const W = Math.round(Math.max(280, width || 720));
    const H = 220;
    const pad = { l: 44, r: 44, t: 12, b: 28 };
    const items = series.items;
    const n = Math.max(items.length, 1);
    const bw = (W - pad.l - pad.r) / n;
    const maxTotal = Math.max(1, ...items.map((p) => p.total));
    const [lo, hi] = kind === 'nps' ? [-100, 100] : [0, 100];
    const x = (i) => pad.l + i * bw + bw / 2;
    const yFig = (v) => pad.t + (H - pad.t - pad.b) * (1 - (v - lo) / (hi - lo));
    const yCount = (c) => pad.t + (H - pad.t - pad.b) * (1 - c / maxTotal);
    const bucketFmt = new Intl.DateTimeFormat(formatLocale(), series.bucket === 'hour' ? { hour: '2-digit', minute: '2-digit' } : { month: 'short', day: 'numeric' });
    const label = (p) => bucketFmt.format(new Date(p.start));
    const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': uid('chart') });
    const titleId = g.getAttribute('aria-labelledby');
    const figures = items.map((p) => headline(kind, p));
    const known = figures.filter((v) => v != null);
    const summary = known.length
      ? t('chart.summary', { n: items.length, first: fmtFigure(kind, known[0]), last: fmtFigure(kind, known[known.length - 1]), answers: fmtInt(items.reduce((a, p) => a + p.total, 0)) })
      : t('chart.empty');
    g.append(svg('title', { id: titleId }, summary));
    for (const v of kind === 'nps' ? [-100, 0, 100] : [0, 50, 100]) {
      g.append(svg('line', { class: 'grid', x1: pad.l, x2: W - pad.r, y1: yFig(v), y2: yFig(v) }));
      g.append(svg('text', { x: pad.l - 6, y: yFig(v) + 4, 'text-anchor': 'end' }, fmtFigure(kind, v)));
    }
    g.append(svg('text', { x: W - pad.r + 6, y: yCount(maxTotal) + 4 }, fmtInt(maxTotal)));
    g.append(svg('text', { x: W - pad.r + 6, y: yCount(0) + 4 }, '0'));
    items.forEach((p, i) => {
      const y = yCount(p.total);
      g.append(svg('rect', { class: 'bar', x: x(i) - bw * 0.35, width: Math.max(1, bw * 0.7), y, height: H - pad.b - y }));
    });
    let d = '';
    items.forEach((p, i) => {
      const v = figures[i];
      if (v == null) return;
      d += `${d && figures[i - 1] != null ? 'L' : 'M'}${x(i).toFixed(1)} ${yFig(v).toFixed(1)}`;
      g.append(svg('circle', { class: 'dot', cx: x(i), cy: yFig(v), r: 2.5 }));
    });
    if (d) g.append(svg('path', { class: 'line', d }));
    const every = Math.max(1, Math.ceil(items.length / Math.max(2, Math.floor((W - pad.l - pad.r) / 80))));
    items.forEach((p, i) => {
      if (i % every === 0) g.append(svg('text', { x: x(i), y: H - 8, 'text-anchor': 'middle' }, label(p)));
    });
    g.append(svg('line', { class: 'axis', x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b }));
    const table = h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, t('chart.col.start')), h('th', { class: 'num' }, t(`figure.${kind}`)), h('th', { class: 'num' }, t('col.answers')))),
      h('tbody', {}, items.map((p, i) => h('tr', {}, h('td', {}, fmtTime(p.start)), h('td', { class: 'num' }, fmtFigure(kind, figures[i])), h('td', { class: 'num' }, fmtInt(p.total))))));
    return h('div', { class: 'chart' }, g,
      h('div', { class: 'legend', 'aria-hidden': 'true' }, h('span', { class: 'key-line' }, t(`figure.${kind}`)), h('span', { class: 'key-bar' }, t('col.answers'))),
      h('details', { class: 'data' }, h('summary', {}, t('chart.table')), h('div', { class: 'table-wrap' }, table)));
  }

  function trendSection(params, kind) {
    const wrap = h('section', { 'aria-labelledby': 'trend-title' });
    const holder = h('div', {});
    const id = uid('bucket');
    let bucket = 'day';
    let series = null;
    let drawnWidth = 0;
    // The chart's border and padding: 2 × (1 px + .5rem).
    const width = () => Math.max(0, holder.clientWidth - 18);
    const draw = () => {
      drawnWidth = width();
      holder.replaceChildren(trendChart(series, kind, drawnWidth),
        h('p', { class: 'downloads' }, csvLink('/api/v1/timeseries', { ...params, bucket, tz: TZ })));
    };
    const load = async () => {
      series = await api(`/api/v1/timeseries${query({ ...params, bucket, tz: TZ })}`);
      draw();
    };
    redraws.push(() => { if (series && Math.abs(width() - drawnWidth) > 8) draw(); });
    wrap.append(
      h('h2', { id: 'trend-title' }, t('trend.title')),
      h('div', { class: 'controls' }, h('label', { for: id }, t('trend.bucket'),
        h('select', { id, onchange: (e) => { bucket = e.target.value; load().catch(() => {}); } },
          ['hour', 'day', 'week'].map((b) => h('option', { value: b, selected: b === bucket }, t(`bucket.${b}`)))))),
      holder);
    return { el: wrap, load };
  }

  function answerItem(m, fresh) {
    const mood = moodOfScore(m.kind, m.score);
    return h('li', { class: fresh ? 'new' : null, dataset: { id: m.id } },
      face(mood, ratingLabel(m)),
      h('strong', {}, ratingLabel(m)),
      m.agent ? h('a', { href: linkTo(`/agents/${encodePath(m.agent)}`), 'data-nav': true }, m.agent) : h('span', { class: 'muted' }, t('agent.none')),
      m.queue ? h('span', { class: 'muted' }, m.queue) : null,
      m.comment ? h('span', {}, t('answer.has_comment')) : null,
      h('time', { class: 'when', datetime: m.created_at }, fmtTime(m.created_at)));
  }

  function commentItem(m, onChange) {
    const mood = moodOfScore(m.kind, m.score);
    const label = ratingLabel(m);
    const art = h('article', { class: `comment${m.follow_up ? ' done' : ''}`, dataset: { id: m.id }, 'aria-label': t('comment.aria', { rating: label, when: fmtTime(m.created_at) }) });
    const head = h('header', {},
      face(mood, label),
      h('strong', {}, label),
      m.agent ? h('a', { href: linkTo(`/agents/${encodePath(m.agent)}`), 'data-nav': true }, t('comment.agent', { agent: m.agent })) : h('span', { class: 'muted' }, t('agent.none')),
      m.queue ? h('a', { href: linkTo(`/queues/${encodePath(m.queue)}`), 'data-nav': true }, t('comment.queue', { queue: m.queue })) : null,
      m.comment ? h('span', { class: 'muted' }, fmtDuration(m.comment.duration_ms)) : null,
      h('time', { class: 'when', datetime: m.created_at }, fmtTime(m.created_at)));
    art.append(head);
    if (m.comment_url) {
      art.append(h('audio', { controls: true, preload: 'metadata', src: m.comment_url, 'aria-label': t('comment.audio', { agent: m.agent || t('agent.none'), when: fmtTime(m.created_at) }) }));
    } else {
      art.append(h('p', { class: 'muted' }, t('comment.gone')));
    }
    art.append(followSection(m, (updated) => {
      art.replaceWith(commentItem(updated, onChange));
      if (onChange) onChange(updated);
    }));
    return art;
  }

  function followSection(m, replaced) {
    const box = h('div', { class: 'follow' });
    const status = h('p', { role: 'status' });
    const path = `/api/v1/measurements/${m.id}/follow-up`;
    if (m.follow_up) {
      const f = m.follow_up;
      add(box, [
        h('p', { class: 'done-by' }, t('follow.done', { by: f.by || t('follow.by_loopback'), when: fmtTime(f.created_at) })),
        f.note ? h('blockquote', {}, f.note) : null,
        h('button', {
          type: 'button',
          class: 'secondary',
          onclick: async () => {
            try {
              await api(path, { method: 'DELETE' });
              replaced({ ...m, follow_up: null });
            } catch (e) {
              status.className = 'error';
              status.textContent = t('err.generic', { message: e.message });
            }
          },
        }, t('follow.reopen')),
        status]);
      return box;
    }
    const id = uid('note');
    const note = h('input', { id, type: 'text', maxlength: 500, autocomplete: 'off' });
    box.append(h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const f = await api(path, { method: 'PUT', json: { note: note.value } });
          replaced({ ...m, follow_up: f });
        } catch (err) {
          status.className = 'error';
          status.textContent = err.code === 'invalid_parameter' ? t('follow.bad_note') : t('err.generic', { message: err.message });
        }
      },
    }, h('label', { for: id }, t('follow.note'), note), h('button', { type: 'submit' }, t('follow.mark'))), status);
    return box;
  }

  // A list of measurements with "more" paging by cursor.
  function measurementList(params, item, empty) {
    const list = h('div', {});
    const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('list.more'));
    let cursor = null;
    let count = 0;
    const load = async () => {
      const page = await api(`/api/v1/measurements${query({ ...params, limit: 20, cursor })}`);
      for (const m of page.items) list.append(item(m));
      count += page.items.length;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!count) list.replaceChildren(empty());
    };
    more.addEventListener('click', () => load().catch(() => {}));
    return { el: h('div', {}, list, more), list, load, prepend: (m) => { if (!count) list.replaceChildren(); count += 1; list.prepend(item(m)); } };
  }

  function delta(kind, now, before, prevLabel) {
    if (now == null || before == null) return h('p', { class: 'sub' }, t('delta.none', { period: prevLabel }));
    const d = now - before;
    const pts = numberFormat({ maximumFractionDigits: 1, signDisplay: 'exceptZero' }).format(d);
    const cls = d > 0 ? 'delta up' : d < 0 ? 'delta down' : 'delta';
    return h('p', { class: 'sub' }, h('span', { class: cls }, t('delta.points', { pts })), ` ${t('delta.vs', { period: prevLabel })}`);
  }

  // ---- overview -----------------------------------------------------------

  async function overviewPage(body, v) {
    const survey = currentSurvey();
    const kind = survey.kind;
    const w = windows();
    body.append(h('h1', {}, t('overview.title')), surveySwitch());
    if (session.via === 'loopback') body.append(h('p', { class: 'notice' }, t('notice.loopback')));
    const cardsEl = h('div', { class: 'cards', 'aria-live': 'polite' });
    const latest = h('ul', { class: 'answers', 'aria-live': 'polite', id: 'latest' });
    const trend = trendSection({ survey: survey.name }, kind);
    const emptyEl = h('div', {});
    body.append(emptyEl, h('section', { 'aria-labelledby': 'figures-title' }, h('h2', { id: 'figures-title', class: 'sr-only' }, t('overview.figures')), cardsEl),
      trend.el,
      h('section', { 'aria-labelledby': 'latest-title' }, h('h2', { id: 'latest-title' }, t('latest.title')), latest,
        h('p', { class: 'downloads' }, csvLink('/api/v1/measurements', { survey: survey.name }, t('csv.all_answers')))));

    const loadFigures = async () => {
      const periods = ['today', '7d', '30d'];
      const sats = await Promise.all(periods.flatMap((p) => [
        api(`/api/v1/satisfaction${query({ survey: survey.name, from: iso(w[p].from), to: iso(w[p].to) })}`),
        api(`/api/v1/satisfaction${query({ survey: survey.name, from: iso(w[p].prevFrom), to: iso(w[p].prevTo) })}`),
      ]));
      const resp = await api(`/api/v1/responses${query({ survey: survey.name, from: iso(w['30d'].from), to: iso(w['30d'].to) })}`);
      if (stale(v)) return null;
      cardsEl.replaceChildren(...periods.map((p, i) => {
        const cur = sats[2 * i];
        const prev = sats[2 * i + 1];
        const value = headline(kind, cur);
        const mood = moodOfFigure(kind, value);
        return h('div', { class: 'card', dataset: { period: p } },
          h('h3', {}, t(`window.${p}`)),
          h('div', { class: 'figure-row' },
            face(mood, mood ? moodLabel(mood) : t('figure.none'), true),
            h('span', { class: 'figure', dataset: { value: value == null ? '' : String(value), from: iso(w[p].from), to: iso(w[p].to), survey: survey.name } }, fmtFigure(kind, value))),
          h('p', { class: 'sub' }, t(`figure.${kind}.of`, { n: fmtInt(cur.total), count: cur.total })),
          delta(kind, value, headline(kind, prev), t(`prev.${p}`)));
      }));
      const rate = resp.response_rate;
      cardsEl.append(h('section', { class: 'card', id: 'responses', 'aria-labelledby': 'resp-title', dataset: { from: iso(w['30d'].from), to: iso(w['30d'].to) } },
        h('h2', { id: 'resp-title' }, t('responses.title')),
        h('p', { class: 'figure', dataset: { value: rate == null ? '' : String(rate) } }, rate == null ? '–' : numberFormat({ style: 'percent', maximumFractionDigits: 1 }).format(rate)),
        h('p', { class: 'sub' }, t('responses.explain')),
        h('dl', { class: 'rates' }, ['offered', 'rated', 'no_input', 'hung_up', 'media_timeout', 'failed']
          .filter((k) => k in resp)
          .flatMap((k) => [h('dt', {}, t(`responses.${k}`)), h('dd', { dataset: { key: k } }, fmtInt(resp[k]))]))));
      return sats[4].total;
    };

    const loadLatest = async () => {
      const page = await api(`/api/v1/measurements${query({ survey: survey.name, limit: 10 })}`);
      if (stale(v)) return 0;
      latest.replaceChildren(...page.items.map((m) => answerItem(m, false)));
      if (!page.items.length) latest.append(h('li', { class: 'muted' }, t('latest.none')));
      return page.items.length;
    };

    const [total30, shown] = await Promise.all([loadFigures(), loadLatest(), trend.load()]);
    if (!total30 && !shown && !stale(v)) emptyEl.replaceChildren(emptyRatings());

    let pending = null;
    v.onEvent = (ev) => {
      const m = ev.measurement;
      if (ev.type !== 'measurement' || !m || m.survey !== survey.name) return;
      emptyEl.replaceChildren();
      if (latest.querySelector('li.muted')) latest.replaceChildren();
      if (!latest.querySelector(`[data-id="${m.id}"]`)) {
        latest.prepend(answerItem(m, true));
        while (latest.children.length > 10) latest.lastChild.remove();
      }
      clearTimeout(pending);
      pending = setTimeout(() => { loadFigures().catch(() => {}); trend.load().catch(() => {}); }, 400);
    };
  }

  // ---- agents and queues ----------------------------------------------------

  // The league of agents (or queues) over a window, each against everybody.
  async function leaguePage(body, v, what) {
    const survey = currentSurvey();
    const kind = survey.kind;
    const win = chosenWindow();
    const w = windows()[win];
    const plural = what === 'agent' ? 'agents' : 'queues';
    const search = new URLSearchParams(location.search);
    const min = search.has('min') ? Math.max(0, parseInt(search.get('min'), 10) || 0) : 5;
    const minId = uid('min');
    const window = { from: iso(w.from), to: iso(w.to) };
    const params = { survey: survey.name, ...window, min_responses: min };
    body.append(h('h1', {}, t(`${plural}.title`)), surveySwitch(),
      h('div', { class: 'controls' }, windowSelect(),
        h('label', { for: minId }, t('league.min'),
          h('input', {
            id: minId,
            type: 'number',
            min: 0,
            value: String(min),
            onchange: (e) => navigate(linkTo(location.pathname, { ...Object.fromEntries(search), min: e.target.value }), true),
          }))),
      h('p', { class: 'muted' }, t('league.explain', { min, count: Math.max(1, min) })));
    const [league, group] = await Promise.all([
      api(`/api/v1/${plural}${query(params)}`),
      api(`/api/v1/satisfaction${query({ survey: survey.name, ...window })}`),
    ]);
    if (stale(v)) return;
    const groupValue = headline(kind, group);
    const rows = league.items.map((it) => ({
      name: it[what],
      value: headline(kind, it),
      total: it.total,
      vs: headline(kind, it) == null || groupValue == null ? null : headline(kind, it) - groupValue,
    }));
    if (!rows.length) {
      body.append(h('div', { class: 'empty', role: 'note' }, group.total ? t('league.none', { min, count: min }) : t('empty.ratings.text')));
    }
    let sortKey = 'value';
    let dir = -1;
    const tbody = h('tbody', {});
    const heads = {};
    const fill = () => {
      const sorted = [...rows].sort((a, b) => {
        const x = a[sortKey];
        const y = b[sortKey];
        if (x == null && y == null) return 0;
        if (x == null) return 1;
        if (y == null) return -1;
        return (typeof x === 'string' ? x.localeCompare(y, lang) : x - y) * dir;
      });
      tbody.replaceChildren(
        h('tr', { class: 'group' },
          h('td', {}, face(moodOfFigure(kind, groupValue), moodOfFigure(kind, groupValue) ? moodLabel(moodOfFigure(kind, groupValue)) : t('figure.none'))),
          h('td', {}, t('league.everybody')),
          h('td', { class: 'num' }, fmtFigure(kind, groupValue)),
          h('td', { class: 'num' }, '–'),
          h('td', { class: 'num' }, fmtInt(group.total))),
        ...sorted.map((r) => {
          const mood = moodOfFigure(kind, r.value);
          const vs = r.vs == null ? '–' : t('delta.points', { pts: numberFormat({ maximumFractionDigits: 1, signDisplay: 'exceptZero' }).format(r.vs) });
          return h('tr', { dataset: { name: r.name == null ? '' : r.name } },
            h('td', {}, face(mood, mood ? moodLabel(mood) : t('figure.none'))),
            h('td', {}, r.name == null ? h('span', { class: 'muted' }, t(`${what}.none`))
              : h('a', { href: linkTo(`/${plural}/${encodePath(r.name)}`, { window: win }), 'data-nav': true }, r.name)),
            h('td', { class: 'num', dataset: { value: r.value == null ? '' : String(r.value) } }, fmtFigure(kind, r.value)),
            h('td', { class: `num ${r.vs > 0 ? 'delta up' : r.vs < 0 ? 'delta down' : ''}` }, vs),
            h('td', { class: 'num' }, fmtInt(r.total)));
        }));
      for (const [k, th] of Object.entries(heads)) {
        th.setAttribute('aria-sort', k === sortKey ? (dir > 0 ? 'ascending' : 'descending') : 'none');
      }
    };
    const head = (key, label, num) => {
      const th = h('th', { class: num ? 'num' : null, scope: 'col' },
        h('button', {
          type: 'button',
          class: 'sort',
          onclick: () => {
            dir = sortKey === key ? -dir : key === 'name' ? 1 : -1;
            sortKey = key;
            fill();
          },
        }, label));
      heads[key] = th;
      return th;
    };
    const table = h('table', { id: 'league' },
      h('caption', { class: 'sr-only' }, t(`${plural}.caption`, { window: t(`window.${win}`) })),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('col.face'))),
        head('name', t(`col.${what}`)),
        head('value', t(`figure.${kind}`), true),
        head('vs', t('col.vs_group'), true),
        head('total', t('col.answers'), true))),
      tbody);
    fill();
    body.append(h('div', { class: 'table-wrap' }, table),
      h('p', { class: 'downloads' }, csvLink(`/api/v1/${plural}`, params)));
  }

  // One agent's (or queue's) figures, trend and comments.
  async function memberPage(body, v, what, name) {
    const survey = currentSurvey();
    const kind = survey.kind;
    const win = chosenWindow();
    const w = windows()[win];
    const plural = what === 'agent' ? 'agents' : 'queues';
    const filter = { survey: survey.name, [what]: name };
    const window = { from: iso(w.from), to: iso(w.to) };
    body.append(
      h('p', {}, h('a', { href: linkTo(`/${plural}`, { window: win }), 'data-nav': true }, t(`${plural}.back`))),
      h('h1', {}, t(`${what}.title`, { name })),
      surveySwitch(),
      h('div', { class: 'controls' }, windowSelect()));
    const [sat, resp] = await Promise.all([
      api(`/api/v1/satisfaction${query({ ...filter, ...window })}`),
      api(`/api/v1/responses${query({ ...filter, ...window })}`),
    ]);
    if (stale(v)) return;
    const value = headline(kind, sat);
    // /satisfaction with agent= carries the group; with queue= it does not.
    const group = sat.group || await api(`/api/v1/satisfaction${query({ survey: survey.name, ...window })}`);
    const groupValue = headline(kind, group);
    const mood = moodOfFigure(kind, value);
    body.append(h('div', { class: 'cards' },
      h('div', { class: 'card' },
        h('h3', {}, t(`window.${win}`)),
        h('div', { class: 'figure-row' }, face(mood, mood ? moodLabel(mood) : t('figure.none'), true),
          h('span', { class: 'figure', dataset: { value: value == null ? '' : String(value) } }, fmtFigure(kind, value))),
        h('p', { class: 'sub' }, t(`figure.${kind}.of`, { n: fmtInt(sat.total), count: sat.total })),
        delta(kind, value, groupValue, t('league.everybody'))),
      h('div', { class: 'card' },
        h('h3', {}, t('responses.title')),
        h('p', { class: 'figure' }, resp.response_rate == null ? '–' : numberFormat({ style: 'percent', maximumFractionDigits: 1 }).format(resp.response_rate)),
        h('p', { class: 'sub' }, t('responses.of', { rated: fmtInt(resp.rated), offered: fmtInt(resp.offered), count: resp.offered })))));
    const trend = trendSection(filter, kind);
    body.append(trend.el);
    const comments = measurementList({ ...filter, has_comment: true }, (m) => commentItem(m), () => h('p', { class: 'muted' }, t('comments.none.member')));
    body.append(h('section', { 'aria-labelledby': 'member-comments' }, h('h2', { id: 'member-comments' }, t('comments.title')), comments.el,
      h('p', { class: 'downloads' }, csvLink('/api/v1/measurements', filter, t('csv.all_answers')))));
    await Promise.all([trend.load(), comments.load()]);
    v.onEvent = (ev) => {
      const m = ev.measurement;
      if (!m || m[what] !== name || m.survey !== survey.name) return;
      if (ev.type === 'comment' && m.comment_url && !comments.list.querySelector(`[data-id="${m.id}"]`)) comments.prepend(m);
    };
  }

  // ---- comments inbox -------------------------------------------------------

  function noComments(name) {
    return h('div', { class: 'empty', role: 'note' },
      h('h2', {}, t('comments.empty.title')),
      h('p', {}, t('comments.empty.text', { survey: name })),
      h('pre', {}, `[surveys.${name}]\ncomment = "on_unhappy"`),
      h('p', { class: 'muted' }, t('comments.empty.more')));
  }

  async function commentsPage(body, v) {
    const survey = currentSurvey();
    const kind = survey.kind;
    const search = new URLSearchParams(location.search);
    const unhappy = search.get('all') !== '1';
    const open = search.get('done') !== '1';
    const filter = {
      survey: survey.name,
      has_comment: true,
      score_max: unhappy ? UNHAPPY_MAX[kind] : null,
      followed_up: open ? false : null,
    };
    const toggle = (key, on, label) => {
      const id = uid(key);
      return h('label', { class: 'check', for: id },
        h('input', {
          id,
          type: 'checkbox',
          checked: on,
          onchange: (e) => navigate(linkTo(location.pathname, { ...Object.fromEntries(search), [key]: e.target.checked ? null : '1' }), true),
        }), label);
    };
    body.append(h('h1', {}, t('comments.title')), surveySwitch(),
      h('div', { class: 'controls' }, toggle('all', unhappy, t('comments.only_unhappy')), toggle('done', open, t('comments.only_open'))),
      h('p', { class: 'muted' }, t('comments.explain')));
    const list = measurementList(filter, (m) => commentItem(m), () => h('p', { class: 'empty' }, open ? t('comments.none.open') : t('comments.none')));
    body.append(list.el, h('p', { class: 'downloads' }, csvLink('/api/v1/measurements', filter)));
    await list.load();
    // Nothing listed: if the survey has no comment at all, say how callers
    // get to leave one instead of "nothing waiting".
    if (!list.list.querySelector('article') && (unhappy || open) && !stale(v)) {
      const any = await api(`/api/v1/measurements${query({ survey: survey.name, has_comment: true, limit: 1 })}`);
      if (!any.items.length && !stale(v)) list.list.replaceChildren(noComments(survey.name));
    }
    v.onEvent = (ev) => {
      const m = ev.measurement;
      if (ev.type !== 'comment' || !m || m.survey !== survey.name || !m.comment_url) return;
      if (unhappy && m.score > UNHAPPY_MAX[kind]) return;
      if (!list.list.querySelector(`[data-id="${m.id}"]`)) list.prepend(m);
    };
  }

  // ---- prompts (admin) ------------------------------------------------------

  const PROMPT_NAMES = ['survey', 'invalid', 'thanks', 'goodbye', 'comment', 'beep'];

  // The error in words, with the server's detail below for whoever asks.
  function promptError(e) {
    const friendly = promptErrorText(e);
    return [friendly, e.code === 'invalid_audio' ? h('small', { class: 'detail' }, t('prompts.err.detail', { message: e.message })) : null];
  }

  function promptErrorText(e) {
    switch (e.code) {
      case 'invalid_audio': return t('prompts.err.invalid_audio');
      case 'payload_too_large': return t('prompts.err.too_large');
      case 'prompt_too_long': return t('prompts.err.too_long');
      case 'insufficient_scope':
      case 'no_tokens': return t('err.admin_only');
      case 'invalid_parameter': return t('prompts.err.place', { message: e.message });
      default: return t('err.generic', { message: e.message });
    }
  }

  async function promptsPage(body, v) {
    body.append(h('h1', {}, t('prompts.title')), h('p', {}, t('prompts.explain')));
    const status = h('p', { id: 'prompts-status', role: 'status', 'aria-live': 'polite' });
    const holder = h('div', {});
    const upload = async (url, file, rowStatus, what) => {
      rowStatus.className = '';
      rowStatus.textContent = '';
      status.className = '';
      status.textContent = '';
      if (!file) {
        rowStatus.className = 'error';
        rowStatus.textContent = t('prompts.pick');
        return;
      }
      rowStatus.textContent = t('prompts.uploading');
      try {
        await api(url, { method: 'PUT', body: file, type: 'audio/wav' });
        status.className = 'ok';
        status.textContent = t('prompts.replaced', { what });
        await load();
      } catch (e) {
        rowStatus.className = 'error';
        put(rowStatus, promptError(e));
      }
    };
    let shown = new URLSearchParams(location.search).get('language');
    const langSelect = h('select', { id: uid('plang') });
    langSelect.addEventListener('change', () => {
      shown = langSelect.value;
      navigate(linkTo(location.pathname, { language: shown }), true);
    });
    const order = (p) => PROMPT_NAMES.indexOf(p.name);
    const load = async () => {
      const { items } = await api('/api/v1/prompts');
      if (stale(v)) return;
      const byLang = new Map();
      for (const p of items) {
        if (!byLang.has(p.language)) byLang.set(p.language, []);
        byLang.get(p.language).push(p);
      }
      if (!shown || (shown !== 'all' && !byLang.has(shown))) shown = byLang.has(lang) ? lang : 'en';
      put(langSelect,
        h('option', { value: 'all', selected: shown === 'all' }, t('prompts.all_languages')),
        [...byLang.keys()].map((l) => h('option', { value: l, selected: l === shown }, languageName(l))));
      for (const list of byLang.values()) {
        list.sort((a, b) => (a.survey || '').localeCompare(b.survey || '') || order(a) - order(b));
      }
      holder.replaceChildren(...[...byLang].filter(([language]) => shown === 'all' || language === shown).map(([language, list]) => h('section', { 'aria-label': languageName(language) },
        h('h2', {}, languageName(language)),
        h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, t('prompts.col.prompt')),
            h('th', { scope: 'col' }, t('prompts.col.for')),
            h('th', { scope: 'col' }, t('prompts.col.source')),
            h('th', { scope: 'col', class: 'num' }, t('prompts.col.length')),
            h('th', { scope: 'col' }, t('prompts.col.listen')),
            h('th', { scope: 'col' }, t('prompts.col.change')))),
          h('tbody', {}, list.map((p) => {
            const what = `${p.language}/${p.survey ? `${p.survey}/` : ''}${p.name}`;
            const fileId = uid('file');
            const file = h('input', { id: fileId, type: 'file', accept: '.wav,audio/wav,audio/x-wav' });
            const rowStatus = h('div', { role: 'alert', class: '' });
            return h('tr', { dataset: { prompt: what, source: p.source, duration: String(p.duration_ms) } },
              h('th', { scope: 'row' }, t(`prompt.${p.name}`)),
              h('td', { 'data-label': t('prompts.col.for') }, p.survey ? p.survey : t('prompts.shared')),
              h('td', { 'data-label': t('prompts.col.source') }, t(`prompts.source.${p.source}`)),
              h('td', { class: 'num', 'data-label': t('prompts.col.length') }, numberFormat({ maximumFractionDigits: 1 }).format(p.duration_ms / 1000) + ' s'),
              h('td', {}, h('audio', { controls: true, preload: 'none', src: p.url, 'aria-label': t('prompts.listen', { what }) })),
              h('td', {},
                h('div', { class: 'prompt-upload' },
                  h('label', { for: fileId, class: 'sr-only' }, t('prompts.file_for', { what })),
                  file,
                  h('button', { type: 'button', onclick: () => upload(p.url, file.files[0], rowStatus, what) }, t('prompts.upload')),
                  p.source === 'custom' ? h('button', {
                    type: 'button',
                    class: 'secondary',
                    onclick: async () => {
                      try {
                        await api(p.url, { method: 'DELETE' });
                        status.className = 'ok';
                        status.textContent = t('prompts.reverted', { what });
                        await load();
                      } catch (e) {
                        rowStatus.className = 'error';
                        put(rowStatus, promptError(e));
                      }
                    },
                  }, t('prompts.revert')) : null),
                rowStatus));
          })))))));
    };
    // A prompt for a place that has none yet (a new language or survey).
    const ids = { lang: uid('nl'), survey: uid('ns'), name: uid('nn'), file: uid('nf') };
    const newStatus = h('div', { role: 'alert' });
    const fields = {
      lang: h('input', { id: ids.lang, type: 'text', required: true, size: 8, placeholder: 'sv' }),
      survey: h('input', { id: ids.survey, type: 'text', size: 12 }),
      name: h('select', { id: ids.name }, PROMPT_NAMES.map((n) => h('option', { value: n }, t(`prompt.${n}`)))),
      file: h('input', { id: ids.file, type: 'file', accept: '.wav,audio/wav,audio/x-wav', required: true }),
    };
    const newForm = h('form', {
      class: 'new-prompt',
      onsubmit: (e) => {
        e.preventDefault();
        const lang = fields.lang.value.trim();
        const srv = fields.survey.value.trim();
        const what = `${lang}/${srv ? `${srv}/` : ''}${fields.name.value}`;
        upload(`/api/v1/prompts/${encodePath(lang)}/${srv ? `${encodePath(srv)}/` : ''}${fields.name.value}`, fields.file.files[0], newStatus, what);
      },
    },
    h('label', { for: ids.lang }, t('prompts.new.lang'), fields.lang),
    h('label', { for: ids.survey }, t('prompts.new.survey'), fields.survey),
    h('label', { for: ids.name }, t('prompts.new.name'), fields.name),
    h('label', { for: ids.file }, t('prompts.new.file'), fields.file),
    h('button', { type: 'submit' }, t('prompts.upload')));
    body.append(h('div', { class: 'controls' }, h('label', { for: langSelect.id }, t('prompts.language'), langSelect)),
      status, holder, h('section', { 'aria-labelledby': 'new-prompt' }, h('h2', { id: 'new-prompt' }, t('prompts.new.title')), h('p', { class: 'muted' }, t('prompts.new.explain')), newForm, newStatus));
    await load();
  }

  // ---- webhook deliveries (admin) ---------------------------------------------

  async function deliveriesPage(body, v) {
    body.append(h('h1', {}, t('deliveries.title')), h('p', {}, t('deliveries.explain')));
    const status = h('p', { role: 'status', 'aria-live': 'polite' });
    const holder = h('div', {});
    body.append(status, holder);
    const load = async () => {
      const [failed, pending, hooks] = await Promise.all([
        api('/api/v1/webhooks/deliveries?status=failed&limit=100'),
        api('/api/v1/webhooks/deliveries?status=pending&limit=100'),
        api('/api/v1/webhooks'),
      ]);
      if (stale(v)) return;
      const section = (key, list) => h('section', { 'aria-labelledby': `d-${key}` },
        h('h2', { id: `d-${key}` }, t(`deliveries.${key}`, { n: fmtInt(list.items.length) })),
        list.items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
          h('thead', {}, h('tr', {},
            ['event', 'receiver', 'attempts', 'last', 'next', 'action'].map((c) => h('th', { scope: 'col' }, t(`deliveries.col.${c}`))))),
          h('tbody', {}, list.items.map((d) => h('tr', { dataset: { event: String(d.event_id) } },
            h('td', { 'data-label': t('deliveries.col.event') }, `${t(`event.${d.event_type}`)} #${d.event_id}`),
            h('td', { 'data-label': t('deliveries.col.receiver') }, d.url),
            h('td', { class: 'num', 'data-label': t('deliveries.col.attempts') }, fmtInt(d.attempts)),
            h('td', { 'data-label': t('deliveries.col.last') }, d.last_status ? `HTTP ${d.last_status}` : (d.last_error || '–')),
            h('td', { 'data-label': t('deliveries.col.next') }, d.next_attempt_at ? fmtTime(d.next_attempt_at) : '–'),
            h('td', {}, h('button', {
              type: 'button',
              class: 'secondary',
              onclick: async () => {
                try {
                  await api(`/api/v1/webhooks/deliveries/${d.webhook_id}/${d.event_id}/retry`, { method: 'POST' });
                  status.className = 'ok';
                  status.textContent = t('deliveries.retried', { id: d.event_id });
                  await load();
                } catch (e) {
                  status.className = 'error';
                  status.textContent = t('err.generic', { message: e.message });
                }
              },
            }, t('deliveries.retry')))))))) : h('p', { class: 'muted' }, t(`deliveries.none.${key}`)));
      put(holder,
        hooks.items.length ? null : h('div', { class: 'empty', role: 'note' }, t('deliveries.no_hooks')),
        section('failed', failed), section('pending', pending));
    };
    await load();
  }

  start();
})();
