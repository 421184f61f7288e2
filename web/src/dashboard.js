// Live dashboard: polls /api/dashboard every 2 s and redraws cards, charts (Chart.js), alarms and invocations.
(function () {
  const $ = (id) => document.getElementById(id);
  const STATE_CLASS = { OK: 'bg-emerald-100 text-emerald-800', ALARM: 'bg-red-100 text-red-800',
                        INSUFFICIENT_DATA: 'bg-slate-100 text-slate-600' };
  const charts = {};
  let fn = new URLSearchParams(location.search).get('function') || '';

  function chart(id, datasets, opts) {
    if (charts[id]) return charts[id];
    charts[id] = new Chart($(id), {
      type: 'line',
      data: { labels: [], datasets: datasets.map((d) => ({ label: d[0], borderColor: d[1], backgroundColor: d[1],
        data: [], pointRadius: 0, borderWidth: 1.5, tension: 0.2, yAxisID: d[2] || 'y' })) },
      options: Object.assign({ animation: false, responsive: true, interaction: { mode: 'index', intersect: false },
        scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true } },
        plugins: { legend: { labels: { boxWidth: 10 } } } }, opts || {}) });
    return charts[id];
  }

  function fill(c, labels, series) {
    c.data.labels = labels;
    series.forEach((s, i) => { c.data.datasets[i].data = s; });
    c.update('none');
  }

  const ms = (v) => (v == null ? '–' : v.toFixed(2) + ' ms');
  const time = (t) => new Date(t).toLocaleTimeString();
  // A few invocations cost millionths of a dollar: keep three significant digits so the card stays narrow.
  const usd = (v) => (v === 0 ? '$0' : v >= 0.01 ? '$' + v.toFixed(2) : '$' + v.toExponential(2));

  function card(title, value, sub) {
    const d = document.createElement('div');
    d.className = 'bg-white rounded-xl border border-slate-200 p-4';
    d.innerHTML = '<div class="text-xs text-slate-500"></div><div class="text-xl xl:text-2xl font-semibold mt-1 whitespace-nowrap overflow-hidden text-ellipsis"></div><div class="text-xs text-slate-400 mt-1"></div>';
    d.children[0].textContent = title;
    d.children[1].textContent = value;
    d.children[1].title = String(value);
    d.children[2].textContent = sub || '';
    d.dataset.card = title;
    return d;
  }

  function render(data) {
    const sel = $('function');
    const names = data.functions.map((f) => f.name);
    if (sel.options.length !== names.length) {
      sel.replaceChildren(...names.map((n) => new Option(n, n)));
    }
    if (!fn || !names.includes(fn)) fn = names[0] || '';
    sel.value = fn;
    const f = data.functions.find((x) => x.name === fn);
    const t = (f && f.totals) || {};
    $('cards').replaceChildren(
      card('Invocations', t.invocations ?? 0, 'in window'),
      card('Errors', t.errors ?? 0, t.invocations ? (100 * t.errors / t.invocations).toFixed(1) + '% of invocations' : ''),
      card('Throttles', t.throttles ?? 0, ''),
      card('Cold starts', t.cold_starts ?? 0, ''),
      card('Duration p50', ms(t.duration_p50_ms), 'p99 ' + ms(t.duration_p99_ms)),
      card('Concurrency', t.concurrency_max ?? 0, 'max in window'),
      card('Cost', usd(t.cost_usd ?? 0), (f ? f.memory_mb + ' MB · $' + (t.cost_usd ?? 0).toFixed(8) : '')));
    const s = (f && f.series) || [];
    const labels = s.map((b) => time(b.t));
    fill(chart('chart-traffic', [['Invocations', '#6366f1'], ['Errors', '#ef4444'], ['Throttles', '#f59e0b']]), labels,
         [s.map((b) => b.invocations), s.map((b) => b.errors), s.map((b) => b.throttles)]);
    fill(chart('chart-duration', [['p50', '#10b981'], ['p90', '#6366f1'], ['p99', '#ef4444'], ['max', '#94a3b8']]), labels,
         [s.map((b) => b.p50), s.map((b) => b.p90), s.map((b) => b.p99), s.map((b) => b.max)]);
    fill(chart('chart-concurrency', [['Concurrent executions', '#0ea5e9']]), labels, [s.map((b) => b.concurrency)]);
    fill(chart('chart-cold', [['Cold starts', '#8b5cf6'], ['Init ms (avg)', '#f97316', 'y1']],
               { scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true }, y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false } } } }),
         labels, [s.map((b) => b.cold_starts), s.map((b) => (b.cold_starts ? b.init_avg : null))]);

    $('alarms').replaceChildren(...data.alarms.map((a) => {
      const tr = document.createElement('tr');
      tr.className = 'border-t border-slate-100';
      tr.dataset.alarm = a.name;
      tr.innerHTML = '<td class="py-1 pr-4"></td><td class="pr-4 whitespace-nowrap"><span class="rounded px-2 py-0.5 text-xs font-medium"></span></td><td class="pr-4 whitespace-nowrap"></td><td class="text-slate-500"></td>';
      tr.children[0].textContent = a.name;
      const badge = tr.children[1].firstChild;
      badge.textContent = a.state;
      badge.className += ' ' + (STATE_CLASS[a.state] || '');
      tr.children[2].textContent = a.since ? time(a.since) : '';
      tr.children[3].textContent = a.reason || '';
      return tr;
    }));
    $('invocations').replaceChildren(...data.recent.map((r) => {
      const tr = document.createElement('tr');
      tr.className = 'border-t border-slate-100';
      tr.dataset.requestId = r.request_id;
      const cells = [time(r.ts), r.function, r.request_id, ms(r.duration_ms), r.billed_ms + ' ms', r.memory_mb + ' MB',
                     r.max_memory_mb + ' MB', r.init_ms == null ? '' : ms(r.init_ms), r.cost_usd.toFixed(10),
                     r.error ? (r.error_type || 'Error') : 'OK'];
      cells.forEach((c, i) => { const td = document.createElement('td'); td.className = 'py-1 pr-4 whitespace-nowrap'; td.textContent = c;
        if (i === 9 && r.error) td.className += ' text-red-600'; tr.appendChild(td); });
      return tr;
    }));
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  async function poll() {
    try {
      const res = await fetch('/api/dashboard?window=' + $('window').value);
      if (!res.ok) throw new Error('HTTP ' + res.status);
      render(await res.json());
      $('error').classList.add('hidden');
    } catch (e) {
      $('error').textContent = 'Cannot load metrics: ' + e.message;
      $('error').classList.remove('hidden');
    }
  }
  $('function').addEventListener('change', (e) => { fn = e.target.value; poll(); });
  $('window').addEventListener('change', poll);
  poll();
  setInterval(poll, 2000);
})();
