// The home page: upload by drop or file picker, and this browser's recent tables.
(() => {
  'use strict';
  const fr = document.documentElement.lang === 'fr';
  const drop = document.getElementById('drop');
  const input = document.getElementById('file');
  const status = document.getElementById('upload-status');

  async function upload(file) {
    if (!file) return;
    status.textContent = (fr ? 'Envoi de ' : 'Sending ') + file.name + '…';
    const form = new FormData();
    form.append('file', file);
    try {
      const r = await fetch('/upload', { method: 'POST', body: form });
      const body = await r.json();
      if (!body.endpoint) throw new Error(body.error || r.statusText);
      const id = body.endpoint.split('/').pop();
      location.href = '/explore/' + id + '?lang=' + document.documentElement.lang;
    } catch (e) {
      status.textContent = (fr ? 'Échec : ' : 'Failed: ') + e.message;
    }
  }

  input.addEventListener('change', () => upload(input.files[0]));
  drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', e => {
    e.preventDefault();
    drop.classList.remove('over');
    upload(e.dataTransfer.files[0]);
  });

  // source tells apart tables of the same name: host and path of the file.
  function source(url) {
    const s = document.createElement('span');
    s.className = 'src';
    try {
      const u = new URL(url);
      const where = u.host + decodeURIComponent(u.pathname.replace(/\/[^/]*$/, '/'));
      s.textContent = where.length > 60 ? where.slice(0, 28) + '…' + where.slice(-28) : where;
      s.title = url;
    } catch { /* an upload has no URL */ }
    return s;
  }

  const list = document.getElementById('recent');
  let recent = [];
  try { recent = JSON.parse(localStorage.getItem('csvapi.recent') || '[]'); } catch { /* storage off */ }
  const when = new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: 'medium', timeStyle: 'short' });
  for (const r of recent) {
    if (!/^[0-9a-f]{32}$/.test(r.id)) continue;
    const a = document.createElement('a');
    a.href = '/explore/' + r.id;
    a.textContent = r.title || r.id;
    const t = document.createElement('span');
    t.className = 'when';
    t.textContent = when.format(new Date(r.at));
    const li = document.createElement('li');
    li.append(a, source(r.url), t);
    list.append(li);
  }
})();
