// app.js - the lgmsd page: pick a model, send an image (or a CT volume), show what the
// daemon answers. Plain JavaScript, no dependencies; every request goes to this origin.
'use strict';

const $ = (id) => document.getElementById(id);

const state = {
  models: [],
  model: null,                                    // the selected entry of /v1/models
  file: null,                                     // the file being segmented
  key: sessionStorage.getItem('lgmsd-key') || '',
  seq: 0,                                         // answers to older requests are dropped
  job: null,                                      // the volume job being followed
  urls: [],                                       // object URLs to revoke
};

// ---------------------------------------------------------------- talking to the daemon

class Problem extends Error {
  constructor(status, body, retryAfter) {
    super(body.detail || body.title || 'HTTP ' + status);
    this.status = status;
    this.title = body.title || 'Error ' + status;
    this.detail = body.detail || '';
    this.retryAfter = retryAfter;
  }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.key) headers.set('Authorization', 'Bearer ' + state.key);
  let res;
  try {
    res = await fetch(path, { ...options, headers });
  } catch (e) {
    throw new Problem(0, { title: 'The server cannot be reached', detail: String(e.message || e) });
  }
  if (res.ok) return res;
  let body = {};
  try { body = await res.json(); } catch (e) { /* not problem+json */ }
  const problem = new Problem(res.status, body, res.headers.get('Retry-After'));
  if (res.status === 401) askForKey(state.key ? 'That key was not accepted.' : 'This server needs an API key.');
  throw problem;
}

// ---------------------------------------------------------------- messages

function say(text) { $('status').textContent = text; }

function showError(e) {
  const p = e instanceof Problem ? e : new Problem(0, { title: 'Something went wrong', detail: String(e) });
  let detail = p.detail;
  if (p.status === 503) detail += ' The server is busy: try again in ' + (p.retryAfter || 'a few') + ' s.';
  if (p.status === 413) detail += ' The file is larger than this server accepts.';
  $('error-title').textContent = p.title + (p.status ? ' (' + p.status + ')' : '');
  $('error-detail').textContent = detail;
  $('error').hidden = false;
  say('');
}

function clearError() { $('error').hidden = true; }

function askForKey(why) {
  $('key-why').textContent = why;
  $('key-section').hidden = false;
  $('key').focus();
}

// ---------------------------------------------------------------- models

function describe(m) {
  const kind = m.spatial_dims === 3 ? '3-D (CT volumes)' : '2-D (images)';
  const size = m.spatial_dims === 3
    ? m.input.depth + '×' + m.input.height + '×' + m.input.width + ' patches'
    : m.input.width + '×' + m.input.height;
  return kind + ', ' + size + ', classes: ' + (m.classes.join(', ') || '—');
}

function selectModel(name) {
  state.model = state.models.find((m) => m.name === name) || state.models[0];
  const m = state.model;
  $('model-info').textContent = describe(m);
  $('banner').hidden = !m.demonstration;
  $('banner').textContent = m.demonstration
    ? 'Demonstration model — not for clinical use. Its weights were trained on synthetic phantoms.' : '';
  const volumes = m.spatial_dims === 3;
  $('file-label').textContent = volumes ? 'Choose a CT volume (NIfTI .nii or .nii.gz)'
    : 'Choose an image (PNG, JPEG or DICOM)';
  $('file').accept = volumes ? '.nii,.gz,application/gzip' : '.png,.jpg,.jpeg,.dcm,image/png,image/jpeg,application/dicom';
  $('controls-2d').hidden = volumes;
  $('threshold').value = m.threshold || 0.5;
  $('threshold-out').textContent = Number($('threshold').value).toFixed(2);
}

