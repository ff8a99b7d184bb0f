// The verification page: one file looked up with POST /v1/query, then each match's checks
// from GET /v1/bundles/{id}/verification, rendered as each answer arrives. Everything the
// server sends is put in the page as text (textContent), never parsed as HTML.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const PLOT = { width: 640, height: 150, left: 44, right: 20, top: 22, bottom: 34, max: 0.5 };
const MARKS = { true: 'passed', false: 'FAILED', null: 'not checked' };
let generation = 0;  // answers for an earlier file are dropped

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function hex(value) { return value ? (value.startsWith('0x') ? value : '0x' + value) : ''; }

function shellQuote(text) { return /^[\w@%+=:,./-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'"; }

// A problem document's detail, or what the HTTP status says when the body is not one.
async function problemOf(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON: a proxy's page, a crash */ }
  if (body && typeof body.detail === 'string') {
    return { title: body.title || response.statusText || 'Error', status: body.status || response.status,
             detail: body.detail, type: body.type || '' };
  }
  return { title: response.statusText || 'Error', status: response.status, type: '',
           detail: `the server answered HTTP ${response.status} without a problem document` };
}

function setVerdict(state, text) {
  const verdict = document.getElementById('verdict');
  verdict.dataset.state = state;
  verdict.textContent = text;
}

function showError(problem) {
  const box = document.getElementById('error');
  box.hidden = false;
  box.replaceChildren(
    el('strong', {}, `${problem.title} (${problem.status})`), ': ',
    el('span', { class: 'detail' }, problem.detail));
  if (problem.type) box.append(el('span', { class: 'type' }, ` [${problem.type}]`));
  setVerdict('error', 'The lookup failed: nothing was checked.');
}

function reset(file) {
  document.getElementById('result').hidden = false;
  document.getElementById('error').hidden = true;
  document.getElementById('error').replaceChildren();
  document.getElementById('plot-box').hidden = true;
  document.getElementById('matches').replaceChildren();
  document.getElementById('trust').hidden = true;
  setVerdict('busy', `Looking up ${file.name} (${file.size} bytes)...`);
}

async function lookUp(file) {
  const mine = ++generation;
  reset(file);
  const form = new FormData();
  form.append('file', file, file.name);
  let response;
  try {
    response = await fetch('/v1/query', { method: 'POST', body: form, headers: { Accept: 'application/json' } });
  } catch (error) {
    if (mine === generation) showError({ title: 'No answer', status: 0, type: '', detail: `the server did not answer: ${error.message}` });
    return;
  }
  if (mine !== generation) return;
  if (!response.ok) { showError(await problemOf(response)); return; }
  let answer;
  try { answer = await response.json(); } catch (error) {
    showError({ title: 'Unreadable answer', status: response.status, type: '', detail: `the answer is not JSON: ${error.message}` });
    return;
  }
  if (mine !== generation) return;
  const result = (answer.results || [])[0] || { matches: [] };
  render(file, answer, result.matches || [], mine);
}

function render(file, answer, matches, mine) {
  const threshold = answer.max_distance;
  drawPlot(threshold, matches);
  const list = document.getElementById('matches');
  if (matches.length === 0) {
    const confirmed = answer.match_rule === 'confirmed' ? ' confirmed by its match descriptor' : '';
    setVerdict('none', `No certificate matched ${file.name}: nothing this appliance certified has these`
      + ` exact bytes or a fingerprint within ${threshold.toFixed(4)} of it${confirmed}.`);
    showTrust(file, null);
    return;
  }
  setVerdict('matched', `${matches.length} certificate${matches.length > 1 ? 's' : ''} matched ${file.name};`
    + ' verifying...');
  const pending = [];
  matches.forEach((match, index) => {
    const card = matchCard(match, index, threshold, answer.confirm_threshold);
    list.append(card);
    if (match.bundle) pending.push(verify(match, card, mine));
    else card.querySelector('.checks').replaceChildren(
      el('p', { class: 'unchecked' }, `No proof bundle yet: ${match.bundle_unavailable}. Nothing to verify until its epoch is proved.`));
  });
  showTrust(file, null);
  Promise.all(pending).then((results) => { if (mine === generation) summarise(file, matches, results); });
}

function field(name, value, cls) {
  return [el('dt', {}, name), el('dd', cls ? { class: cls } : {}, value === null || value === undefined ? '-' : String(value))];
}

function confirmation(match, confirmThreshold) {
  if (match.exact) return 'exact bytes: none needed';
  if (match.confirmed === null) return 'not made (no descriptor on one side): matched by distance alone';
  return `score ${match.confirmation.toFixed(3)} ${match.confirmed ? '>=' : '<'} ${confirmThreshold}`
    + ` on the ${match.view} view (this server's check; rosvd query re-checks it against the descriptors the certificate signs)`;
}

function matchCard(match, index, threshold, confirmThreshold) {
  const cert = match.certificate.certificate;
  const status = match.certificate.status;
  const anchor = match.bundle ? match.bundle.anchor : null;
  const bits = Math.round(match.distance * 256);
  const kind = match.exact ? 'exact bytes (BLAKE3)' : `fingerprint ${bits}/256 bits apart`;
  const card = el('li', { class: 'match', dataset: { certificateId: match.certificate_id, distance: String(match.distance),
                                                    exact: String(match.exact), index: String(index + 1) } });
  card.append(el('h2', {}, el('span', { class: 'index' }, `#${index + 1} `),
                 el('span', { class: `status status-${status}` }, status), ' ',
                 el('span', { class: 'kind' }, kind)));
  const facts = el('dl', { class: 'facts' });
  const claimed = new Date(cert.timestamp_ms).toISOString();
  facts.append(
    ...field('distance', `${match.distance.toFixed(4)} (threshold ${threshold.toFixed(4)})`, 'distance'),
    ...field('confirmation', confirmation(match, confirmThreshold), 'confirmation'),
    ...field('certificate', hex(match.certificate_id), 'hash'),
    ...field('device', cert.device, 'hash device'),
    ...field('epoch', cert.epoch, 'epoch'),
    ...field('sequence', cert.sequence),
    ...field('status', status, 'status-text'),
    ...field('content BLAKE3', hex(cert.content_hash), 'hash'),
    ...field('claimed time', `${claimed} (the host's clock; the chain bounds it)`));
  if (!match.bundle) facts.append(...field('anchor', `no bundle yet: ${match.bundle_unavailable}`, 'anchor'));
  else if (!anchor) facts.append(...field('anchor', 'not anchored on a chain yet', 'anchor'));
  else facts.append(...field('chain id', anchor.chain_id, 'chain-id'), ...field('registry', anchor.registry, 'hash registry'),
                    ...field('block', anchor.block_number, 'block'), ...field('tx hash', hex(anchor.tx_hash), 'hash tx'));
  card.append(facts);
  card.append(el('div', { class: 'checks' }, el('p', { class: 'waiting' }, 'Verifying the proof bundle...')));
  return card;
}

async function verify(match, card, mine) {
  const box = card.querySelector('.checks');
  let response;
  try {
    response = await fetch(`/v1/bundles/${match.certificate_id}/verification`, { headers: { Accept: 'application/json' } });
  } catch (error) {
    if (mine === generation) box.replaceChildren(el('p', { class: 'problem' }, `The verification did not answer: ${error.message}`));
    return null;
  }
  if (mine !== generation) return null;
  if (!response.ok) {
    const problem = await problemOf(response);
    box.replaceChildren(el('p', { class: 'problem' }, `Not verified: ${problem.title} (${problem.status}): ${problem.detail}`));
    return null;
  }
  let result;
  try {
    result = await response.json();
    if (!Array.isArray(result.checks)) throw new Error('no list of checks');
  } catch (error) {
    if (mine === generation) box.replaceChildren(el('p', { class: 'problem' }, `Not verified: the server's answer is not a verification (${error.message})`));
    return null;
  }
  if (mine !== generation) return null;
  renderChecks(box, result);
  card.dataset.verdict = verdictOf(result);
  return result;
}

function verdictOf(result) {
  if (result.ok) return 'verified';
  if (result.checks.some((check) => check.ok === false)) return 'failed';
  return 'unchecked';
}

function renderChecks(box, result) {
  const where = result.node ? `checked by this server against node ${result.node}${result.node_redacted ? ' (URL shortened)' : ''}`
    : 'checked by this server, without a chain node';
  const verdict = verdictOf(result);
  const failed = result.checks.filter((check) => check.ok === false).map((check) => check.name);
  const unchecked = result.checks.filter((check) => check.ok === null).length;
  const words = { verified: 'Verified: every check passed', failed: `NOT VERIFIED: failed ${failed.join(', ')}`,
                  unchecked: `Not verified: ${unchecked} check${unchecked > 1 ? 's' : ''} not made` };
  const head = el('p', { class: `check-verdict verdict-${verdict}` }, el('strong', {}, words[verdict]), ` (${where})`);
  const notes = [];
  if (result.chain_unchecked) notes.push(el('p', { class: 'chain-unchecked' }, result.chain_unchecked));
  if (result.status && result.status.revoked_since_block) notes.push(el('p', { class: 'problem' }, `The device was revoked in block ${result.status.revoked_since_block}.`));
  if (result.status && result.status.open_flags && result.status.open_flags.length) notes.push(el('p', { class: 'problem' }, `Open dispute flags: ${result.status.open_flags.join(', ')}.`));
  const rows = result.checks.map((check) => el('tr', { class: 'check', dataset: { name: check.name, ok: String(check.ok) } },
    el('td', { class: 'mark' }, MARKS[check.ok]), el('td', { class: 'name' }, check.name), el('td', { class: 'detail' }, check.detail)));
  const table = el('table', { class: 'check-table' },
    el('caption', {}, `Verification checks (${where})`),
    el('thead', {}, el('tr', {}, el('th', {}, 'result'), el('th', {}, 'check'), el('th', {}, 'detail'))),
    el('tbody', {}, ...rows));
  box.replaceChildren(head, ...notes, table);
  box.dataset.node = result.node || '';
  if (currentFile) showTrust(currentFile, result);
}

let currentFile = null;

function summarise(file, matches, results) {
  const done = results.filter(Boolean);
  const verified = done.filter((result) => result.ok).length;
  const failed = done.filter((result) => verdictOf(result) === 'failed').length;
  const node = done.length && done[0].node ? ` against node ${done[0].node}` : ' without a chain node';
  const count = `${matches.length} certificate${matches.length > 1 ? 's' : ''} matched ${file.name}`;
  if (verified) setVerdict('verified', `${count}; ${verified} verified by this server${node}. Re-check it yourself (below).`);
  else if (failed) setVerdict('failed', `${count}; ${failed} FAILED verification on this server${node}.`);
  else setVerdict('unchecked', `${count}, but none is verified: checks were not made${node}.`);
}

function showTrust(file, result) {
  const box = document.getElementById('trust');
  box.hidden = false;
  const origin = window.location.origin;
  const node = result && result.node && !result.node_redacted ? result.node : 'NODE_URL';
  const registry = result && result.registry ? result.registry : 'REGISTRY_ADDRESS';
  document.getElementById('command').textContent =
    `rosvd query ${shellQuote(file.name.startsWith('-') ? `./${file.name}` : file.name)} --url ${shellQuote(origin)}`
    + ` --rpc ${shellQuote(node)} --registry ${shellQuote(registry)}`;
  document.getElementById('trust-note').textContent = result
    ? (result.node
      ? `The checks above were made by this server against the chain node ${result.node}; it trusts the registry`
        + ` ${result.registry} on chain ${result.chain_id}. A server can lie about both: use a node and a registry`
        + ' address you trust (the ones below are this server\'s).'
      : 'This server joined no chain, so it made only the offline checks; nothing is verified without a chain'
        + ' node. Use a node and the registry address you trust.')
    : 'The matches and their distances are this server\'s answer; rosvd query recomputes the hash and the'
      + ' fingerprint from your file and checks every proof bundle on your machine.';
}

function drawPlot(threshold, matches) {
  const box = document.getElementById('plot-box');
  const plot = document.getElementById('plot');
  box.hidden = false;
  const { width, height, left, right, top, bottom, max } = PLOT;
  const x = (distance) => left + (Math.min(Math.max(distance, 0), max) / max) * (width - left - right);
  const axisY = height - bottom;
  plot.dataset.threshold = String(threshold);
  plot.replaceChildren(
    svg('rect', { class: 'match-zone', x: left, y: top, width: x(threshold) - left, height: axisY - top }),
    svg('line', { class: 'axis', x1: left, y1: axisY, x2: width - right, y2: axisY }));
  for (let tick = 0; tick <= 5; tick += 1) {
    const value = tick / 10;
    plot.append(svg('line', { class: 'tick', x1: x(value), y1: axisY, x2: x(value), y2: axisY + 5 }),
                svg('text', { class: 'tick-label', x: x(value), y: axisY + 18, 'text-anchor': 'middle' }, value.toFixed(1)));
  }
  plot.append(svg('text', { class: 'axis-label', x: width - right, y: height - 2, 'text-anchor': 'end' }, 'fingerprint distance'),
              svg('line', { class: 'threshold', x1: x(threshold), y1: top - 6, x2: x(threshold), y2: axisY, 'data-distance': threshold }),
              svg('text', { class: 'threshold-label', x: x(threshold) + 4, y: top + 4 }, `threshold ${threshold.toFixed(4)} (${Math.round(threshold * 256)}/256)`));
  if (matches.length === 0) {
    plot.append(svg('text', { class: 'empty', x: (left + width - right) / 2, y: (top + axisY) / 2 + 8, 'text-anchor': 'middle' },
                    'no fingerprint within the threshold'));
  }
  const rows = Math.max(matches.length, 1);
  matches.forEach((match, index) => {
    const y = top + 14 + (index + 0.5) * ((axisY - top - 14) / rows);
    const point = svg('circle', { class: `point${match.exact ? ' exact' : ''}`, cx: x(match.distance), cy: y, r: 6,
                                  'data-certificate-id': match.certificate_id, 'data-distance': match.distance });
    point.append(svg('title', {}, `#${index + 1}: distance ${match.distance.toFixed(4)}${match.exact ? ' (exact bytes)' : ''}`));
    plot.append(point, svg('text', { class: 'point-label', x: x(match.distance) + 9, y: y + 4 }, `#${index + 1}`));
  });
}

function pick(file) {
  if (!file) return;
  currentFile = file;
  lookUp(file);
}

document.addEventListener('DOMContentLoaded', () => {
  for (const node of document.querySelectorAll('.origin')) node.textContent = window.location.origin;
  const input = document.getElementById('file');
  const drop = document.getElementById('drop');
  input.addEventListener('change', () => pick(input.files[0]));
  for (const name of ['dragenter', 'dragover']) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add('over'); });
  }
  for (const name of ['dragleave', 'drop']) drop.addEventListener(name, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => { event.preventDefault(); pick(event.dataTransfer.files[0]); });
  document.body.dataset.ready = 'true';
});
