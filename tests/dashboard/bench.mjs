// The dashboard's speed, measured in Debian's Chromium with playwright-core
// against a running daemon (bench/dashboard.sh fills the database and starts
// it). Every page is opened RUNS times, each in a fresh browser context (an
// empty cache, like a first visit), after one load that warms the server.
//
// Per load, from the browser's own timings (Navigation and Resource Timing,
// Paint Timing):
// - server time of a request: requestStart → responseStart, i.e. from the
//   request leaving the browser to the first byte of the answer, on
//   loopback: the time the server took;
// - the page's server time: the sum over the HTML and every API request
//   the page made until it showed its data (they overlap, so the sum is an
//   upper bound of the server's share of the wait); the comments' audio,
//   which players fetch by themselves, is not counted;
// - data drawn: navigation start → the page has drawn its data (the
//   page script's performance mark smileyd:ready:PAGE);
// - for the overview, first paint and first contentful paint;
// - with SMILEYD_PID, the daemon's CPU time (user + system, /proc) per
//   load, the HTML, files and compression included: what the server
//   worked, however busy the machine is with other things.
// Prints a Markdown table of medians and maxima over the runs.
//
// Environment: SMILEYD_URL, SMILEYD_ADMIN_TOKEN, RUNS (default 5),
// SMILEYD_PID, CLK_TCK (default 100), CHROMIUM (default /usr/bin/chromium).

import { readFileSync } from 'node:fs';

import { chromium } from 'playwright-core';

const BASE = (process.env.SMILEYD_URL || '').replace(/\/$/, '');
const TOKEN = process.env.SMILEYD_ADMIN_TOKEN || '';
const RUNS = Number(process.env.RUNS || 5);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PID = process.env.SMILEYD_PID || '';
const TICKS = Number(process.env.CLK_TCK || 100);
if (!BASE || !TOKEN) {
  console.error('bench.mjs: SMILEYD_URL and SMILEYD_ADMIN_TOKEN must be set');
  process.exit(2);
}
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--mute-audio'];

// [label, path, what body[data-ready] turns to]
const PAGES = [
  ['Overview (smiley)', '/', 'overview'],
  ['Overview (csat)', '/?survey=csat', 'overview'],
  ['Agents, 30 days', '/agents', 'agents'],
  ['Agents, 90 days', '/agents?window=90d', 'agents'],
  ['One agent', '/agents/agent07', 'agents'],
  ['Queues', '/queues', 'queues'],
  ['One queue', '/queues/queue1', 'queues'],
  ['Comments inbox (unhappy, open)', '/comments', 'comments'],
  ['Comments, all', '/comments?all=1&done=1', 'comments'],
  ['Comments of a survey without any (csat)', '/comments?survey=csat', 'comments'],
  ['Prompts', '/prompts', 'prompts'],
  ['Webhooks', '/deliveries', 'deliveries'],
];

// The daemon's CPU time so far (user + system), in ms: unlike the
// wall-clock times it does not grow while other work on the machine keeps
// the server waiting for a core.
function cpuMs() {
  if (!PID) return null;
  const fields = readFileSync(`/proc/${PID}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};
const ms = (v) => (v == null ? '–' : v.toFixed(1));

async function load(browser, path, ready) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
  await context.addCookies([{ name: 'smileyd_token', value: TOKEN, url: BASE, httpOnly: true, sameSite: 'Strict' }]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(BASE + path);
  await page.waitForSelector(`body[data-ready="${ready}"]`, { timeout: 60000 });
  if (errors.length) throw new Error(`${path}: ${errors.join('; ')}`);
  const notice = await page.locator('main [role="alert"]').allTextContents();
  if (notice.some((s) => s.trim())) throw new Error(`${path}: the page shows an error: ${notice.join(' ')}`);
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const api = performance.getEntriesByType('resource')
      // The comments' audio players fetch their first bytes on their own
      // (preload="metadata"); that is media, not the page's data.
      .filter((r) => { const p = new URL(r.name).pathname; return p.startsWith('/api/') && !p.endsWith('/comment'); })
      .map((r) => ({ path: new URL(r.name).pathname, server: r.responseStart - r.requestStart }));
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((p) => [p.name, p.startTime]));
    return {
      html: nav.responseStart - nav.requestStart,
      api,
      ready: performance.getEntriesByType('mark').filter((m) => m.name.startsWith('smileyd:ready:')).at(-1).startTime,
      fp: paint['first-paint'],
      fcp: paint['first-contentful-paint'],
    };
  });
  await context.close();
  return t;
}

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const rows = [];
  try {
    for (const [label, path, ready] of PAGES) {
      await load(browser, path, ready); // warm the server's caches
      const runs = [];
      const cpu0 = cpuMs();
      for (let i = 0; i < RUNS; i++) runs.push(await load(browser, path, ready));
      const cpu = cpu0 == null ? null : (cpuMs() - cpu0) / RUNS;
      const sum = runs.map((r) => r.html + r.api.reduce((a, x) => a + x.server, 0));
      const slowest = runs.map((r) => Math.max(r.html, ...r.api.map((x) => x.server)));
      const slowestPath = runs[0].api.reduce((a, x) => (x.server > a.server ? x : a), { path: '(html)', server: runs[0].html }).path;
      rows.push({
        label,
        path,
        requests: runs[0].api.length + 1,
        sum: [median(sum), Math.max(...sum)],
        slowest: [median(slowest), Math.max(...slowest)],
        slowestPath,
        ready: [median(runs.map((r) => r.ready)), Math.max(...runs.map((r) => r.ready))],
        cpu,
        fcp: ready === 'overview' ? [median(runs.map((r) => r.fcp)), Math.max(...runs.map((r) => r.fcp))] : null,
      });
      console.error(`${label}: ${rows.at(-1).requests} requests, server ${ms(rows.at(-1).sum[0])} ms, ready ${ms(rows.at(-1).ready[0])} ms`);
    }
  } finally {
    await browser.close();
  }
  console.log(`\n${RUNS} loads per page, each in a fresh browser context; median (max) in ms.\n`);
  console.log('| page | requests | daemon CPU per load | server time, all requests | slowest request | data drawn | first contentful paint |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.label} (\`${r.path}\`) | ${r.requests} | ${ms(r.cpu)} | ${ms(r.sum[0])} (${ms(r.sum[1])}) | ${ms(r.slowest[0])} (${ms(r.slowest[1])}) \`${r.slowestPath}\` | ${ms(r.ready[0])} (${ms(r.ready[1])}) | ${r.fcp ? `${ms(r.fcp[0])} (${ms(r.fcp[1])})` : ''} |`);
  }
}

main().catch((e) => {
  console.error(`bench.mjs: ${e.stack || e}`);
  process.exit(1);
});