async function loadModels() {
  try {
    const res = await api('/v1/models');
    const body = await res.json();
    state.models = body.models;
    const select = $('model');
    select.replaceChildren(...state.models.map((m) => new Option(m.name + (m.default ? ' (default)' : ''), m.name)));
    select.disabled = false;
    select.value = body.default || state.models[0].name;
    selectModel(select.value);
    $('key-section').hidden = true;
    say('Ready. Choose a file.');
  } catch (e) {
    if (!(e instanceof Problem && e.status === 401)) showError(e);
  }
}

// ---------------------------------------------------------------- images

function objectUrl(blob) {
  const url = URL.createObjectURL(blob);
  state.urls.push(url);
  return url;
}

function releaseUrls() {
  for (const url of state.urls) URL.revokeObjectURL(url);
  state.urls = [];
}

function pngBlob(b64) {
  const raw = atob(b64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return new Blob([bytes], { type: 'image/png' });
}

function contentType(file) {
  if (/\.dcm$/i.test(file.name) || file.type === 'application/dicom') return 'application/dicom';
  if (file.type === 'image/png' || file.type === 'image/jpeg') return file.type;
  return 'application/octet-stream'; // the daemon tells the format by its bytes
}

function fillClasses(classes) {
  const rows = classes.map((c) => {
    const tr = document.createElement('tr');
    const cells = [c.name, c.pixels.toLocaleString('en'), (100 * c.fraction).toFixed(2) + ' %',
      c.area_mm2 === undefined ? '—' : c.area_mm2.toFixed(1)];
    cells.forEach((text, i) => {
      const td = document.createElement(i ? 'td' : 'th');
      if (!i) td.scope = 'row';
      td.textContent = text;
      tr.append(td);
    });
    return tr;
  });
  $('classes').tBodies[0].replaceChildren(...rows);
}

async function segmentImage() {
  const file = state.file;
  if (!file || !state.model) return;
  const seq = ++state.seq;
  clearError();
  say('Segmenting ' + file.name + '…');
  const query = new URLSearchParams({
    outputs: 'mask,overlay', threshold: $('threshold').value, alpha: $('alpha').value,
  });
  try {
    const res = await api('/v1/models/' + encodeURIComponent(state.model.name) + '/segment?' + query, {
      method: 'POST', headers: { 'Content-Type': contentType(file) }, body: file,
    });
    const reply = await res.json();
    if (seq !== state.seq) return; // a newer request is on its way
    releaseUrls();
    const dicom = reply.input && reply.input.format === 'dicom';
    $('img-original').closest('figure').hidden = dicom; // a browser cannot show DICOM itself
    if (!dicom) $('img-original').src = objectUrl(file);
    const overlay = pngBlob(reply.overlay.base64), mask = pngBlob(reply.mask.base64);
    $('img-overlay').src = objectUrl(overlay);
    $('img-mask').src = objectUrl(mask);
    for (const img of ['img-original', 'img-overlay', 'img-mask']) $(img).style.aspectRatio = reply.width + ' / ' + reply.height;
    $('dl-overlay').href = objectUrl(overlay);
    $('dl-mask').href = objectUrl(mask);
    $('dl-json').href = objectUrl(new Blob([JSON.stringify(reply, null, 2)], { type: 'application/json' }));
    fillClasses(reply.classes);
    const t = reply.timings_ms;
    $('timings').textContent = reply.width + '×' + reply.height + ' ' + reply.input.format.toUpperCase()
      + ', threshold ' + reply.threshold.toFixed(2) + ' — inference ' + t.inference.toFixed(0) + ' ms, total '
      + t.total.toFixed(0) + ' ms';
    $('result').hidden = false;
    $('job').hidden = true;
    say('Done: ' + file.name + '.');
  } catch (e) {
    if (seq === state.seq) showError(e);
  }
}

// ---------------------------------------------------------------- volumes

function fillJobClasses(classes) {
  const rows = classes.map((c) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = c.name;
    const v = document.createElement('td');
    v.textContent = c.voxels.toLocaleString('en');
    const ml = document.createElement('td');
    ml.textContent = c.ml.toFixed(1);
    tr.append(th, v, ml);
    return tr;
  });
  $('job-classes').tBodies[0].replaceChildren(...rows);
  $('job-classes').hidden = false;
}

