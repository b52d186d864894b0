// End-to-end test of the dashboard: Debian's Chromium driven by
// playwright-core against a running smileyd that real calls (sipp) have
// fed. Run by .ci/dashboard.sh, which starts the daemon, creates the tokens
// and places the first calls; this script places more calls itself
// (call.sh, listen.py) where a check needs a call at a given moment.
//
// Environment: SMILEYD_URL, SMILEYD_SIP, SMILEYD_ADMIN_TOKEN (named
// lead-admin), SMILEYD_READ_TOKEN; SHOTS_DIR: where to save screenshots of
// every page (none when empty); SMILEYD_RESTART: a command that restarts
// the daemon (then the live indicator's drop and recovery is checked);
// CHROMIUM (default /usr/bin/chromium).
//
// Prints PASS:/FAIL: lines; exits 1 at the first failure.

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const BASE = required('SMILEYD_URL').replace(/\/$/, '');
const SIP = required('SMILEYD_SIP');
const ADMIN = required('SMILEYD_ADMIN_TOKEN');
const READ = required('SMILEYD_READ_TOKEN');
const SHOTS = process.env.SHOTS_DIR || '';
const RESTART = process.env.SMILEYD_RESTART || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// As this machine's notes prescribe: no sandbox (root), no GPU, and none of
// Chromium's own calls home, which a closed network refuses.
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio',
];
const AGENT_SAD = process.env.E2E_SAD_AGENT || 'e2e-comment-sad';
const AGENT_HAPPY = process.env.E2E_HAPPY_AGENT || 'e2e-comment-happy';

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`e2e.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

class Failure extends Error {}
function must(ok, message) {
  if (!ok) throw new Failure(message);
}
let passed = 0;
function pass(message) {
  passed += 1;
  console.log(`PASS: dashboard: ${message}`);
}

async function apiGet(path, token = ADMIN) {
  const r = await fetch(BASE + path, { headers: { Authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const call = (kind, agent, base) => run('bash', [join(HERE, 'call.sh'), SIP, kind, agent, String(base)]);

async function listen() {
  const r = await run('python3', [join(HERE, 'listen.py'), SIP]);
  must(r.code === 0, `listen.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const ready = (page, id) => page.waitForSelector(`body[data-ready="${id}"]`, { timeout: 20000 });

async function shot(page, name, fullPage = false) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `dashboard-${name}.png`), fullPage });
}

// A 1.5 s, 1 kHz tone as 16 kHz stereo 16-bit WAV: the daemon converts it
// to 8 kHz mono on upload.
function toneWav() {
  const rate = 16000;
  const frames = rate * 1.5;
  const data = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(16000 * Math.sin((2 * Math.PI * 1000 * i) / rate));
    data.writeInt16LE(v, i * 4);
    data.writeInt16LE(v, i * 4 + 2);
  }
  const head = Buffer.alloc(44);
  head.write('RIFF', 0);
  head.writeUInt32LE(36 + data.length, 4);
  head.write('WAVEfmt ', 8);
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20);
  head.writeUInt16LE(2, 22);
  head.writeUInt32LE(rate, 24);
  head.writeUInt32LE(rate * 4, 28);
  head.writeUInt16LE(4, 32);
  head.writeUInt16LE(16, 34);
  head.write('data', 36);
  head.writeUInt32LE(data.length, 40);
  return Buffer.concat([head, data]);
}

