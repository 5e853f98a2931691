// <csvapi-preview endpoint="https://host/api/<id>"> (or url="https://…/file.csv"):
// a table over a csvapi resource — sort, filter, search, pages — usable from
// any site with one script tag. The explore and embed pages of csvapi are
// this element too (mode="explore" adds facets, profiles, exports, report).
// Values only ever reach the page through textContent and DOM properties.
(() => {
  'use strict';
  const SCRIPT_SRC = document.currentScript ? document.currentScript.src : location.href;

  // Every message in English and in French, side by side, so that no message
  // exists in one language only.
  const MESSAGES = {
    search: ['Search', 'Rechercher'],
    searchAll: ['Search all columns', 'Rechercher dans toutes les colonnes'],
    rows: [(x, y, n) => `Rows ${x}–${y} of ${n}`, (x, y, n) => `Lignes ${x} à ${y} sur ${n}`],
    noRows: ['No row matches.', 'Aucune ligne ne correspond.'],
    first: ['First page', 'Première page'],
    prev: ['Previous', 'Précédente'],
    next: ['Next', 'Suivante'],
    last: ['Last page', 'Dernière page'],
    perPage: ['Rows per page', 'Lignes par page'],
    export: ['Export', 'Exporter'],
    csv: ['CSV (normalized: ISO dates, true/false)', 'CSV (normalisé : dates ISO, true/false)'],
    csvSource: ['CSV as in the source file (its dates, decimals and yes/no words)', 'CSV comme dans le fichier source (ses dates, décimales et oui/non)'],
    excel: ['CSV for Excel (; and decimal comma)', 'CSV pour Excel (; et virgule décimale)'],
    xlsx: ['Excel (XLSX)', 'Excel (XLSX)'],
    json: ['JSON', 'JSON'],
    parquet: ['Parquet', 'Parquet'],
    columns: ['Columns', 'Colonnes'],
    facets: ['Refine', 'Affiner'],
    report: ['About this file', 'À propos du fichier'],
    source: ['Source', 'Source'],
    format: ['Format', 'Format'],
    encoding: ['Encoding', 'Encodage'],
    delimiter: ['Delimiter', 'Séparateur'],
    lines: ['Rows', 'Lignes'],
    rejected: ['Rejected lines', 'Lignes rejetées'],
    seeRejected: ['see them', 'les voir'],
    size: ['Size', 'Taille'],
    fetched: ['Fetched', 'Téléchargé le'],
    profile: ['Profile of', 'Profil de'],
    profileBtn: ['Profile', 'Profil'],
    close: ['Close', 'Fermer'],
    nulls: ['Empty', 'Vides'],
    distinct: ['Distinct values', 'Valeurs distinctes'],
    count: ['Values', 'Valeurs'],
    min: ['Minimum', 'Minimum'],
    max: ['Maximum', 'Maximum'],
    mean: ['Mean', 'Moyenne'],
    median: ['Median', 'Médiane'],
    top: ['Most frequent', 'Les plus fréquentes'],
    histogram: ['Distribution', 'Répartition'],
    more: ['more', 'plus'],
    less: ['less', 'moins'],
    yes: ['yes', 'oui'],
    no: ['no', 'non'],
    empty: ['(empty)', '(vide)'],
    sortBy: ['Sort by', 'Trier par'],
    filter: ['Filter', 'Filtrer'],
    from: ['min', 'min'],
    to: ['max', 'max'],
    any: ['any', 'tous'],
    clear: ['Clear filters', 'Effacer les filtres'],
    loading: ['Loading…', 'Chargement…'],
    queued: ['Waiting for a free slot…', 'En attente d\'une place…'],
    downloading: ['Downloading', 'Téléchargement'],
    converting: ['Reading the file into the database…', 'Lecture du fichier dans la base…'],
    failed: ['The file could not be loaded.', 'Le fichier n\'a pas pu être chargé.'],
    retry: ['Retry', 'Réessayer'],
    notFound: ['This table is unknown or was removed from the cache.', 'Ce tableau est inconnu ou a été retiré du cache.'],
    ops: {
      icontains: ['contains', 'contient'],
      contains: ['contains (exact accents)', 'contient (accents exacts)'],
      exact: ['is', 'est'],
      in: ['is one of', 'parmi'],
      startswith: ['starts with', 'commence par'],
    },
    operator: ['operator', 'opérateur'],
    freeze: ['Frozen columns', 'Colonnes figées'],
    expectNumber: ['A number is expected, such as 20,000 or 1,234.5', 'Un nombre est attendu, par exemple 20 000 ou 1 234,5'],
    badFilter: ['This filter value is not valid for the column.', 'Cette valeur de filtre ne convient pas à la colonne.'],
    invalid_parameter: ['A filter value is not valid.', 'Une valeur de filtre n\'est pas valide.'],
    resize: ['Resize column', 'Redimensionner la colonne'],
    detail: ['Row', 'Ligne'],
    copy: ['Copy', 'Copier'],
    copied: ['Copied', 'Copié'],
    value: ['value', 'valeur'],
    api: ['API', 'API'],
    apiJSON: ['JSON of this view', 'JSON de cette vue'],
    apiCSV: ['CSV of this view (all rows)', 'CSV de cette vue (toutes les lignes)'],
    curl: ['curl', 'curl'],
    iframe: ['Embed with an iframe', 'Intégrer avec une iframe'],
    component: ['Embed with the web component', 'Intégrer avec le composant web'],
    apiDocs: ['API documentation', 'Documentation de l\'API'],
    chart: ['Chart', 'Graphique'],
    chartType: ['Type', 'Type'],
    bar: ['Bars', 'Barres'],
    line: ['Line', 'Courbe'],
    groupBy: ['Group by', 'Regrouper par'],
    measure: ['Measure', 'Mesure'],
    of: ['of', 'de'],
    fns: {
      count: ['Number of rows', 'Nombre de lignes'],
      sum: ['Sum', 'Somme'],
      avg: ['Average', 'Moyenne'],
    },
    by: ['by', 'par'],
    dlSVG: ['Download SVG', 'Télécharger en SVG'],
    dlPNG: ['Download PNG', 'Télécharger en PNG'],
    chartCut: [n => `The ${n} largest groups are shown.`, n => `Les ${n} groupes les plus grands sont affichés.`],
    chartEmbed: ['Embed this chart', 'Intégrer ce graphique'],
    types: {
      string: ['text', 'texte'],
      integer: ['integer', 'entier'],
      number: ['number', 'nombre'],
      date: ['date', 'date'],
      datetime: ['date-time', 'date-heure'],
      boolean: ['yes/no', 'oui/non'],
    },
    hints: {
      forbidden_address: ['csvapi does not fetch private or local addresses.', 'csvapi ne télécharge pas d\'adresses privées ou locales.'],
      not_tabular: ['Check that the address points to the file itself, not to a page describing it.', 'Vérifiez que l\'adresse mène au fichier lui-même et non à une page qui le décrit.'],
      upstream_status: ['The site hosting the file refused it; check the address or try again later.', 'Le site qui héberge le fichier l\'a refusé ; vérifiez l\'adresse ou réessayez plus tard.'],
      upstream_unreachable: ['The site hosting the file did not answer; try again later.', 'Le site qui héberge le fichier n\'a pas répondu ; réessayez plus tard.'],
      too_large: ['The file is larger than this service accepts.', 'Le fichier dépasse la taille acceptée par ce service.'],
      unreadable: ['Try forcing the encoding or delimiter (see the API documentation).', 'Essayez de forcer l\'encodage ou le séparateur (voir la documentation de l\'API).'],
      invalid_url: ['Paste a full address starting with http:// or https://.', 'Collez une adresse complète commençant par http:// ou https://.'],
    },
    linkDown: [(since, why) => `The source file has been unreachable since ${since} (${why}); the table shows its last copy.`, (since, why) => `Le fichier source est injoignable depuis le ${since} (${why}) ; le tableau montre sa dernière copie.`],
    rowsOf: [n => `${n} rows`, n => `${n} lignes`],
    units: [['B', 'kB', 'MB', 'GB'], ['o', 'ko', 'Mo', 'Go']],
    skip: ['Skip to the table', 'Aller au tableau'],
    home: ['Back to the home page', 'Revenir à l\'accueil'],
    sortHint: ['Click to sort; Shift+click to add a sort key', 'Cliquer pour trier ; Maj+clic pour ajouter un critère de tri'],
    showMore: [n => `Show ${n} more`, n => `Afficher ${n} de plus`],
    showLess: ['Show fewer', 'Afficher moins'],
    sorted: [(i, d) => ` (sort ${i}, ${d ? 'descending' : 'ascending'})`, (i, d) => ` (tri ${i}, ${d ? 'décroissant' : 'croissant'})`],
  };
  // pick takes the texts of one language (its index in MESSAGES' pairs).
  const pick = (messages, i) => Object.fromEntries(Object.entries(messages).map(([key, texts]) =>
    [key, Array.isArray(texts) ? texts[i] : pick(texts, i)]));
  const I18N = { en: pick(MESSAGES, 0), fr: pick(MESSAGES, 1) };

  // icontains folds case and accents: what "contains" means to a reader.
  const STRING_OPS = ['icontains', 'contains', 'exact', 'in', 'startswith'];
  const RANGE_OPS = ['gte', 'lte'];
  const KNOWN_OPS = new Set([...STRING_OPS, ...RANGE_OPS, 'less', 'greater', 'lt', 'gt', 'not', 'icontains',
    'notcontains', 'endswith', 'notin', 'between', 'isnull', 'notnull', 'isblank', 'notblank']);
  const VIEW_KEYS = new Set(['q', 'page', 'page_size', '_sort', '_col', 'lang', 'chart', 'chart_x', 'chart_y']);
  const SVG_TAGS = new Set(['svg', 'rect', 'path', 'line', 'text', 'g', 'circle', 'polyline']);
  const LONG = 400;
  const FACET_MAX = 50, FACET_SHOWN = 10;
  // Integer columns named like years are shown without thousands separators.
  const YEAR = /(^|[_ -])(ann[ée]es?|years?|an|birth|naissance|mill[ée]sime|exercice|yr)([_ -]|$)/i;

  // h builds an element: props are DOM properties (textContent, className…),
  // 'aria-*'/'data-*' attributes, or on<event> listeners; children are nodes
  // or strings (text nodes, never parsed).
  function h(tag, props, ...children) {
    const el = SVG_TAGS.has(tag) || tag === 'title' && props && props.svg
      ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false || k === 'svg') continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'textContent') el.textContent = v;
      else if (el instanceof SVGElement) el.setAttribute(k === 'className' ? 'class' : k, v);
      else if (k.includes('-')) el.setAttribute(k, v);
      else el[k] = v;
    }
    for (const c of children.flat(Infinity)) if (c != null) el.append(c);
    return el;
  }

  function fileName(gi) {
    if (gi.filename) return gi.filename;
    try {
      const p = new URL(gi.url).pathname.split('/').filter(Boolean);
      return decodeURIComponent(p[p.length - 1] || gi.url);
    } catch { return gi.url || ''; }
  }

  // parseNumber reads a number typed as the table shows it in lang
  // ("20 000", "1 234,5", "20,000.5") and returns it in the API's form, or
  // null when it is not a number.
  function parseNumber(s, lang) {
    let x = s.replace(/[\s\u00a0\u202f']/g, '');
    if (lang === 'fr' || (/,\d{1,2}$/.test(x) && !x.includes('.'))) x = x.replace(/\.(?=\d{3}(\D|$))/g, '').replace(',', '.');
    else x = x.replace(/,/g, '');
    return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(x) ? x.replace(/^\+/, '') : null;
  }

  let uid = 0;

  // fold lower-cases and strips accents, as the API's search does.
  const fold = s => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();

  // niceStep rounds a raw axis step to 1, 2 or 5 times a power of ten.
  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  class CsvapiPreview extends HTMLElement {
    connectedCallback() {
      if (this.root) return;
      this.root = this.attachShadow({ mode: 'open' });
      const lang = (this.getAttribute('lang') || document.documentElement.lang || navigator.language || 'en').slice(0, 2);
      this.lng = I18N[lang] ? lang : 'en';
      this.t = I18N[this.lng];
      this.mode = this.getAttribute('mode') || 'compact';
      this.full = this.mode === 'explore';
      this.nf = new Intl.NumberFormat(this.lng, { maximumFractionDigits: 20 });
      this.nfPlain = new Intl.NumberFormat(this.lng, { maximumFractionDigits: 20, useGrouping: false });
      this.fieldErrs = new Map();
      this.facetOpen = new Set();
      this.widths = new Map();
      this.frozen = 1;
      this.seq = 0;
      const css = new URL('/static/csvapi.css', this.serverBase());
      this.root.append(h('link', { rel: 'stylesheet', href: css.href }));
      this.box = h('div', { className: 'cv ' + this.mode });
      this.status = h('div', { className: 'cv-status', role: 'status', 'aria-live': 'polite' });
      this.box.append(this.status);
      this.root.append(this.box);
      this.start();
    }

    // syncs tells whether the view lives in the page URL (explore page, or
    // an element with the sync-url attribute).
    syncs() { return this.full || this.hasAttribute('sync-url'); }

    // serverBase is the csvapi origin: the endpoint's, else the script's.
    serverBase() {
      const ep = this.getAttribute('endpoint');
      return ep ? new URL(ep, location.href).href : SCRIPT_SRC;
    }

    async start() {
      const src = this.getAttribute('url');
      let apify = this.getAttribute('apify');
      if (!apify && src && !this.getAttribute('endpoint')) {
        apify = new URL('/apify?url=' + encodeURIComponent(src), SCRIPT_SRC).href;
      }
      this.readState();
      if (this.syncs()) addEventListener('popstate', () => this.fromURL());
      if (apify) {
        const ep = await this.apify(apify);
        if (!ep) return;
        this.endpoint = ep;
      } else {
        this.endpoint = new URL(this.getAttribute('endpoint'), location.href).href.replace(/[?#].*$/, '');
      }
      this.rid = this.endpoint.split('/').pop();
      this.query();
    }

    // apify converts the file, showing the load's progress meanwhile.
    async apify(href) {
      this.say(this.t.loading);
      const known = this.getAttribute('endpoint');
      const done = fetch(new URL(href, location.href)).then(async r => ({ status: r.status, body: await r.json() }))
        .catch(() => ({ status: 0, body: { error: 'Network error' } }));
      let res;
      for (;;) {
        res = await Promise.race([done, new Promise(ok => setTimeout(ok, 400))]);
        if (res) break;
        if (known) await this.progress(new URL(known, location.href).href);
      }
      if (res.status === 202) {
        return await this.waitReady(res.body.endpoint) ? res.body.endpoint : null;
      }
      if (!res.body.ok) {
        this.fail(res.body, true);
        return null;
      }
      return res.body.endpoint;
    }

    // progress shows where the load of endpoint stands; it returns the status.
    async progress(endpoint) {
      let st;
      try {
        const r = await fetch(endpoint + '/status');
        st = await r.json();
      } catch { return null; }
      if (!st.ok) return st;
      const t = this.t;
      if (st.status === 'queued') this.say(t.queued);
      else if (st.status === 'downloading') {
        const p = h('progress', { max: st.bytes_total || 0, value: st.bytes_downloaded });
        if (!st.bytes_total) p.removeAttribute('value');
        this.say(`${t.downloading} ${this.bytes(st.bytes_downloaded)}` +
          (st.bytes_total ? ` / ${this.bytes(st.bytes_total)}` : ''), p);
      } else if (st.status === 'loading') this.say(t.converting, h('progress'));
      return st;
    }

    async waitReady(endpoint) {
      for (;;) {
        const st = await this.progress(endpoint);
        if (st && st.status === 'ready') return true;
        if (st && st.status === 'failed') {
          this.fail(st.error || {}, true);
          return false;
        }
        await new Promise(ok => setTimeout(ok, 500));
      }
    }

    bytes(n) {
      const u = this.t.units;
      let i = 0;
      while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
      return new Intl.NumberFormat(this.lng, { maximumFractionDigits: 1 }).format(n) + ' ' + u[i];
    }

    say(text, ...extra) {
      this.status.className = 'cv-status';
      this.status.replaceChildren(text ? h('p', { textContent: text }) : '', ...extra);
    }

    // fail shows a human error and what to try.
    fail(err, load) {
      let msg = err.message || err.error || this.t.failed;
      // The API speaks English; a bad filter value is said in the page's
      // language, next to its field when we can tell which.
      const key = err.code === 'invalid_parameter' && /^([^:\s]+):/.exec(err.error || '');
      if (key) {
        if (this.lng !== 'en') msg = this.t.invalid_parameter;
        const input = this.thead && [...this.thead.querySelectorAll('input[data-key]')].find(i => i.dataset.key === key[1]);
        if (input) this.fieldError(key[1].slice(0, key[1].lastIndexOf('__')), input, this.t.badFilter);
      }
      const t = this.t, hint = t.hints[err.code], more = [];
      if (load) {
        // The API's message is English: the page says it in its language,
        // keeps the original as a detail, and offers a way forward.
        if (this.lng !== 'en') {
          more.push(h('p', { className: 'detail', lang: 'en', textContent: msg }));
          msg = t.failed;
        }
        more.push(h('p', { className: 'cv-acts' }, h('button', { type: 'button', className: 'cv-retry', textContent: t.retry, onclick: () => location.reload() }),
          this.full ? h('a', { className: 'cv-home', href: '/?lang=' + this.lng, textContent: t.home }) : ''));
      }
      this.status.className = 'cv-status error';
      this.status.replaceChildren(h('p', { className: 'msg', textContent: msg }), hint ? h('p', { textContent: hint }) : '', ...more);
    }

    // readState takes the view from the page URL (explore page) or defaults.
    readState() {
      const size = parseInt(this.getAttribute('page-size'), 10) || (this.full ? 20 : 10);
      this.st = { sort: [], filters: new Map(), q: '', page: 1, size, cols: null, defSize: size };
      // The view comes from the page URL (explore, embed, sync-url) or from
      // the view attribute, a query string like the page's.
      const view = this.getAttribute('view');
      this.pending = this.syncs() || this.mode === 'embed' ? new URLSearchParams(location.search) : view ? new URLSearchParams(view) : null;
    }

    // applyURL interprets the page's query string once the columns are known.
    applyURL() {
      const p = this.pending;
      this.pending = null;
      if (!p) return;
      const st = this.st;
      st.q = p.get('q') || '';
      st.page = Math.max(1, parseInt(p.get('page'), 10) || 1);
      st.size = Math.min(1000, Math.max(1, parseInt(p.get('page_size'), 10) || st.size));
      const chart = p.get('chart') || this.getAttribute('chart') || (this.mode === 'chart' ? 'bar' : '');
      if (chart === 'bar' || chart === 'line') {
        const x = p.get('chart_x') || this.getAttribute('chart-x'), y = p.get('chart_y') || this.getAttribute('chart-y') || 'count';
        st.chart = this.chartConfig(chart, x, y);
      }
      const cols = p.getAll('_col').filter(c => this.types[c]);
      st.cols = cols.length ? cols : null;
      const sort = p.get('_sort');
      if (sort) {
        st.sort = (this.types[sort] ? [sort] : sort.split(',')).filter(Boolean).map(s => {
          const desc = s.startsWith('-') && !this.types[s];
          return { col: desc ? s.slice(1) : s, desc };
        }).filter(s => this.types[s.col]);
      }
      for (const [k, v] of p) {
        if (VIEW_KEYS.has(k)) continue;
        const i = k.lastIndexOf('__');
        if (i > 0 && this.types[k.slice(0, i)] && KNOWN_OPS.has(k.slice(i + 2))) st.filters.set(k, v);
        else if (this.types[k]) st.filters.set(k + '__exact', v);
      }
    }

    // params are the API parameters of the current view (filters, q, sort, columns).
    params() {
      const st = this.st, p = new URLSearchParams();
      for (const [k, v] of st.filters) p.append(k, v);
      if (st.q) p.set('q', st.q);
      if (st.sort.length) p.set('_sort', st.sort.map(s => (s.desc ? '-' : '') + s.col).join(','));
      if (st.cols) for (const c of st.cols) p.append('_col', c);
      return p;
    }

    async query() {
      const seq = ++this.seq;
      const p = this.params();
      p.set('page', this.st.page);
      p.set('page_size', this.st.size);
      const facetCols = this.facetCols || this.facetCandidates || [];
      for (const c of facetCols) p.append('_facet', c);
      if (facetCols.length) p.set('_facet_size', FACET_MAX + 1);
      this.box.setAttribute('aria-busy', 'true');
      let r, body;
      try {
        r = await fetch(this.endpoint + '?' + p);
        body = await r.json();
      } catch {
        body = { ok: false, error: 'Network error' };
      }
      if (seq !== this.seq) return;
      this.box.removeAttribute('aria-busy');
      if (r && r.status === 202) {
        if (await this.waitReady(this.endpoint)) this.query();
        return;
      }
      if (!body.ok) {
        if (r && r.status === 404 && !this.data) body.message = this.t.notFound;
        this.fail(body);
        return;
      }
      this.say('');
      this.render(body);
    }

    render(d) {
      const first = !this.data;
      this.data = d;
      if (first) {
        this.infos = d.columns_infos || {};
        this.types = { rowid: 'integer' };
        for (const [k, v] of Object.entries(this.infos)) this.types[k] = v.type;
        this.allCols = Object.keys(this.infos);
        this.years = new Set(this.allCols.filter(c => this.types[c] === 'integer' && YEAR.test(c)));
        this.applyURL();
        if (this.mode === 'chart') {
          this.buildChartOnly(d.general_infos || {});
          return;
        }
        if (this.full) this.facetCandidates = this.allCols.filter(c => ['string', 'boolean', 'integer'].includes(this.types[c])).slice(0, 12);
        this.build(d.general_infos || {});
        this.dispatchEvent(new CustomEvent('csvapi-load', { bubbles: true, composed: true,
          detail: { id: this.rid, title: fileName(d.general_infos || {}), general_infos: d.general_infos } }));
        const st = this.st;
        if (this.full || st.filters.size || st.q || st.sort.length || st.page > 1 || st.cols || st.size !== st.defSize) {
          this.query(); // the first answer did not know the view (or the facets) yet
          return;
        }
      }
      if (this.full && d.facets && !this.facetCols) {
        const total = d.total || 0;
        // A facet is worth it for short values repeated across rows: at
        // most FACET_MAX distinct, none long (free text), not an identifier.
        this.facetCols = Object.entries(d.facets)
          .filter(([, f]) => !f.truncated && f.values.length > 1 && f.values.length * 2 <= total &&
            f.values.every(v => String(v.value ?? '').length <= 40))
          .map(([c]) => c);
      }
      this.drawBody(d);
      this.drawHead();
      this.drawPager(d);
      if (this.full) { this.drawFacets(d.facets || {}); this.drawExports(); this.drawAPI(); this.drawChart(); }
      if (this.widths.size) this.applyWidths(); else this.freeze();
      this.syncURL();
    }

    // build lays out the parts that do not change from one page to the next.
    build(gi) {
      const t = this.t;
      this.heading = h(this.full ? 'h1' : 'h2', { className: 'cv-title', textContent: fileName(gi) });
      this.search = h('input', { type: 'search', className: 'cv-search', placeholder: t.searchAll, 'aria-label': t.searchAll,
        value: this.st.q, oninput: () => this.later(() => { this.st.q = this.search.value.trim(); this.reset(); }),
        onkeydown: e => { if (e.key === 'Enter') this.later(() => { this.st.q = this.search.value.trim(); this.reset(); }, 0); } });
      const tools = h('div', { className: 'cv-tools' }, h('label', { className: 'cv-searchbox' }, h('span', { className: 'vh', textContent: t.search }), this.search));
      this.table = h('table', { className: 'cv-table' });
      this.thead = h('thead');
      this.tbody = h('tbody', { onkeydown: e => this.keyNav(e), onclick: e => {
        const tr = !e.target.closest('a, button') && e.target.closest('tr');
        if (tr && !tr.querySelector('.cv-none')) this.detail(tr.sectionRowIndex);
      } });
      this.table.append(this.thead, this.tbody);
      this.scroller = h('div', { className: 'cv-scroll', tabIndex: 0, role: 'region', 'aria-label': fileName(gi) }, this.table);
      this.pager = h('nav', { className: 'cv-pager', 'aria-label': t.lines });
      const main = h('div', { className: 'cv-main' }, this.scroller, this.pager);
      if (this.full) {
        this.exports = h('ul', { className: 'cv-menu' });
        this.colsBox = h('div', { className: 'cv-menu' });
        this.drops = [h('details', { className: 'cv-drop' }, h('summary', { textContent: t.columns }), this.colsBox),
          h('details', { className: 'cv-drop cv-export' }, h('summary', { textContent: t.export }), this.exports)];
        this.apiBox = h('div', { className: 'cv-menu cv-apim' });
        this.drops.push(h('details', { className: 'cv-drop cv-api' }, h('summary', { textContent: t.api }), this.apiBox));
        tools.append(...this.drops,
          h('button', { type: 'button', className: 'cv-clear', textContent: t.clear, onclick: () => this.clearAll() }));
        this.closeMenus();
        this.drawColumnChooser();
        this.facets = h('aside', { className: 'cv-facets', 'aria-label': t.facets });
        this.chartBox = h('div', { className: 'cv-chart' });
        this.chartPanel = h('details', { className: 'cv-chartd', open: !!this.st.chart, ontoggle: () => this.toggleChart() },
          h('summary', { textContent: t.chart }), this.chartBox);
        const skip = h('a', { className: 'cv-skip', href: '#', textContent: this.t.skip, onclick: e => { e.preventDefault(); this.scroller.focus(); } });
        this.box.append(skip, this.heading, this.report(gi), tools, this.status, this.chartPanel, h('div', { className: 'cv-body' }, this.facets, main));
      } else {
        this.box.append(this.heading, tools, this.status, main);
      }
    }

    // closeMenus makes the drop-down menus close on Escape, on a click
    // outside them, and when another one opens.
    closeMenus() {
      const close = except => { for (const d of this.drops) if (d !== except && d.open) d.open = false; };
      document.addEventListener('click', e => {
        const path = e.composedPath();
        close(this.drops.find(d => path.includes(d)));
      });
      document.addEventListener('keydown', e => {
        if (e.key !== 'Escape') return;
        const open = this.drops.find(d => d.open);
        if (!open) return;
        close();
        open.querySelector('summary').focus();
      });
      for (const d of this.drops) d.addEventListener('toggle', () => { if (d.open) close(d); });
    }

    later(fn, ms = 350) {
      clearTimeout(this.timer);
      this.timer = setTimeout(fn, ms);
    }

    reset() {
      this.st.page = 1;
      this.query();
    }

    clearAll() {
      this.st.filters.clear();
      this.st.q = '';
      this.search.value = '';
      this.drawHead(true);
      this.reset();
    }

    report(gi) {
      const t = this.t, rows = [];
      const add = (k, ...v) => rows.push(h('dt', { textContent: k }), h('dd', {}, ...v));
      if (gi.url) add(t.source, this.link(gi.url));
      add(t.format, [gi.filetype, gi.compression].filter(Boolean).join(' + '));
      if (gi.encoding) add(t.encoding, gi.encoding);
      if (gi.separator) add(t.delimiter, gi.separator === '\t' ? 'tab' : gi.separator);
      if (gi.total_lines != null) add(t.lines, this.nf.format(gi.total_lines));
      const rej = gi.rejected_rows || 0;
      add(t.rejected, this.nf.format(rej), rej ? [' — ', h('a', { href: this.endpoint + '/rejects', textContent: t.seeRejected })] : '');
      if (gi.size != null) add(t.size, this.bytes(gi.size));
      if (gi.fetched_at) add(t.fetched, new Date(gi.fetched_at).toLocaleString(this.lng));
      const rep = h('details', { className: 'cv-report' }, h('summary', { textContent: t.report }), h('dl', {}, rows));
      this.linkCheck(rep);
      return rep;
    }

    // linkCheck puts a notice before el when the link checker (--checks)
    // finds the source unreachable.
    async linkCheck(el) {
      let lc;
      try {
        lc = (await (await fetch(this.endpoint + '/status')).json()).link_check;
      } catch { return; }
      const since = lc && lc['unreachable-since'];
      if (!since) return;
      const why = lc.error ? lc.error.replace(/_/g, ' ') : 'HTTP ' + lc['final-status-code'];
      el.before(h('p', { className: 'cv-status cv-linkdown', role: 'note',
        textContent: this.t.linkDown(new Date(since).toLocaleString(this.lng), why) }));
    }

    visible() { return this.st.cols || this.allCols; }

    drawColumnChooser() {
      const t = this.t;
      const freeze = h('select', { className: 'cv-freeze', onchange: () => { this.frozen = +freeze.value; this.freeze(); } },
        [0, 1, 2, 3].map(n => h('option', { value: n, textContent: n, selected: n === this.frozen })));
      this.colsBox.replaceChildren(h('label', { className: 'cv-freeze-l' }, t.freeze, freeze), ...this.allCols.map(c => h('label', {},
        h('input', { type: 'checkbox', checked: this.visible().includes(c), onchange: e => {
          const set = new Set(this.visible());
          if (e.target.checked) set.add(c); else set.delete(c);
          if (!set.size) { e.target.checked = true; return; }
          this.st.cols = set.size === this.allCols.length ? null : this.allCols.filter(x => set.has(x));
          this.headCols = null;
          this.query();
        } }), ' ' + c)));
    }

    // drawHead builds the header rows when the columns change, else only
    // refreshes the sort marks (so that a filter input keeps its focus).
    drawHead(force) {
      const cols = this.visible();
      if (force || this.headCols !== cols.join('\0')) {
        this.headCols = cols.join('\0');
        this.ths = new Map();
        const names = h('tr', {}, h('th', { scope: 'col', className: 'rowid', textContent: '#' }));
        const filters = h('tr', { className: 'cv-filters' }, h('td', { className: 'rowid' }));
        for (const c of cols) {
          const th = this.headCell(c);
          this.ths.set(c, th);
          names.append(th);
          filters.append(h('td', {}, this.filterCell(c)));
        }
        this.thead.replaceChildren(names, filters);
      }
      for (const [c, th] of this.ths) {
        const i = this.st.sort.findIndex(s => s.col === c);
        const btn = th.querySelector('.cv-sort');
        const mark = th.querySelector('.cv-mark');
        if (i === 0) th.setAttribute('aria-sort', this.st.sort[0].desc ? 'descending' : 'ascending');
        else th.removeAttribute('aria-sort');
        mark.textContent = i < 0 ? '' : (this.st.sort[i].desc ? '▼' : '▲') + (this.st.sort.length > 1 ? i + 1 : '');
        btn.setAttribute('aria-label', this.t.sortBy + ' ' + c + (i < 0 ? '' : this.t.sorted(i + 1, this.st.sort[i].desc)));
      }
    }

    headCell(c) {
      const type = this.types[c], t = this.t;
      const th = h('th', { scope: 'col', className: 't-' + type },
        h('button', { type: 'button', className: 'cv-sort', title: t.sortHint, onclick: e => this.sortBy(c, e.shiftKey) },
          h('span', { className: 'cv-name', textContent: c }), h('span', { className: 'cv-mark', 'aria-hidden': 'true' }),
          h('span', { className: 'cv-type', textContent: t.types[type] || type })));
      th.append(this.resizer(c, th));
      if (this.full) {
        th.append(h('button', { type: 'button', className: 'cv-prof', title: t.profileBtn + ' ' + c,
          'aria-label': t.profileBtn + ' ' + c, onclick: () => this.profile(c) },
          h('svg', { viewBox: '0 0 12 12', width: 12, height: 12, 'aria-hidden': 'true', focusable: 'false' },
            h('path', { d: 'M1 11V6h2v5zM5 11V1h2v10zM9 11V4h2v7z' }))));
      }
      return th;
    }

    // resizer is the handle at a header's right edge: drag it, or focus it
    // and press the arrows.
    resizer(c, th) {
      const set = w => { this.widths.set(c, Math.max(48, Math.round(w))); this.applyWidths(); };
      return h('button', { type: 'button', className: 'cv-rsz', 'aria-label': this.t.resize + ' ' + c, title: this.t.resize,
        onkeydown: e => {
          const d = e.key === 'ArrowRight' ? 16 : e.key === 'ArrowLeft' ? -16 : 0;
          if (!d) return;
          e.preventDefault();
          set(th.getBoundingClientRect().width + d);
        },
        onclick: e => e.stopPropagation(),
        onpointerdown: e => {
          e.preventDefault();
          const x0 = e.clientX, w0 = th.getBoundingClientRect().width;
          const move = m => set(w0 + m.clientX - x0);
          const up = () => { removeEventListener('pointermove', move); removeEventListener('pointerup', up); };
          addEventListener('pointermove', move);
          addEventListener('pointerup', up);
        } });
    }

    // applyWidths gives the resized columns their width, then re-measures
    // the frozen columns.
    applyWidths() {
      const cols = ['rowid', ...this.visible()];
      for (const tr of this.table.rows) {
        if (tr.cells.length === 1 && tr.cells[0].colSpan > 1) continue;
        [...tr.cells].forEach((cell, i) => {
          const w = this.widths.get(cols[i]);
          cell.style.width = cell.style.minWidth = cell.style.maxWidth = w ? w + 'px' : '';
        });
      }
      this.freeze();
    }

    sortBy(col, add) {
      const s = this.st.sort, i = s.findIndex(x => x.col === col);
      if (add) {
        if (i < 0) s.push({ col, desc: false });
        else if (!s[i].desc) s[i].desc = true;
        else s.splice(i, 1);
      } else if (i === 0 && s.length === 1) {
        if (!s[0].desc) s[0].desc = true; else s.length = 0;
      } else {
        this.st.sort = [{ col, desc: false }];
      }
      this.reset();
    }

    // filterCell returns the controls of a column's filter, by type.
    filterCell(c) {
      const type = this.types[c], t = this.t, f = this.st.filters;
      const set = (key, v) => { if (v === '') f.delete(key); else f.set(key, v); };
      const apply = () => this.later(() => this.reset());
      if (type === 'boolean') {
        const cur = f.get(c + '__exact') || '';
        return h('select', { 'aria-label': t.filter + ' ' + c, onchange: e => { set(c + '__exact', e.target.value); this.later(() => this.reset(), 0); } },
          ...[['', t.any], ['true', t.yes], ['false', t.no]].map(([v, l]) => h('option', { value: v, textContent: l, selected: v === cur })));
      }
      if (type === 'string') {
        let op = STRING_OPS.find(o => f.has(c + '__' + o)) || 'icontains';
        const input = h('input', { type: 'text', value: f.get(c + '__' + op) || '', 'aria-label': t.filter + ' ' + c,
          oninput: () => { set(c + '__' + op, input.value.trim()); apply(); } });
        const sel = h('select', { className: 'cv-op', 'aria-label': t.filter + ' ' + c + ' (' + t.operator + ')', onchange: () => {
          f.delete(c + '__' + op);
          op = sel.value;
          set(c + '__' + op, input.value.trim());
          if (input.value.trim()) apply();
        } }, ...STRING_OPS.map(o => h('option', { value: o, textContent: t.ops[o], selected: o === op })));
        return h('div', { className: 'cv-f' }, sel, input);
      }
      const date = type === 'date' || type === 'datetime';
      const err = h('span', { className: 'cv-ferr', id: 'cv-err-' + (++uid), 'aria-live': 'polite' });
      this.fieldErrs.set(c, err);
      const inputs = RANGE_OPS.map(o => {
        const key = c + '__' + o;
        const alias = f.get(key) ?? f.get(c + '__' + (o === 'gte' ? 'greater' : 'less')) ?? '';
        const shown = date || alias === '' || isNaN(+alias) ? alias : this.nfPlain.format(+alias);
        return h('input', { type: date ? 'date' : 'text', inputMode: date ? null : 'decimal', value: shown, 'data-key': key,
          placeholder: o === 'gte' ? t.from : t.to, 'aria-label': c + ' ' + (o === 'gte' ? t.from : t.to),
          oninput: e => {
            const raw = e.target.value.trim(), v = date || !raw ? raw : parseNumber(raw, this.lng);
            if (v === null) { this.fieldError(c, e.target, t.expectNumber); clearTimeout(this.timer); return; }
            this.fieldError(c, e.target, '');
            set(key, v);
            apply();
          } });
      });
      return h('div', {}, h('div', { className: 'cv-f range' }, inputs), err);
    }

    // fieldError shows msg next to a filter field (or clears it).
    fieldError(col, input, msg) {
      const err = this.fieldErrs.get(col);
      if (!err) return;
      err.textContent = msg;
      if (msg) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', err.id);
      } else {
        for (const i of err.parentElement?.querySelectorAll('input') || []) { i.removeAttribute('aria-invalid'); i.removeAttribute('aria-describedby'); }
      }
    }

    drawBody(d) {
      const cols = d.columns, types = cols.map(c => this.types[c] || 'string');
      const rows = d.rows.map(r => h('tr', {}, ...r.map((v, j) => this.cell(v, types[j], cols[j]))));
      if (!rows.length) rows.push(h('tr', {}, h('td', { className: 'cv-none', colSpan: cols.length, textContent: this.t.noRows })));
      this.tbody.replaceChildren(...rows);
      const firstCell = this.tbody.querySelector('td');
      if (firstCell) firstCell.tabIndex = 0;
    }

    // cell renders one value by its column type; text only, never markup.
    cell(v, type, col) {
      const td = h('td', { tabIndex: -1 });
      if (col === 'rowid') td.className = 'rowid';
      if (v === null || v === undefined) { td.classList.add('null'); return td; }
      switch (type) {
        case 'integer': case 'number':
          td.classList.add('num');
          td.textContent = typeof v === 'number' && col !== 'rowid' && !this.years.has(col) ? this.nf.format(v) : String(v);
          return td;
        case 'boolean':
          td.textContent = v === true ? this.t.yes : v === false ? this.t.no : String(v);
          return td;
        case 'date': case 'datetime':
          td.textContent = this.date(String(v), type === 'datetime');
          td.title = String(v);
          return td;
      }
      const s = String(v);
      if (/^https?:\/\/[^\s]+$/i.test(s)) {
        td.append(h('a', { href: s, rel: 'noopener nofollow', target: '_blank', textContent: s.length > 60 ? s.slice(0, 57) + '…' : s }));
      } else if (s.length > LONG) {
        td.append(...this.marked(s.slice(0, LONG) + '…')); // one line shows less than this; the row detail shows it all
      } else {
        td.append(...this.marked(s));
      }
      return td;
    }

    // marked splits s into text and <mark> nodes around the words of the
    // search, matched as the API does: ignoring case and accents.
    marked(s) {
      const words = this.st.q ? fold(this.st.q).split(/\s+/).filter(Boolean) : [];
      if (!words.length) return [s];
      const f = s.split('').map(c => { const x = fold(c); return x.length === 1 ? x : c; }).join('');
      const spans = [];
      for (const w of words) for (let i = f.indexOf(w); i >= 0; i = f.indexOf(w, i + w.length)) spans.push([i, i + w.length]);
      spans.sort((a, b) => a[0] - b[0]);
      const out = [];
      let at = 0;
      for (const [a, b] of spans) {
        if (b <= at) continue;
        if (a > at) out.push(s.slice(at, a));
        out.push(h('mark', { textContent: s.slice(Math.max(a, at), b) }));
        at = b;
      }
      out.push(s.slice(at));
      return out;
    }

    // date shows an ISO date or timestamp in the page language; dates carry
    // no time zone, so they are read and shown as UTC (no day shift).
    date(s, withTime) {
      const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : s.replace(' ', 'T') + (withTime ? 'Z' : 'T00:00:00Z');
      const d = new Date(iso);
      if (isNaN(d)) return s;
      const opt = { dateStyle: 'medium', timeZone: 'UTC' };
      if (withTime) opt.timeStyle = 'short';
      return new Intl.DateTimeFormat(this.lng, opt).format(d);
    }

    keyNav(e) {
      const td = e.target.closest && e.target.closest('td');
      if (!td) return;
      const tr = td.parentElement;
      let next;
      switch (e.key) {
        case 'ArrowRight': next = td.nextElementSibling; break;
        case 'ArrowLeft': next = td.previousElementSibling; break;
        case 'ArrowDown': next = tr.nextElementSibling && tr.nextElementSibling.children[td.cellIndex]; break;
        case 'ArrowUp': next = tr.previousElementSibling && tr.previousElementSibling.children[td.cellIndex]; break;
        case 'Home': next = tr.firstElementChild; break;
        case 'Enter': this.detail(tr.sectionRowIndex); break;
        case 'c': case 'C':
          if (!(e.ctrlKey || e.metaKey) || String(getSelection()) || (this.root.getSelection && String(this.root.getSelection()))) return;
          this.copy(this.raw(this.data.rows[tr.sectionRowIndex]?.[td.cellIndex]));
          break;
        case 'End': next = tr.lastElementChild; break;
        case 'PageDown': this.go(this.st.page + 1); break;
        case 'PageUp': this.go(this.st.page - 1); break;
        default: return;
      }
      e.preventDefault();
      if (next) {
        for (const x of this.tbody.querySelectorAll('td[tabindex="0"]')) x.tabIndex = -1;
        next.tabIndex = 0;
        next.focus();
      }
    }

    // freeze keeps # and the first this.frozen columns in view when the
    // table scrolls sideways, at offsets measured from the header.
    freeze() {
      const head = this.thead && this.thead.rows[0];
      if (!head) return;
      const n = this.frozen + 1, lefts = [];
      let x = 0;
      for (const c of head.cells) { lefts.push(x); x += c.offsetWidth; }
      for (const tr of this.table.rows) {
        if (tr.cells.length === 1 && tr.cells[0].colSpan > 1) continue;
        [...tr.cells].forEach((c, i) => {
          c.classList.toggle('fz', i < n);
          c.classList.toggle('fz-last', i === n - 1);
          c.style.left = i < n ? lefts[i] + 'px' : '';
        });
      }
    }

    // raw is a value as the API gives it, for copying.
    raw(v) { return v == null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v); }

    // copy puts text on the clipboard, saying so on btn.
    async copy(text, btn) {
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        const ta = h('textarea', { value: text, className: 'vh' });
        this.box.append(ta);
        ta.select();
        document.execCommand('copy');
        ta.remove();
      }
      this.say(this.t.copied);
      setTimeout(() => { if (this.status.textContent === this.t.copied) this.say(''); }, 1500);
      if (btn) {
        btn.textContent = this.t.copied;
        setTimeout(() => { btn.textContent = this.t.copy; }, 1500);
      }
    }

    // openDialog fills the dialog (made on first use) with a titled panel;
    // the close button comes first so that focusing it does not scroll the
    // title out of view.
    openDialog(kind, title, ...body) {
      if (!this.dialog) {
        this.dialog = h('dialog', { className: 'cv-dialog' });
        this.box.append(this.dialog);
      }
      const dlg = this.dialog, id = 'cv-dlg-' + (++uid);
      dlg.className = 'cv-dialog ' + kind;
      dlg.setAttribute('aria-labelledby', id);
      const close = h('button', { type: 'button', className: 'cv-close', textContent: this.t.close, onclick: () => dlg.close() });
      dlg.replaceChildren(h('div', { className: 'cv-dhead' }, h('h2', { id, textContent: title }), close), ...body);
      if (!dlg.open) dlg.showModal();
      dlg.scrollTop = 0;
      close.focus({ preventScroll: true });
      return dlg;
    }

    // detail shows row i of the page vertically: every field with its type
    // and a copy button.
    detail(i) {
      const d = this.data, row = d && d.rows[i];
      if (!row) return;
      const t = this.t, fields = [];
      let num = i + 1;
      d.columns.forEach((c, j) => {
        if (c === 'rowid') { num = row[j]; return; }
        const v = row[j], type = this.types[c] || 'string', shown = this.cell(v, type, c).textContent;
        const full = v == null ? t.empty : type === 'string' ? String(v) : shown;
        const btn = h('button', { type: 'button', className: 'cv-copy', textContent: t.copy, 'aria-label': t.copy + ' ' + c,
          onclick: () => this.copy(this.raw(v), btn) });
        fields.push(h('dt', {}, c, h('small', { textContent: t.types[type] || type })),
          h('dd', { className: v == null ? 'null' : '' }, h('span', { className: 'v', textContent: full }), btn));
      });
      this.openDialog('cv-detail', t.detail + ' ' + this.nfPlain.format(num), h('dl', {}, fields));
    }

    pages() { return Math.max(1, Math.ceil((this.data.total || 0) / this.st.size)); }

    go(page) {
      if (page < 1 || page > this.pages() || page === this.st.page) return;
      this.st.page = page;
      this.query();
    }

    drawPager(d) {
      const t = this.t, st = this.st, n = d.total || 0, last = this.pages();
      const x = n ? (st.page - 1) * st.size + 1 : 0, y = (st.page - 1) * st.size + d.rows.length;
      const btn = (label, text, page, dis) => h('button', { type: 'button', textContent: text, 'aria-label': label,
        title: label, disabled: dis, onclick: () => this.go(page) });
      const size = h('select', { 'aria-label': t.perPage, onchange: e => { st.size = +e.target.value; this.reset(); } },
        ...[10, 20, 50, 100, 500].concat(st.size).filter((v, i, a) => a.indexOf(v) === i).sort((a, b) => a - b)
          .map(v => h('option', { value: v, textContent: v, selected: v === st.size })));
      this.pager.replaceChildren(
        btn(t.first, '«', 1, st.page <= 1), btn(t.prev, '‹ ' + t.prev, st.page - 1, st.page <= 1),
        h('span', { className: 'cv-count', textContent: n ? t.rows(this.nf.format(x), this.nf.format(y), this.nf.format(n)) : t.noRows }),
        btn(t.next, t.next + ' ›', st.page + 1, st.page >= last), btn(t.last, '»', last, st.page >= last),
        h('label', { className: 'cv-size' }, h('span', { textContent: t.perPage + ' ' }), size));
    }

    drawFacets(facets) {
      const t = this.t, boxes = [];
      for (const c of this.facetCols || []) {
        const f = facets[c];
        if (!f || !f.values.length) continue;
        const key = c + '__exact', cur = this.st.filters.get(key);
        const items = f.values.map(v => {
          const val = v.value === null ? null : String(v.value);
          const on = val !== null && cur === val;
          const label = v.value === null ? t.empty : this.types[c] === 'boolean' ? (v.value ? t.yes : t.no) : val;
          return h('li', {}, h('button', { type: 'button', className: 'cv-facet' + (on ? ' on' : ''), 'aria-pressed': String(on),
            onclick: () => {
              if (val === null) this.st.filters.set(c + '__isnull', '1');
              else if (on) this.st.filters.delete(key); else this.st.filters.set(key, val);
              this.drawHead(true);
              this.reset();
            } }, h('span', { textContent: label }), h('span', { className: 'n', textContent: this.nf.format(v.count) })));
        });
        const open = this.facetOpen.has(c), extra = items.length - FACET_SHOWN;
        const more = extra > 0 ? h('button', { type: 'button', className: 'cv-fmore', 'aria-expanded': String(open),
          textContent: open ? t.showLess : t.showMore(extra), onclick: () => {
            if (open) this.facetOpen.delete(c); else this.facetOpen.add(c);
            this.drawFacets(facets);
          } }) : '';
        boxes.push(h('section', {}, h('h3', { textContent: c }), h('ul', {}, open ? items : items.slice(0, FACET_SHOWN)), more));
      }
      if (boxes.length) boxes.unshift(h('h2', { textContent: t.facets }));
      this.facets.hidden = !boxes.length;
      this.facets.replaceChildren(...boxes);
    }

    drawExports() {
      const t = this.t, p = this.params().toString(), q = p ? '?' + p : '';
      const excel = new URLSearchParams(p);
      excel.set('bom', '1'); excel.set('sep', ';'); excel.set('decimal', ',');
      const source = new URLSearchParams(p);
      source.set('values', 'source');
      const items = [['csv', t.csv, 'export.csv' + q], ['csv-source', t.csvSource, 'export.csv?' + source],
        ['excel', t.excel, 'export.csv?' + excel], ['xlsx', t.xlsx, 'export.xlsx' + q],
        ['json', t.json, 'export.json' + q], ['parquet', t.parquet, 'export.parquet' + q]];
      this.exports.replaceChildren(...items.map(([k, label, path]) =>
        h('li', {}, h('a', { href: this.endpoint + '/' + path, className: 'x-' + k, textContent: label }))));
    }

    // drawAPI fills the API panel: URLs of the current view, the curl
    // line, and embed snippets prefilled with this table and view.
    drawAPI() {
      const t = this.t, p = this.params(), base = new URL('/', this.endpoint).href.replace(/\/$/, '');
      const page = new URLSearchParams(p);
      page.set('page', this.st.page);
      page.set('page_size', this.st.size);
      const json = this.endpoint + '?' + page, csv = this.endpoint + '/export.csv' + (p.toString() ? '?' + p : '');
      const view = new URLSearchParams(p);
      view.set('lang', this.lng);
      const attr = s => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
      const title = fileName(this.data.general_infos || {}) || 'csvapi';
      const items = [
        ['json', t.apiJSON, json], ['csv', t.apiCSV, csv], ['curl', t.curl, `curl '${json.replace(/'/g, "'\\''")}'`],
        ['iframe', t.iframe, `<iframe src="${attr(base + '/embed/' + this.rid + '?' + view)}" title="${attr(title)}" width="100%" height="480" loading="lazy"></iframe>`],
        ['component', t.component, `<script src="${attr(base)}/static/csvapi-preview.js" defer></script>\n` +
          `<csvapi-preview endpoint="${attr(this.endpoint)}" lang="${this.lng}"` + (p.toString() ? ` view="${attr(p.toString())}"` : '') + '></csvapi-preview>'],
      ];
      if (this.st.chart) {
        const cv = new URLSearchParams(p);
        for (const [k, v] of Object.entries(this.chartParams())) cv.set(k, v);
        cv.delete('_sort');
        cv.delete('_col');
        items.push(['chart', t.chartEmbed, `<script src="${attr(base)}/static/csvapi-preview.js" defer></script>\n` +
          `<csvapi-preview mode="chart" endpoint="${attr(this.endpoint)}" lang="${this.lng}" view="${attr(cv.toString())}"></csvapi-preview>`]);
      }
      this.apiBox.replaceChildren(...items.map(([k, label, text]) => {
        const area = h('textarea', { className: 'cv-snip s-' + k, readOnly: true, rows: k === 'component' || k === 'iframe' ? 3 : 2, value: text,
          'aria-label': label, onfocus: e => e.target.select() });
        const btn = h('button', { type: 'button', className: 'cv-copy', textContent: t.copy, 'aria-label': t.copy + ' : ' + label,
          onclick: () => this.copy(text, btn) });
        return h('div', { className: 'cv-snipbox' }, h('div', { className: 'cv-sniphead' },
          k === 'json' || k === 'csv' ? h('a', { href: text, target: '_blank', rel: 'noopener', textContent: label }) : h('span', { textContent: label }), btn), area);
      }), h('p', {}, h('a', { href: base + '/docs', target: '_blank', rel: 'noopener', textContent: t.apiDocs })));
    }

    syncURL() {
      if (!this.syncs()) return;
      const p = this.params();
      if (this.st.page > 1) p.set('page', this.st.page);
      if (this.st.size !== this.st.defSize) p.set('page_size', this.st.size);
      for (const [k, v] of Object.entries(this.chartParams())) p.set(k, v);
      const lang = new URLSearchParams(location.search).get('lang');
      if (lang) p.set('lang', lang);
      const q = p.toString(), url = '/' + this.mode + '/' + this.rid + (q ? '?' + q : '');
      // The first answer settles the URL; later changes are steps that
      // Back undoes.
      const step = this.synced;
      this.synced = true;
      if (url === location.pathname + location.search) return;
      if (step) history.pushState(null, '', url); else history.replaceState(null, '', url);
    }

    // fromURL shows the view of the page URL again (Back or Forward).
    fromURL() {
      if (!this.data) return;
      const st = this.st;
      Object.assign(st, { sort: [], filters: new Map(), q: '', page: 1, size: st.defSize, cols: null, chart: null });
      this.pending = new URLSearchParams(location.search);
      this.applyURL();
      this.search.value = st.q;
      this.drawHead(true);
      if (this.colsBox) this.drawColumnChooser();
      if (this.chartPanel) this.chartPanel.open = !!st.chart;
      this.query();
    }

    link(href) {
      return h('a', { href, rel: 'noopener nofollow', target: '_blank', textContent: href });
    }

    // profile opens a dialog with the column's profile over the filtered rows.
    async profile(c) {
      const t = this.t, p = this.params();
      p.delete('_col');
      p.set('_col', c);
      this.openDialog('cv-prof-d', t.profile + ' ' + c, h('p', { textContent: t.loading }));
      let body;
      try { body = await (await fetch(this.endpoint + '/profile?' + p)).json(); } catch { body = { ok: false }; }
      const col = body.ok && body.profile.columns.find(x => x.name === c);
      if (!col) {
        this.openDialog('cv-prof-d', t.profile + ' ' + c, h('p', { textContent: body.error || t.failed }));
        return;
      }
      const dates = col.type === 'date' || col.type === 'datetime';
      const fmt = v => v == null ? '—' : typeof v === 'number' ? (this.years.has(c) ? String(Math.round(v)) : this.nf.format(Math.round(v * 1000) / 1000))
        : dates ? this.date(String(v), col.type === 'datetime') : String(v);
      const stats = [[t.count, col.count], [t.nulls, col.nulls], [t.distinct, (col.distinct_approx ? '≈ ' : '') + fmt(col.distinct)],
        [t.min, col.min], [t.max, col.max], [t.mean, col.mean], [t.median, col.median]].filter(([, v]) => v !== undefined);
      const parts = [h('dl', { className: 'cv-stats' }, stats.map(([k, v]) => [h('dt', { textContent: k }), h('dd', { textContent: fmt(v) })]))];
      // Date bins are a month ("2015-03") or a year, with no end.
      const bin = dates ? v => /^\d{4}-\d{2}$/.test(v) ? new Intl.DateTimeFormat(this.lng, { month: 'short', year: 'numeric', timeZone: 'UTC' })
        .format(new Date(v + '-01T00:00:00Z')) : String(v) : fmt;
      if (col.histogram && col.histogram.length) parts.push(h('h3', { textContent: t.histogram }), this.histogram(col.histogram, bin));
      // "Most frequent" says nothing when every value is (nearly) unique.
      if (col.top && col.top.length && col.top[0].count > 2) {
        parts.push(h('h3', { textContent: t.top }), h('table', { className: 'cv-top' }, h('tbody', {},
          col.top.map(x => h('tr', {}, h('td', { textContent: x.value === null ? t.empty : fmt(x.value) }),
            h('td', { className: 'num', textContent: this.nf.format(x.count) }))))));
      }
      this.openDialog('cv-prof-d', t.profile + ' ' + c + ' (' + (t.types[col.type] || col.type) + ')', ...parts);
    }

    // chartConfig checks a chart's type, group column and measure
    // ("count", "sum:col", "avg:col") against the table; null if unusable.
    chartConfig(type, x, y) {
      const numeric = c => ['integer', 'number'].includes(this.types[c]);
      const cols = this.allCols;
      if (!cols.includes(x)) x = cols.find(c => this.types[c] === 'string') || cols[0];
      const [fn, col] = (y || 'count').split(/:(.*)/s);
      if (!['count', 'sum', 'avg'].includes(fn) || (fn !== 'count' && !numeric(col))) y = 'count';
      return x ? { type: type === 'line' ? 'line' : 'bar', x, y } : null;
    }

    chartParams() {
      const c = this.st.chart;
      return c ? { chart: c.type, chart_x: c.x, chart_y: c.y } : {};
    }

    toggleChart() {
      if (this.chartPanel.open && !this.st.chart) this.st.chart = this.chartConfig('bar', (this.facetCols || [])[0], 'count');
      if (!this.chartPanel.open) this.st.chart = null;
      this.drawChart();
      this.syncURL();
      if (this.apiBox) this.drawAPI();
    }

    // buildChartOnly lays out mode="chart": a title and the chart.
    buildChartOnly(gi) {
      this.heading = h('h2', { className: 'cv-title', textContent: fileName(gi) });
      this.chartBox = h('div', { className: 'cv-chart' });
      if (!this.st.chart) this.st.chart = this.chartConfig(this.getAttribute('chart') || 'bar', this.getAttribute('chart-x'), this.getAttribute('chart-y'));
      this.box.append(this.heading, this.status, this.chartBox);
      this.drawChart();
    }

    // chartForm is the builder: type, group column, measure.
    chartForm() {
      const t = this.t, c = this.st.chart;
      const change = () => {
        const fn = fnSel.value;
        valL.hidden = fn === 'count';
        this.st.chart = this.chartConfig(typeSel.value, xSel.value, fn === 'count' ? 'count' : fn + ':' + valSel.value);
        this.drawChart();
        this.syncURL();
        if (this.apiBox) this.drawAPI();
      };
      const sel = (cls, label, opts, cur) => h('label', {}, h('span', { textContent: label }),
        h('select', { className: cls, onchange: change }, opts.map(([v, l]) => h('option', { value: v, textContent: l, selected: v === cur }))));
      const [fn, col] = c.y.split(/:(.*)/s);
      const nums = this.allCols.filter(x => ['integer', 'number'].includes(this.types[x]));
      const typeL = sel('cv-ctype', t.chartType, [['bar', t.bar], ['line', t.line]], c.type);
      const xL = sel('cv-cx', t.groupBy, this.allCols.map(x => [x, x]), c.x);
      const fnL = sel('cv-cfn', t.measure, ['count'].concat(nums.length ? ['sum', 'avg'] : []).map(f => [f, t.fns[f]]), fn);
      const valL = sel('cv-cval', t.of, nums.map(x => [x, x]), col || nums[0]);
      const typeSel = typeL.lastChild, xSel = xL.lastChild, fnSel = fnL.lastChild, valSel = valL.lastChild;
      valL.hidden = fn === 'count';
      return h('div', { className: 'cv-cform' }, typeL, xL, fnL, valL);
    }

    // drawChart fetches /aggregate for the chart (filters and search
    // included) and draws it, unless nothing it depends on changed.
    async drawChart() {
      const c = this.st.chart;
      if (!this.chartBox) return;
      if (!c) { this.chartBox.replaceChildren(); this.chartKey = ''; return; }
      const p = this.params();
      p.delete('_sort');
      p.delete('_col');
      const [fn, col] = c.y.split(/:(.*)/s), value = fn === 'count' ? 'count' : fn + '_' + col, limit = c.type === 'bar' ? 40 : 1000;
      p.set('group_by', c.x);
      p.set('agg', c.y);
      p.set('_sort', c.type === 'bar' ? '-' + value : c.x);
      p.set('_size', limit);
      const key = p.toString();
      if (key === this.chartKey) return;
      this.chartKey = key;
      const form = this.mode === 'chart' ? '' : this.chartForm();
      let body;
      try { body = await (await fetch(this.endpoint + '/aggregate?' + p)).json(); } catch { body = { ok: false }; }
      if (key !== this.chartKey) return;
      if (!body.ok) {
        this.chartBox.replaceChildren(form, h('p', { className: 'cv-ferr', textContent: body.error || this.t.failed }));
        return;
      }
      const xi = body.columns.indexOf(c.x), yi = body.columns.indexOf(value);
      const points = body.rows.map(r => ({ label: r[xi] == null ? this.t.empty : this.cell(r[xi], this.types[c.x], c.x).textContent, v: +r[yi] || 0 }));
      const t = this.t, title = (fn === 'count' ? t.fns.count : t.fns[fn] + ' ' + t.of + ' ' + col) + ' ' + t.by + ' ' + c.x;
      const svg = this.chartSVG(points, c.type, title);
      const name = (fileName(this.data.general_infos || {}).replace(/\.[^.]*$/, '') || 'chart') + '-' + c.x;
      const svgLink = h('a', { className: 'cv-dl cv-dlsvg', download: name + '.svg', textContent: t.dlSVG,
        href: 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(svg)) });
      const pngLink = h('a', { className: 'cv-dl cv-dlpng', download: name + '.png', textContent: t.dlPNG, 'aria-disabled': 'true' });
      this.chartBox.replaceChildren(form, h('figure', {}, svg,
        body.total > points.length && c.type === 'bar' ? h('figcaption', { textContent: t.chartCut(points.length) }) : ''),
      h('p', { className: 'cv-dls' }, svgLink, pngLink));
      this.png(svgLink.href, svg).then(href => { if (href) { pngLink.href = href; pngLink.removeAttribute('aria-disabled'); } });
    }

    // png renders the SVG (as a data: URL, allowed by the CSP) at twice
    // its size on a canvas.
    png(src, svg) {
      const w = +svg.getAttribute('width'), hgt = +svg.getAttribute('height');
      return new Promise(done => {
        const img = new Image();
        img.onload = () => {
          const cv = document.createElement('canvas');
          cv.width = w * 2;
          cv.height = hgt * 2;
          const g = cv.getContext('2d');
          g.fillStyle = '#fff';
          g.fillRect(0, 0, cv.width, cv.height);
          g.drawImage(img, 0, 0, cv.width, cv.height);
          try { done(cv.toDataURL('image/png')); } catch { done(null); }
        };
        img.onerror = () => done(null);
        img.src = src;
      });
    }

    // chartSVG draws bars or a line with a value axis, every style an
    // attribute so that the downloaded file looks the same.
    chartSVG(points, type, title) {
      const W = 720, H = 380, L = 64, R = 16, T = 34, B = type === 'bar' ? 110 : 50, iw = W - L - R, ih = H - T - B;
      const max = Math.max(0, ...points.map(p => p.v)), min = Math.min(0, ...points.map(p => p.v));
      const step = niceStep((max - min) / 5 || 1), top = Math.ceil(max / step) * step || step, bottom = Math.floor(min / step) * step;
      const y = v => T + ih - ((v - bottom) / (top - bottom)) * ih;
      const compact = new Intl.NumberFormat(this.lng, { notation: 'compact', maximumFractionDigits: 1 });
      const font = { 'font-family': 'system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif', 'font-size': 11, fill: '#161616' };
      const svg = h('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
        'aria-label': title, className: 'cv-csvg' });
      svg.append(h('rect', { x: 0, y: 0, width: W, height: H, fill: '#fff' }),
        h('text', { ...font, x: L, y: 20, 'font-size': 14, 'font-weight': 700, textContent: title }));
      for (let v = bottom; v <= top + step / 2; v += step) {
        svg.append(h('line', { x1: L, x2: W - R, y1: y(v).toFixed(1), y2: y(v).toFixed(1), stroke: v === 0 ? '#161616' : '#d6d6d6' }),
          h('text', { ...font, x: L - 6, y: (y(v) + 4).toFixed(1), 'text-anchor': 'end', textContent: compact.format(v) }));
      }
      const n = Math.max(1, points.length), band = iw / n, every = Math.ceil(n / (type === 'bar' ? 40 : 12));
      const label = (p, i, x) => {
        if (i % every) return;
        const short = p.label.length > 18 ? p.label.slice(0, 17) + '…' : p.label;
        svg.append(type === 'bar'
          ? h('text', { ...font, x: 0, y: 0, 'text-anchor': 'end', transform: `translate(${x.toFixed(1)},${T + ih + 12}) rotate(-45)`, textContent: short })
          : h('text', { ...font, x: x.toFixed(1), y: T + ih + 16, textContent: short,
            'text-anchor': n > 1 && i === 0 ? 'start' : n > 1 && i === n - 1 ? 'end' : 'middle' }));
      };
      const tip = p => h('title', { svg: true, textContent: p.label + ' : ' + this.nf.format(p.v) });
      if (type === 'bar') {
        points.forEach((p, i) => {
          const x = L + i * band, y0 = y(Math.max(0, p.v)), hh = Math.abs(y(p.v) - y(0));
          svg.append(h('rect', { x: (x + band * .1).toFixed(1), y: y0.toFixed(1), width: (band * .8).toFixed(1), height: Math.max(hh, p.v ? 1 : 0).toFixed(1),
            fill: '#000091', className: 'cv-bar' }, tip(p)));
          label(p, i, x + band / 2);
        });
      } else {
        const xs = (i) => L + (n === 1 ? iw / 2 : (i * iw) / (n - 1));
        svg.append(h('polyline', { fill: 'none', stroke: '#000091', 'stroke-width': 2,
          points: points.map((p, i) => xs(i).toFixed(1) + ',' + y(p.v).toFixed(1)).join(' ') }));
        points.forEach((p, i) => {
          if (n <= 60) svg.append(h('circle', { cx: xs(i).toFixed(1), cy: y(p.v).toFixed(1), r: 3, fill: '#000091', className: 'cv-pt' }, tip(p)));
          label(p, i, xs(i));
        });
      }
      return svg;
    }

    // histogram draws the bins as SVG bars, each with its range and count.
    histogram(bins, fmt) {
      const range = b => b.to == null ? fmt(b.from) : `${fmt(b.from)} – ${fmt(b.to)}`;
      const W = 320, H = 120, max = Math.max(1, ...bins.map(b => b.count)), w = W / bins.length;
      const svg = h('svg', { viewBox: `0 0 ${W} ${H + 2}`, width: W, height: H + 2, role: 'img', className: 'cv-hist',
        'aria-label': bins.map(b => `${range(b)} : ${b.count}`).join('; ') });
      bins.forEach((b, i) => {
        const bh = b.count ? Math.max(2, (b.count / max) * H) : 0;
        const r = h('rect', { x: (i * w + 1).toFixed(1), y: (H - bh).toFixed(1), width: (w - 2).toFixed(1), height: bh.toFixed(1) });
        r.append(h('title', { svg: true, textContent: `${range(b)} : ${this.nf.format(b.count)}` }));
        svg.append(r);
      });
      svg.append(h('rect', { x: 0, y: H, width: W, height: 1, class: 'axis' }));
      return h('figure', {}, svg, h('figcaption', { textContent: `${fmt(bins[0].from)} – ${fmt(bins[bins.length - 1].to ?? bins[bins.length - 1].from)}` }));
    }
  }

  if (!customElements.get('csvapi-preview')) customElements.define('csvapi-preview', CsvapiPreview);
})();