function showJob(doc) {
  const p = doc.progress;
  const bar = $('job-progress');
  if (p.patches_total > 0) {
    bar.max = p.patches_total;
    bar.value = p.patches_done;
  } else {
    bar.removeAttribute('value'); // not started: indeterminate
  }
  $('job-state').textContent = doc.state + (p.patches_total ? ' — ' + p.patches_done + ' of ' + p.patches_total
    + ' patches' : '');
  $('job-cancel').hidden = doc.state !== 'queued' && doc.state !== 'running';
}

async function followJob(id, seq) {
  while (seq === state.seq) {
    let doc;
    try {
      doc = await (await api('/v1/jobs/' + id)).json();
    } catch (e) {
      if (seq === state.seq) showError(e);
      return;
    }
    if (seq !== state.seq) return;
    showJob(doc);
    if (doc.state === 'done') {
      releaseUrls();
      const montage = pngBlob(doc.result.montage.base64);
      $('job-montage').src = objectUrl(montage);
      $('job-montage-fig').hidden = false;
      fillJobClasses(doc.result.classes);
      const raw = atob(doc.result.labels.base64);
      const bytes = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
      $('dl-labels').href = objectUrl(new Blob([bytes], { type: 'application/gzip' }));
      $('dl-labels').hidden = false;
      say('Done: ' + state.file.name + '.');
      return;
    }
    if (doc.state === 'failed') {
      showError(new Problem(doc.error.status || 0, doc.error));
      return;
    }
    if (doc.state === 'cancelled') {
      say('The job was cancelled.');
      return;
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

async function segmentVolume() {
  const file = state.file;
  const seq = ++state.seq;
  clearError();
  $('result').hidden = true;
  $('job').hidden = false;
  $('job-montage-fig').hidden = true;
  $('job-classes').hidden = true;
  $('dl-labels').hidden = true;
  say('Uploading ' + file.name + '…');
  try {
    const res = await api('/v1/models/' + encodeURIComponent(state.model.name) + '/volumes', {
      method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: file,
    });
    const doc = await res.json();
    state.job = doc.id;
    showJob(doc);
    say('Segmenting ' + file.name + ' (job ' + doc.id.slice(0, 8) + '…)');
    await followJob(doc.id, seq);
  } catch (e) {
    if (seq === state.seq) showError(e);
  }
}

async function cancelJob() {
  if (!state.job) return;
  try {
    await api('/v1/jobs/' + state.job, { method: 'DELETE' });
    say('Cancelling…');
  } catch (e) {
    showError(e);
  }
}

// ---------------------------------------------------------------- wiring

function take(file) {
  if (!file) return;
  state.file = file;
  if (state.model && state.model.spatial_dims === 3) segmentVolume();
  else segmentImage();
}

let rerun = 0;
function slider(id, digits) {
  $(id).addEventListener('input', () => {
    $(id + '-out').textContent = Number($(id).value).toFixed(digits);
    clearTimeout(rerun);
    rerun = setTimeout(segmentImage, 150); // one request once the slider rests
  });
}

function init() {
  $('model').addEventListener('change', (e) => selectModel(e.target.value));
  $('file').addEventListener('change', (e) => take(e.target.files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    take(e.dataTransfer.files[0]);
  });
  slider('threshold', 2);
  slider('alpha', 2);
  $('zoom').addEventListener('input', () => {
    $('zoom-out').textContent = $('zoom').value + '×';
    $('views').style.setProperty('--zoom', $('zoom').value);
  });
  $('job-cancel').addEventListener('click', cancelJob);
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.key = $('key').value.trim();
    sessionStorage.setItem('lgmsd-key', state.key);
    clearError();
    loadModels().then(() => { if (state.file && state.models.length) take(state.file); });
  });
  loadModels();
}

init();