async function commentOf(agent) {
  for (let i = 0; i < 50; i++) {
    const { body } = await apiGet(`/api/v1/measurements?survey=comment&agent=${encodeURIComponent(agent)}`);
    const m = body && body.items && body.items.find((x) => x.comment_url);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Failure(`no comment from ${agent} in the API`);
}

async function signIn(context, token) {
  const page = await context.newPage();
  await page.goto(`${BASE}/`);
  await ready(page, 'signin');
  await page.fill('#token', token);
  await page.click('form button[type="submit"]');
  await ready(page, 'overview');
  return page;
}

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const problems = [];
  const watch = (page) => {
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) problems.push(m.text());
    });
  };
  try {
    const admin = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US', timezoneId: 'Europe/Stockholm' });
    const page = await admin.newPage();
    watch(page);

    // Sign in. The first load also shows how the page and its files are served.
    const served = [];
    const onResponse = (r) => served.push(r);
    page.on('response', onResponse);
    await page.goto(`${BASE}/`);
    await ready(page, 'signin');
    page.off('response', onResponse);
    const html = served.find((r) => new URL(r.url()).pathname === '/');
    const csp = (await html.allHeaders())['content-security-policy'] || '';
    must(/script-src 'self'(;|$)/.test(csp) && !csp.includes('unsafe-'), `the page's Content-Security-Policy is "${csp}"`);
    must((await html.allHeaders()).etag, 'the page has no ETag');
    const assets = served.filter((r) => new URL(r.url()).pathname.startsWith('/assets/'));
    must(assets.length >= 4, `the page loaded ${assets.length} files from /assets/`);
    for (const a of assets) {
      const hd = await a.allHeaders();
      must(/\/assets\/[a-z]+\.[0-9a-f]{10}\.[a-z]+$/.test(a.url()), `${a.url()} is not named by its hash`);
      must(/immutable/.test(hd['cache-control'] || ''), `${a.url()} is served with Cache-Control "${hd['cache-control']}"`);
      must(/^(br|gzip)$/.test(hd['content-encoding'] || '') || !/(javascript|css|svg)/.test(hd['content-type']), `${a.url()} is not compressed`);
    }
    const bytes = await page.evaluate(() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
      .filter((e) => { const u = new URL(e.name); return u.pathname === '/' || u.pathname.startsWith('/assets/'); })
      .reduce((a, e) => a + e.encodedBodySize, 0));
    must(bytes > 0 && bytes < 300 * 1024, `the page and its files are ${bytes} bytes compressed`);
    pass(`the page carries a strict CSP and an ETag; its ${assets.length} files have hashed names, are cached for good and come compressed: ${(bytes / 1024).toFixed(1)} KB in all`);
    await shot(page, 'signin');
    await page.fill('#token', 'smileyd_0000');
    await page.click('form button[type="submit"]');
    await page.waitForSelector('#signin-status.error');
    await page.fill('#token', ADMIN);
    await page.click('form button[type="submit"]');
    await ready(page, 'overview');
    const cookie = (await admin.cookies()).find((c) => c.name === 'smileyd_token');
    must(cookie && cookie.value === ADMIN, 'no smileyd_token cookie after signing in');
    must(cookie.httpOnly && cookie.sameSite === 'Strict', `cookie not HttpOnly/SameSite=Strict: ${JSON.stringify(cookie)}`);
    const visible = await page.evaluate(() => document.cookie + JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    must(!visible.includes(ADMIN.slice(10)), 'the token is readable by the page');
    must((await page.textContent('#who')).includes('lead-admin'), 'the header does not name the signed-in token');
    pass('a wrong token is refused; signing in keeps the token in an HttpOnly, SameSite=Strict cookie the page cannot read');

    // The overview's figure is the API's.
    const fig = await page.locator('.card[data-period="30d"] .figure').evaluate((e) => ({ ...e.dataset, text: e.textContent }));
    const sat = await apiGet(`/api/v1/satisfaction?survey=${fig.survey}&from=${encodeURIComponent(fig.from)}&to=${encodeURIComponent(fig.to)}`);
    must(sat.status === 200 && sat.body.total > 0, `no ratings for the overview's window: ${JSON.stringify(sat.body)}`);
    must(Number(fig.value) === sat.body.happy_pct, `overview shows ${fig.value}, the API says ${sat.body.happy_pct}`);
    const shown = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 }).format(sat.body.happy_pct / 100);
    must(fig.text === shown, `overview reads "${fig.text}", expected "${shown}"`);
    const resp = await apiGet(`/api/v1/responses?survey=${fig.survey}&from=${encodeURIComponent(fig.from)}&to=${encodeURIComponent(fig.to)}`);
    const offered = await page.textContent('#responses dd[data-key="offered"]');
    must(offered === String(resp.body.offered), `response card says ${offered} offered, the API ${resp.body.offered}`);
    pass(`the overview's 30-day figure (${fig.text} of ${sat.body.total}) and response counts equal the API's`);
    await shot(page, 'overview', true);

    // A new call's rating appears without a reload.
    await page.waitForSelector('#live[data-state="on"]', { timeout: 15000 });
    await page.evaluate(() => { window.e2eNoReload = true; });
    const placed = call('press2', 'e2e-live-agent', 33000);
    await page.waitForSelector('#latest li:has-text("e2e-live-agent")', { timeout: 60000 });
    must(await page.evaluate(() => window.e2eNoReload === true), 'the page reloaded');
    const done = await placed;
    must(done.code === 0, `the live call failed: ${done.stderr}`);
    pass('a new call\'s rating appears on the open overview without a reload, the live indicator on');

    // An agent's page lists their comment; its audio loads, plays and seeks.
    const sad = await commentOf(AGENT_SAD);
    await page.goto(`${BASE}/agents/${encodeURIComponent(AGENT_SAD)}?survey=comment`);
    await ready(page, 'agents');
    const audio = page.locator(`article.comment[data-id="${sad.id}"] audio`);
    await audio.waitFor();
    const duration = await audio.evaluate((a) => new Promise((resolve, reject) => {
      if (a.readyState >= 1 && Number.isFinite(a.duration)) return resolve(a.duration);
      a.addEventListener('loadedmetadata', () => resolve(a.duration), { once: true });
      a.addEventListener('error', () => reject(new Error(`audio error ${a.error && a.error.code}`)), { once: true });
      a.load();
    }));
    const want = sad.comment.duration_ms / 1000;
    must(Math.abs(duration - want) < 0.1, `audio element says ${duration} s, the comment is ${want} s`);
    await audio.evaluate((a) => a.play());
    await page.waitForFunction((id) => {
      const a = document.querySelector(`article.comment[data-id="${id}"] audio`);
      return a && !a.paused && a.currentTime > 0.5;
    }, sad.id, { timeout: 15000 });
    const seeked = await audio.evaluate((a) => new Promise((resolve) => {
      a.addEventListener('seeked', () => resolve(a.currentTime), { once: true });
      a.currentTime = a.duration - 1;
    }));
    must(seeked > want - 1.5, `seeking went to ${seeked} s`);
    await audio.evaluate((a) => a.pause());
    pass(`agent ${AGENT_SAD}'s page lists the comment; the audio loads (${duration.toFixed(2)} s, as stored), plays and seeks`);
    await shot(page, 'agent', true);

    // The league tables.
    await page.goto(`${BASE}/agents?min=1`);
    await ready(page, 'agents');
    const agents = await apiGet(`/api/v1/agents?survey=smiley&min_responses=1&from=${encodeURIComponent(new Date(Date.now() - 30 * 86400000).toISOString())}`);
    const rows = await page.locator('#league tbody tr[data-name]').count();
    must(rows === agents.body.items.length && rows >= 2, `the league lists ${rows} agents, the API ${agents.body.items.length}`);
    const names = () => page.locator('#league tbody tr[data-name]').evaluateAll((trs) => trs.map((tr) => tr.dataset.name));
    await page.locator('#league thead button', { hasText: 'Agent' }).click();
    const byName = await names();
    must(JSON.stringify(byName) === JSON.stringify([...byName].sort((a, b) => a.localeCompare(b, 'en'))), `sorted by name the league reads ${byName}`);
    must((await page.locator('#league thead th[aria-sort="ascending"]').textContent()).includes('Agent'), 'the name column is not marked as sorted');
    await page.locator('#league thead button', { hasText: 'Agent' }).click();
    must(JSON.stringify(await names()) === JSON.stringify([...byName].reverse()), 'a second click does not reverse the order');
    await shot(page, 'agents');
    const most = Math.max(...agents.body.items.map((a) => a.total));
    await page.goto(`${BASE}/agents?min=${most + 1}`);
    await ready(page, 'agents');
    must(await page.locator('#league tbody tr[data-name]').count() === 0, `with at least ${most + 1} answers the league still lists agents`);
    must(await page.locator('.empty[role="note"]').count() === 1, 'an empty league does not say what to do');
    await page.goto(`${BASE}/queues?min=1`);
    await ready(page, 'queues');
    must(await page.locator('#league tbody tr[data-name]').count() >= 1, 'no queues listed');
    await shot(page, 'queues');
    pass(`the agents league lists the same ${rows} agents as the API, sorts by a column heading either way and leaves out those under min_responses; queues are listed`);

    // The comments inbox: newest unhappy first; following one up sticks.
    await page.goto(`${BASE}/comments?survey=comment`);
    await ready(page, 'comments');
    const first = await page.locator('article.comment').first().getAttribute('data-id');
    must(first === sad.id, `the inbox starts with ${first}, not the unhappy comment ${sad.id}`);
    const happy = await commentOf(AGENT_HAPPY);
    must(await page.locator(`article.comment[data-id="${happy.id}"]`).count() === 0, 'a happy comment is in the unhappy inbox');
    await shot(page, 'comments', true);
    const note = 'Called back, refund agreed';
    const item = page.locator(`article.comment[data-id="${sad.id}"]`);
    await item.locator('input[type="text"]').fill(note);
    await item.locator('button[type="submit"]').click();
    await page.waitForSelector(`article.comment[data-id="${sad.id}"] .done-by:has-text("lead-admin")`);
    await page.reload();
    await ready(page, 'comments');
    must(await page.locator(`article.comment[data-id="${sad.id}"]`).count() === 0, 'a followed-up comment stays in the open inbox after a reload');
    await page.goto(`${BASE}/comments?survey=comment&done=1`);
    await ready(page, 'comments');
    const kept = page.locator(`article.comment[data-id="${sad.id}"]`);
    must((await kept.locator('.done-by').textContent()).includes('lead-admin'), 'after a reload the follow-up does not name lead-admin');
    must((await kept.locator('blockquote').textContent()) === note, 'after a reload the note is gone');
    const stored = await apiGet(`/api/v1/measurements/${sad.id}`);
    const f = stored.body.follow_up;
    must(f && f.by === 'lead-admin' && f.note === note && f.via === 'token', `the API shows follow_up ${JSON.stringify(f)}`);
    await page.goto(`${BASE}/comments?survey=comment&all=1`);
    await ready(page, 'comments');
    const happyItem = page.locator(`article.comment[data-id="${happy.id}"]`);
    await happyItem.locator('button[type="submit"]').click();
    await page.waitForSelector(`article.comment[data-id="${happy.id}"] .done-by`);
    must(!/\b(null|undefined|NaN)\b/.test(await happyItem.textContent()), `a follow-up without a note reads "${await happyItem.textContent()}"`);
    pass('the inbox lists the unhappy comment first; marking it followed up survives a reload and shows in the API (by lead-admin)');

    // Prompts: an upload from the page reaches the next call; a bad one is refused and changes nothing.
    await page.goto(`${BASE}/prompts?language=en`);
    await ready(page, 'prompts');
    await shot(page, 'prompts', true);
    const before = await listen();
    must(before.packets > 0 && before.tone_ratio < 0.3, `the shipped question already sounds like a tone: ${JSON.stringify(before)}`);
    let row = page.locator('tr[data-prompt="en/survey"]');
    await row.locator('input[type="file"]').setInputFiles({ name: 'tone.wav', mimeType: 'audio/wav', buffer: toneWav() });
    await row.locator('button', { hasText: 'Upload' }).click();
    await page.waitForSelector('#prompts-status.ok');
    const listed = (await apiGet('/api/v1/prompts?language=en')).body.items.find((p) => p.survey === null && p.name === 'survey');
    must(listed.source === 'custom' && listed.duration_ms === 1500, `after the upload the API lists ${JSON.stringify(listed)}`);
    const after = await listen();
    must(after.tone_ratio > 0.8, `the next call does not play the uploaded tone: ${JSON.stringify(after)}`);
    pass(`an admin uploads a prompt from the page and the next call plays it (1 kHz share of the audio ${before.tone_ratio} → ${after.tone_ratio})`);
    row = page.locator('tr[data-prompt="en/survey"]');
    await row.locator('input[type="file"]').setInputFiles({ name: 'survey.wav', mimeType: 'audio/wav', buffer: Buffer.from('this is a text file, not audio\n') });
    await row.locator('button', { hasText: 'Upload' }).click();
    const error = row.locator('[role="alert"].error');
    await error.waitFor();
    const message = await error.textContent();
    must(message.startsWith('This file is not a recording smileyd can play'), `the error reads "${message}"`);
    const still = (await apiGet('/api/v1/prompts?language=en')).body.items.find((p) => p.survey === null && p.name === 'survey');
    must(still.source === 'custom' && still.duration_ms === 1500, `after a bad upload the API lists ${JSON.stringify(still)}`);
    pass('a bad upload shows the error in words and keeps the previous prompt');
    await shot(page, 'prompts-error');

    // Webhook deliveries with a retry button.
    await page.goto(`${BASE}/deliveries`);
    await ready(page, 'deliveries');
    await shot(page, 'deliveries');
    const retry = page.locator('button', { hasText: 'Retry now' }).first();
    must(await retry.count() === 1, 'no delivery to retry (the test daemon has a dead receiver)');
    await retry.click();
    await page.waitForSelector('[role="status"].ok');
    pass('the webhook page lists pending deliveries and retries one');

    // Swedish, and a phone's width.
    await page.goto(`${BASE}/`);
    await ready(page, 'overview');
    await page.selectOption('#lang', 'sv');
    await ready(page, 'overview');
    must(await page.evaluate(() => document.documentElement.lang) === 'sv', 'html lang is not sv');
    must((await page.textContent('#nav')).includes('Översikt'), 'the menu is not in Swedish');
    const sv = await page.locator('.card[data-period="30d"] .figure').evaluate((e) => ({ ...e.dataset, text: e.textContent }));
    const svSat = await apiGet(`/api/v1/satisfaction?survey=${sv.survey}&from=${encodeURIComponent(sv.from)}&to=${encodeURIComponent(sv.to)}`);
    must(Number(sv.value) === svSat.body.happy_pct, `Swedish overview shows ${sv.value}, the API says ${svSat.body.happy_pct}`);
    const svText = sv.text;
    const svWant = new Intl.NumberFormat('sv', { style: 'percent', maximumFractionDigits: 1 }).format(svSat.body.happy_pct / 100);
    must(svText.replace(/\s/g, ' ') === svWant.replace(/\s/g, ' '), `Swedish figure "${svText}", expected "${svWant}"`);
    const missing = await page.evaluate(() => {
      const m = window.SMILEYD_MESSAGES;
      return Object.keys(m.en).filter((k) => !(k in m.sv));
    });
    must(missing.length === 0, `the Swedish catalogue lacks ${missing.join(', ')}`);
    const swede = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'sv-SE' });
    await swede.addCookies([{ name: 'smileyd_token', value: READ, url: BASE, httpOnly: true, sameSite: 'Strict' }]);
    const spage = await swede.newPage();
    await spage.goto(`${BASE}/`);
    await ready(spage, 'overview');
    must(await spage.evaluate(() => document.documentElement.lang) === 'sv' && (await spage.textContent('#nav')).includes('Översikt'), 'a Swedish browser does not get Swedish');
    await swede.close();
    const phone = await admin.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    watch(phone);
    for (const [path, id] of [['/', 'overview'], ['/agents?min=1', 'agents'], [`/agents/${encodeURIComponent(AGENT_SAD)}?survey=comment`, 'agents'],
      ['/queues?min=1', 'queues'], ['/prompts', 'prompts'], ['/deliveries', 'deliveries'], ['/comments?survey=comment&done=1', 'comments']]) {
      await phone.goto(BASE + path);
      await ready(phone, id);
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      must(overflow <= 0, `on a phone ${path} is ${overflow} px wider than the screen`);
      if (id === 'overview') {
        const small = await phone.locator('.chart svg text').evaluateAll((ts) => Math.min(...ts.map((x) => x.getBoundingClientRect().height)));
        must(small >= 10, `on a phone the chart's text is ${small} px high`);
      }
    }
    await shot(phone, 'phone-sv', true);
    await phone.close();
    await page.selectOption('#lang', 'en');
    pass(`a Swedish browser gets Swedish, the switch turns the page Swedish (${svWant}), every English text has a Swedish one; on a phone's width no page scrolls sideways and the chart's text stays readable`);

    // A read token sees no admin controls, and the server refuses forged admin requests.
    const reader = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
    const rpage = await signIn(reader, READ);
    watch(rpage);
    const links = await rpage.locator('#nav a').evaluateAll((as) => as.map((a) => a.dataset.page));
    must(!links.includes('prompts') && !links.includes('deliveries'), `a read token's menu has ${links}`);
    await rpage.goto(`${BASE}/prompts`);
    await ready(rpage, 'prompts');
    must(await rpage.locator('input[type="file"], button:has-text("Upload"), button:has-text("Revert")').count() === 0, 'a read token sees upload controls');
    const forged = await rpage.evaluate(async () => {
      const put = await fetch('/api/v1/prompts/en/survey', { method: 'PUT', headers: { 'Content-Type': 'audio/wav' }, body: new Uint8Array(64) });
      const del = await fetch('/api/v1/prompts/en/survey', { method: 'DELETE' });
      const hooks = await fetch('/api/v1/webhooks');
      return [put.status, del.status, hooks.status];
    });
    must(forged.every((s) => s === 403), `forged admin requests with the read cookie got ${forged}`);
    await shot(rpage, 'read-only');
    pass(`a read token sees no admin controls; forged admin requests from its page get ${forged.join(', ')}`);
    await rpage.click('#signout');
    await ready(rpage, 'signin');
    must(!(await reader.cookies()).some((c) => c.name === 'smileyd_token'), 'the cookie outlives signing out');
    must(await rpage.evaluate(async () => (await fetch('/api/v1/satisfaction')).status) === 401, 'after signing out the API still answers the page');
    pass('signing out removes the cookie and the page is back at sign-in');
    await reader.close();

    // Contrast, labels, names: axe-core's WCAG 2.1 A/AA rules on every page.
    const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    const audit = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US', bypassCSP: true });
    await audit.addCookies([{ name: 'smileyd_token', value: ADMIN, url: BASE, httpOnly: true, sameSite: 'Strict' }]);
    const apage = await audit.newPage();
    const audited = [];
    for (const [path, id] of [['/', 'overview'], ['/agents?min=1', 'agents'], [`/agents/${encodeURIComponent(AGENT_SAD)}?survey=comment`, 'agents'],
      ['/queues?min=1', 'queues'], ['/comments?survey=comment&done=1', 'comments'], ['/comments?survey=smiley', 'comments'],
      ['/prompts?language=en', 'prompts'], ['/deliveries', 'deliveries']]) {
      await apage.goto(BASE + path);
      await ready(apage, id);
      await apage.addScriptTag({ content: axe });
      const result = await apage.evaluate(() => window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
      const v = result.violations.map((x) => `${x.id}: ${x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
      must(v.length === 0, `${path}: WCAG violations: ${v.join('; ')}`);
      const odd = (await apage.textContent('main')).match(/\b(null|undefined|NaN|\[object Object\])\b/);
      must(!odd, `${path}: the page shows "${odd && odd[0]}"`);
      if (path === '/comments?survey=smiley') {
        // A survey that never offers comments: the inbox says how to turn them on.
        const how = await apage.locator('.empty[role="note"] pre').textContent();
        must(how.includes('[surveys.smiley]') && how.includes('comment = "on_unhappy"'), `the empty inbox of a survey without comments says "${how}"`);
      }
      audited.push(path.split('?')[0]);
    }
    await audit.close();
    pass(`axe-core finds no WCAG 2.1 A/AA violation (contrast included) on ${audited.length} pages, and none shows null, undefined or NaN; an inbox without comments says how to turn them on`);

    // Keyboard: the skip link first, then the menu; the skip link moves focus.
    await page.goto(`${BASE}/`);
    await ready(page, 'overview');
    const order = [];
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement.id || document.activeElement.textContent.trim()));
    }
    must(order[0] === 'skip', `Tab reaches ${order[0]} first, not the skip link`);
    must(order.includes('Agents') && order.includes('Comments'), `Tab order does not reach the menu: ${order}`);
    await page.focus('#skip');
    await page.keyboard.press('Enter');
    must(await page.evaluate(() => document.activeElement.id) === 'main', 'the skip link does not move focus to the content');
    pass(`keyboard: Tab goes ${order.slice(0, 4).join(' → ')} …; the skip link moves focus to the content`);

    // The live indicator goes grey when the stream drops and comes back.
    if (RESTART) {
      await page.waitForSelector('#live[data-state="on"]');
      const restarted = run('bash', ['-c', RESTART]);
      await page.waitForSelector('#live[data-state="off"]', { timeout: 30000 });
      must((await restarted).code === 0, 'restarting the daemon failed');
      await page.waitForSelector('#live[data-state="on"]', { timeout: 30000 });
      pass('the live indicator turns grey while the daemon restarts and live again after it');
    }

    must(problems.length === 0, `the browser reported: ${problems.join(' | ')}`);
    pass('no script errors and no Content-Security-Policy violations');
    await admin.close();
  } finally {
    await browser.close();
  }
}

main().then(() => {
  console.log(`dashboard: ${passed} passed`);
}).catch((e) => {
  console.log(`FAIL: dashboard: ${e instanceof Failure ? e.message : e.stack}`);
  process.exit(1);
});
