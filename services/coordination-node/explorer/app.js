'use strict';
// The explorer: one page routed by the URL's hash, reading this node's API. It stays live from
// the event stream (`GET /events`): each event redraws the page shown (the browser's EventSource
// reconnects by itself and resumes with `Last-Event-ID`, so nothing is missed), and the page is
// also redrawn every few seconds for what moves without events (the slot, the watcher's lag).

const page = document.getElementById('page');
const STATES = ['open', 'complete', 'claimed', 'proven', 'pruned'];
const EVENT_KINDS = ['quote_accepted', 'quote_superseded', 'quote_expired', 'epoch_completed', 'claim_seen',
  'proof_seen', 'bond_slashed', 'epoch_pruned', 'chain_reorg'];
const REDRAW_MS = 4000;

// ------------------------------------------------------------------ formatting

function esc(value) {
  const map = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  return String(value ?? '').replace(/[&<>"']/g, (c) => map[c]);
}

/** A non-negative integer (a number or a decimal string of any size) with thousands separators. */
function int(value) {
  if (value === null || value === undefined) return '–';
  return esc(String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ','));
}

/** A fee in basis points, with its percentage. */
function fee(bps) {
  if (bps === null || bps === undefined) return '–';
  return `${esc(bps)} bps <span class="muted">(${(bps / 100).toFixed(2)} %)</span>`;
}

function short(hex) {
  return hex ? `${hex.slice(0, 6)}…${hex.slice(-4)}` : '–';
}

function proverLink(address) {
  if (!address) return '–';
  return `<a class="mono" href="#/prover/${esc(address)}" title="${esc(address)}">${esc(short(address))}</a>`;
}

function epochLink(epoch) {
  return `<a href="#/epoch/${esc(epoch)}">${esc(epoch)}</a>`;
}

function badge(state) {
  return `<span class="badge state-${esc(state)}">${esc(state)}</span>`;
}

function time(ms) {
  return ms ? esc(new Date(ms).toLocaleTimeString()) : '–';
}

function card(label, value, attrs = '') {
  return `<div class="card" ${attrs}><div class="label">${esc(label)}</div><div class="value">${value}</div></div>`;
}

function table(headers, rows, empty) {
  if (!rows.length) return `<p class="muted">${esc(empty)}</p>`;
  const head = headers.map((h) => `<th class="${h.num ? 'num' : ''}">${esc(h.label)}</th>`).join('');
  return `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

// ------------------------------------------------------------------ the API

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

async function api(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// ------------------------------------------------------------------ charts (inline SVG)

/**
 * A chart of `points` (`{ x, values: [..] }`, one value per series, null when absent): series of
 * kind `bar` are drawn as bars, `line` as lines with dots. Values are scaled to the largest.
 */
function chart(points, series, { height = 220, unit = '' } = {}) {
  const width = 460;
  const left = 64;
  const bottom = 22;
  const top = 10;
  if (!points.length) return '<p class="muted">No epochs yet.</p>';
  const max = Math.max(1, ...points.flatMap((p) => p.values.filter((v) => v !== null && v !== undefined)));
  const step = (width - left - 8) / points.length;
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const x = (i) => left + step * i + step / 2;
  const parts = [`<line class="axis" x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}"/>`];
  for (const frac of [0, 0.5, 1]) {
    const v = max * frac;
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${esc(compact(v))}${esc(unit)}</text>`);
    parts.push(`<line class="axis" x1="${left}" y1="${y(v)}" x2="${width}" y2="${y(v)}" stroke-dasharray="2 4"/>`);
  }
  const labelEvery = Math.max(1, Math.ceil(points.length / 12));
  points.forEach((p, i) => {
    if (i % labelEvery === 0) {
      parts.push(`<text x="${x(i)}" y="${height - 6}" text-anchor="middle">${esc(p.x)}</text>`);
    }
  });
  const bars = series.filter((s) => s.kind === 'bar');
  series.forEach((s, k) => {
    if (s.kind === 'bar') {
      const w = Math.max(1, (step * 0.8) / bars.length);
      const offset = bars.indexOf(s) * w - (step * 0.8) / 2;
      points.forEach((p, i) => {
        const v = p.values[k];
        if (v === null || v === undefined) return;
        parts.push(`<rect x="${x(i) + offset}" y="${y(v)}" width="${w}" height="${height - bottom - y(v)}"
          fill="${s.color}"><title>${esc(s.name)} ${esc(p.x)}: ${esc(v)}${esc(unit)}</title></rect>`);
      });
    } else {
      const coords = points.map((p, i) => [i, p.values[k]]).filter(([, v]) => v !== null && v !== undefined);
      if (coords.length > 1) {
        const d = coords.map(([i, v], n) => `${n ? 'L' : 'M'}${x(i)},${y(v)}`).join(' ');
        const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
        parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
      }
      for (const [i, v] of coords) {
        parts.push(`<circle cx="${x(i)}" cy="${y(v)}" r="3" fill="${s.color}">
          <title>${esc(s.name)} ${esc(points[i].x)}: ${esc(v)}${esc(unit)}</title></circle>`);
      }
    }
  });
  const legend = series.map((s) => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join('');
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img">${parts.join('')}</svg>
    <div class="legend">${legend}</div>`;
}

function compact(v) {
  if (v >= 1e15) return v.toExponential(1).replace('e+', 'e');
  if (v >= 1e9) return `${(v / 1e9).toFixed(1)}G`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  return String(Math.round(v));
}

// ------------------------------------------------------------------ pages

function stateLegend() {
  return `<div class="legend">${STATES.map((s) => `<span><i class="state-${s}"></i>${s}</span>`).join('')}</div>`;
}

function epochRows(epochs) {
  return epochs.map((e) => {
    const claim = e.claim;
    return `<tr data-epoch="${esc(e.epoch)}">
      <td>${epochLink(e.epoch)}</td><td>${badge(e.state)}</td>
      <td class="num">${int(e.blockCount)}</td><td class="num">${int(e.totalFees)}</td>
      <td class="num">${int(e.quotes)}</td><td class="num">${fee(e.bestFee)}</td>
      <td class="num">${claim ? fee(claim.basisPointFee) : '–'}</td>
      <td>${claim ? proverLink(claim.bondProvider) : '–'}</td>
      <td class="num">${e.payout !== undefined ? int(e.payout) : '–'}</td></tr>`;
  });
}

const EPOCH_HEADERS = [{ label: 'Epoch' }, { label: 'State' }, { label: 'Blocks', num: 1 }, { label: 'Fees', num: 1 },
  { label: 'Quotes', num: 1 }, { label: 'Lowest fee', num: 1 }, { label: 'Winning fee', num: 1 }, { label: 'Winner' },
  { label: 'Payout', num: 1 }];

async function overview() {
  const [chain, market] = await Promise.all([api('/chain'), api('/market/epochs?limit=32')]);
  const epochs = market.epochs;
  const strip = epochs.slice().reverse().map((e) =>
    `<a class="state-${esc(e.state)}" href="#/epoch/${esc(e.epoch)}" data-epoch="${esc(e.epoch)}"
      data-state="${esc(e.state)}" title="epoch ${esc(e.epoch)}: ${esc(e.state)}">${esc(e.epoch)}</a>`).join('');
  const lag = chain.watcherLagBlocks;
  return `<h1>Overview</h1>
    <div class="cards">
      ${card('L1 head', int(chain.l1Head), 'data-card="l1-head"')}
      ${card("Node's L1 block", int(chain.l1Block), 'data-card="l1-block"')}
      ${card('Watcher lag', lag === null || lag === undefined ? '–' : `${int(lag)} blocks`, 'data-card="lag"')}
      ${card('Slot', int(chain.currentSlot), 'data-card="slot"')}
      ${card('Open epoch', int(chain.currentEpoch), 'data-card="epoch"')}
      ${card('Proven / pending L2', `${int(chain.provenBlock)} / ${int(chain.pendingBlock)}`)}
    </div>
    <h2>Last epochs</h2>
    <div class="panel"><div class="strip" id="strip">${strip || '<span class="muted">No epochs yet.</span>'}</div>
      ${stateLegend()}</div>
    <h2>Recent epochs</h2>
    ${table(EPOCH_HEADERS, epochRows(epochs.slice(0, 12)), 'No epochs yet.')}
    <h2>Live feed</h2>${feedPanel()}`;
}

async function epochPage(epochNumber) {
  const [epoch, quotes] = await Promise.all([
    api(`/epochs/${epochNumber}`),
    api(`/epoch-proof-quotes?epoch=${epochNumber}&status=all&limit=500`),
  ]);
  const claim = epoch.claim;
  const winner = claim ? claim.quoteId : null;
  const rows = quotes.quotes.map((q, rank) => {
    let why = '–';
    if (q.id === winner) why = '<strong>won</strong>';
    else if (q.lost === 'outbid' && q.outbidBy) {
      why = `outbid by ${proverLink(q.outbidBy.prover)} at ${fee(q.outbidBy.basisPointFee)}`;
    } else if (q.lost) why = esc(q.lost);
    return `<tr class="${q.id === winner ? 'winner' : ''}" data-quote="${esc(q.id)}">
      <td class="num">${rank + 1}</td><td>${proverLink(q.prover)}</td><td class="num" data-fee="${esc(q.basisPointFee)}">${fee(q.basisPointFee)}</td>
      <td class="num">${int(q.bondAmount)}</td><td class="num">${int(q.validUntilSlot)}</td>
      <td>${esc(q.status)}</td><td>${time(q.receivedAtMs)}</td><td>${why}</td></tr>`;
  });
  const claimPart = claim
    ? `<dl class="kv">
        <dt>Winner</dt><dd>${proverLink(claim.bondProvider)} at ${fee(claim.basisPointFee)}</dd>
        <dt>Proposer</dt><dd class="mono">${esc(claim.proposer)}</dd>
        <dt>Bond</dt><dd>${int(claim.bondAmount)}</dd>
        <dt>Claimed at slot</dt><dd>${int(claim.claimedAtSlot)}</dd>
        <dt>L1 transaction</dt><dd class="mono">${esc(claim.l1Tx)} (block ${int(claim.l1Block)},
          ${int(claim.confirmations)} confirmations)</dd>
        <dt>Outcome</dt><dd>${esc(claim.outcome)}</dd>
      </dl>`
    : '<p class="muted">Not claimed.</p>';
  const proof = epoch.provenAtL1Block !== undefined
    ? `Proven in L1 block ${int(epoch.provenAtL1Block)}.`
    : epoch.state === 'pruned' ? 'Pruned: its blocks were rolled back.' : 'Not proven yet.';
  const paid = claim && claim.outcome === 'proven';
  return `<h1>Epoch ${esc(epoch.epoch)} ${badge(epoch.state)}</h1>
    <div class="cards">
      ${card('Blocks', `${int(epoch.initBlock)}–${int(epoch.finalBlock)} (${int(epoch.blockCount)})`)}
      ${card('Transactions', int(epoch.txCount))}
      ${card('Total fees', int(epoch.totalFees))}
      ${card(paid ? 'Payout (paid)' : 'Payout', epoch.payout !== undefined ? int(epoch.payout) : '–', 'data-card="payout"')}
    </div>
    <div class="grid2">
      <div><h2>Claim</h2><div class="panel">${claimPart}</div></div>
      <div><h2>Proof and payout</h2><div class="panel"><p>${proof}</p>
        <p class="muted">The prover is paid totalFees × basisPointFee / 10000 when the epoch is proven.</p></div></div>
    </div>
    <h2>Quotes, best first</h2>
    ${table([{ label: '#', num: 1 }, { label: 'Prover' }, { label: 'Fee', num: 1 }, { label: 'Bond', num: 1 },
      { label: 'Valid until slot', num: 1 }, { label: 'Status' }, { label: 'Received' }, { label: 'Result' }],
    rows, epoch.quotesDeleted
      ? 'This epoch was settled long ago: its quotes were deleted by the node\'s retention (claim and totals are kept).'
      : 'No quotes for this epoch.')}
    ${quotes.nextCursor ? '<p class="muted">The 500 best are shown.</p>' : ''}`;
}

async function proverPage(address) {
  const prover = await api(`/provers/${address}`);
  const points = prover.epochs.slice().reverse().map((e) => ({ x: e.epoch, values: [e.bestFee, e.wonFee ?? null] }));
  const rows = prover.epochs.map((e) => `<tr><td>${epochLink(e.epoch)}</td><td class="num">${int(e.quotes)}</td>
    <td class="num">${fee(e.bestFee)}</td><td>${e.won ? `<strong>won</strong> at ${fee(e.wonFee)}` : ''}</td></tr>`);
  const rate = prover.winRate === null || prover.winRate === undefined ? '–' : `${(prover.winRate * 100).toFixed(1)} %`;
  return `<h1 class="mono">${esc(prover.prover)}</h1>
    <div class="cards" id="prover-totals">
      ${card('Escrow deposit', int(prover.deposit), 'data-total="deposit"')}
      ${card('Quotes sent', int(prover.quotes), 'data-total="quotes"')}
      ${card('Epochs quoted', int(prover.epochsQuoted), 'data-total="epochsQuoted"')}
      ${card('Claims won', int(prover.claims), 'data-total="claims"')}
      ${card('Epochs proven', int(prover.proven), 'data-total="proven"')}
      ${card('Bonds slashed', int(prover.slashed), 'data-total="slashed"')}
      ${card('Fees earned', int(prover.feesEarned), 'data-total="feesEarned"')}
      ${card('Win rate', rate, 'data-total="winRate"')}
    </div>
    <h2>Its fee over time</h2>
    <div class="panel">${chart(points, [{ name: 'its lowest fee asked (bps)', color: 'var(--best)', kind: 'line', dashed: true },
      { name: 'won at', color: 'var(--won)', kind: 'line' }])}</div>
    <h2>Epochs</h2>
    ${table([{ label: 'Epoch' }, { label: 'Quotes', num: 1 }, { label: 'Lowest fee asked', num: 1 }, { label: '' }], rows,
      'No quotes from this prover.')}`;
}

async function market() {
  const [epochs, board] = await Promise.all([api('/market/epochs?limit=64'), api('/provers?limit=50')]);
  const ordered = epochs.epochs.slice().reverse();
  const fees = ordered.map((e) => ({ x: e.epoch, values: [e.bestFee ?? null, e.claim ? e.claim.basisPointFee : null] }));
  const quotes = ordered.map((e) => ({ x: e.epoch, values: [e.quotes] }));
  const paid = ordered.map((e) => ({
    x: e.epoch,
    values: [e.claim && e.claim.outcome === 'proven' ? Number(e.payout) : null, Number(e.totalFees)],
  }));
  const rows = board.provers.map((p, rank) => `<tr data-prover="${esc(p.prover)}"><td class="num">${rank + 1}</td>
    <td>${proverLink(p.prover)}</td><td class="num">${int(p.feesEarned)}</td><td class="num">${int(p.proven)}</td>
    <td class="num">${int(p.claims)}</td><td class="num">${int(p.slashed)}</td><td class="num">${int(p.quotes)}</td>
    <td class="num">${p.winRate === null || p.winRate === undefined ? '–' : `${(p.winRate * 100).toFixed(1)} %`}</td></tr>`);
  return `<h1>Market</h1>
    <div class="grid2">
      <div class="panel"><h2>Winning fee and lowest fee asked</h2>${chart(fees, [
        { name: 'lowest fee asked (bps)', color: 'var(--best)', kind: 'line', dashed: true },
        { name: 'winning fee (bps)', color: 'var(--claimed)', kind: 'line' }])}</div>
      <div class="panel"><h2>Quotes per epoch</h2>${chart(quotes, [{ name: 'quotes', color: 'var(--complete)', kind: 'bar' }])}</div>
      <div class="panel"><h2>Fees per epoch</h2>${chart(paid, [
        { name: 'paid to the prover', color: 'var(--proven)', kind: 'bar' },
        { name: 'epoch fees', color: 'var(--open)', kind: 'bar' }])}</div>
    </div>
    <h2>Leaderboard</h2>
    ${table([{ label: '#', num: 1 }, { label: 'Prover' }, { label: 'Fees earned', num: 1 }, { label: 'Proven', num: 1 },
      { label: 'Claims', num: 1 }, { label: 'Slashed', num: 1 }, { label: 'Quotes', num: 1 }, { label: 'Win rate', num: 1 }],
    rows, 'No provers yet.')}
    <h2>Epochs</h2>
    ${table(EPOCH_HEADERS, epochRows(epochs.epochs), 'No epochs yet.')}`;
}

async function feedPage() {
  return `<h1>Live feed</h1>${feedPanel()}`;
}

// ------------------------------------------------------------------ the live feed

const feed = { items: [], lastId: null, connected: false };

function describe(kind, data) {
  switch (kind) {
    case 'quote_accepted':
      return `${proverLink(data.prover)} quoted ${fee(data.basisPointFee)} for epoch ${epochLink(data.epoch)}`;
    case 'quote_superseded': return `quote <span class="mono">${esc(short(data.id))}</span> replaced`;
    case 'quote_expired': return `a quote for epoch ${epochLink(data.epoch)} expired (${esc(data.reason)})`;
    case 'epoch_completed':
      return `epoch ${epochLink(data.epoch)} complete: ${int(data.blockCount)} blocks, fees ${int(data.totalFees)}`;
    case 'claim_seen':
      return `epoch ${epochLink(data.epoch)} claimed for ${proverLink(data.bondProvider)} at ${fee(data.basisPointFee)}`;
    case 'proof_seen': return `epoch ${epochLink(data.epoch)} proven`;
    case 'bond_slashed': return `bond of epoch ${epochLink(data.epoch)} slashed`;
    case 'epoch_pruned': return `epoch ${epochLink(data.epoch)} pruned`;
    case 'chain_reorg': return `L1 reorganised after block ${int(data.forkL1Block)}`;
    default: return '';
  }
}

function feedItems() {
  if (!feed.items.length) return '<li class="muted">Waiting for events…</li>';
  return feed.items.map((e) => `<li data-seq="${esc(e.id)}"><span class="muted">#${esc(e.id)} ${time(e.at)}</span>
    <span class="kind">${esc(e.kind)}</span>${e.text}</li>`).join('');
}

function feedStatus() {
  const where = feed.lastId ? `, last event #${esc(feed.lastId)}` : '';
  return feed.connected ? `connected${where}` : `reconnecting${where}`;
}

function feedPanel() {
  return `<div class="panel"><p class="muted" id="feed-status">${feedStatus()}</p>
    <ul id="feed-list">${feedItems()}</ul></div>`;
}

function drawFeed() {
  const list = document.getElementById('feed-list');
  if (list) list.innerHTML = feedItems();
  const status = document.getElementById('feed-status');
  if (status) status.innerHTML = feedStatus();
}

function listen() {
  // After the last event shown, when reopened: nothing missed, nothing repeated.
  const source = new EventSource(feed.lastId ? `/events?after=${encodeURIComponent(feed.lastId)}` : '/events');
  source.onopen = () => { feed.connected = true; drawFeed(); };
  source.onerror = () => {
    feed.connected = false;
    drawFeed();
    // The browser retries a dropped connection by itself, but gives up on an answer that is not
    // an event stream (a 503 while the database is down, a proxy's 502): open a new one then.
    if (source.readyState === EventSource.CLOSED) setTimeout(listen, 3000);
  };
  for (const kind of EVENT_KINDS) {
    source.addEventListener(kind, (event) => {
      let data = {};
      try { data = JSON.parse(event.data); } catch { /* shown without details */ }
      feed.lastId = event.lastEventId;
      feed.items.unshift({ id: event.lastEventId, kind, at: Date.now(), text: describe(kind, data) });
      feed.items.length = Math.min(feed.items.length, 100);
      drawFeed();
      redrawSoon();
    });
  }
}

// ------------------------------------------------------------------ routing and redrawing

const ROUTES = [
  [/^#?\/?$/, overview, 'overview'],
  [/^#\/market$/, market, 'market'],
  [/^#\/feed$/, feedPage, 'feed'],
  [/^#\/epoch\/(\d+)$/, epochPage, null],
  [/^#\/prover\/(0x[0-9a-fA-F]{40})$/, proverPage, null],
];

let drawing = 0;
let redrawTimer = null;

async function draw() {
  const ticket = ++drawing;
  const hash = location.hash || '#/';
  const match = ROUTES.map(([pattern, render, nav]) => [hash.match(pattern), render, nav]).find(([m]) => m);
  for (const link of document.querySelectorAll('[data-nav]')) {
    link.classList.toggle('active', Boolean(match) && link.dataset.nav === match[2]);
  }
  let html;
  if (!match) {
    html = '<h1>Not found</h1><p>No such page. <a href="#/">Overview</a></p>';
  } else {
    try {
      html = await match[1](...match[0].slice(1));
    } catch (error) {
      html = `<h1>Unavailable</h1><p class="error" data-error="${esc(error.code || 'network')}">${esc(error.message)}</p>`;
    }
  }
  // A later draw (another page, a newer event) wins.
  if (ticket === drawing) {
    page.innerHTML = html;
    page.dataset.drawn = String(ticket);
  }
}

function redrawSoon() {
  if (redrawTimer) return;
  redrawTimer = setTimeout(() => { redrawTimer = null; draw(); }, 250);
}

async function health() {
  const badgeEl = document.getElementById('health');
  try {
    const response = await fetch('/readyz');
    const ready = await response.json();
    badgeEl.textContent = ready.status === 'ok' ? 'node ready' : 'node not ready';
    badgeEl.className = `health ${ready.status === 'ok' ? 'ok' : 'bad'}`;
    badgeEl.title = `database ${ready.database ? 'up' : 'down'}, L1 ${ready.l1 ? 'reached' : 'unreachable'}`;
  } catch {
    badgeEl.textContent = 'node unreachable';
    badgeEl.className = 'health bad';
  }
}

window.addEventListener('hashchange', () => { window.scrollTo(0, 0); draw(); });
setInterval(() => { draw(); health(); }, REDRAW_MS);
listen();
draw();
health();
