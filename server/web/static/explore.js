// The explore page: names the tab after the file, remembers it in this
// browser's recent list (the server keeps no public listing), and keeps the
// view when the language is switched.
(() => {
  'use strict';
  const el = document.getElementById('table');
  if (!el) return;
  el.addEventListener('csvapi-load', e => {
    const { id, title, general_infos: gi } = e.detail;
    if (title) document.title = title + ' — csvapi';
    if (el.getAttribute('mode') !== 'explore') return;
    try {
      const list = JSON.parse(localStorage.getItem('csvapi.recent') || '[]').filter(r => r.id !== id);
      list.unshift({ id, title, url: (gi && gi.url) || '', at: Date.now() });
      localStorage.setItem('csvapi.recent', JSON.stringify(list.slice(0, 10)));
    } catch { /* storage may be off: the list is a convenience */ }
  });
  for (const a of document.querySelectorAll('a.lang')) {
    a.addEventListener('click', () => {
      const p = new URLSearchParams(location.search);
      p.set('lang', a.dataset.lang);
      a.href = location.pathname + '?' + p;
    });
  }
})();
