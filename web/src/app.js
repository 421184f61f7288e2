// The try-it page: posts the sentence to the function's HTTP route (seed A's API shape) and shows the answer.
(function () {
  const COLORS = { happy: 'bg-amber-400', sad: 'bg-sky-500', angry: 'bg-red-500', others: 'bg-slate-400' };
  const $ = (id) => document.getElementById(id);
  let route = '/sentimentAnalysisONNX';

  fetch('/api/info').then((r) => (r.ok ? r.json() : null)).then((info) => {
    const post = info && (info.routes || []).find((r) => r.method === 'POST' || r.method === 'ANY');
    if (post) route = post.path;
    $('endpoint').textContent = 'POST ' + route;
  }).catch(() => { $('endpoint').textContent = 'POST ' + route; });

  function showError(text) {
    $('error').textContent = text;
    $('error').classList.remove('hidden');
    $('result').classList.add('hidden');
  }

  $('form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const sentence = $('sentence').value;
    $('error').classList.add('hidden');
    if (!sentence.trim()) { showError('Please type a sentence first.'); return; }
    $('submit').disabled = true;
    const t0 = performance.now();
    try {
      const res = await fetch(route, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                       body: JSON.stringify({ sentence }) });
      const ms = performance.now() - t0;
      let body = null;
      try { body = await res.json(); } catch (e) { /* not JSON */ }
      if (!res.ok) {
        const msg = body && (body.error || body.message) ? (body.error || body.message) +
          (body.details ? ': ' + body.details : '') : 'HTTP ' + res.status;
        showError('The function answered ' + res.status + ' — ' + msg);
        return;
      }
      if (!body || !body.details) { showError('Unexpected answer from the function.'); return; }
      $('label').textContent = body.predicted_label;
      $('latency').textContent = ms.toFixed(1) + ' ms';
      const bars = $('bars');
      bars.replaceChildren();
      Object.entries(body.details).sort((a, b) => b[1] - a[1]).forEach(([name, p]) => {
        const row = document.createElement('div');
        row.dataset.label = name;
        row.innerHTML = '<div class="flex justify-between text-sm mb-1"><span class="capitalize"></span>' +
          '<span class="font-mono"></span></div><div class="h-3 rounded-full bg-slate-100 overflow-hidden">' +
          '<div class="h-3 rounded-full"></div></div>';
        row.querySelector('span.capitalize').textContent = name;
        row.querySelector('span.font-mono').textContent = (100 * p).toFixed(1) + '%';
        const bar = row.querySelector('.h-3 .h-3');
        bar.className = 'h-3 rounded-full ' + (COLORS[name] || 'bg-indigo-500');
        bar.style.width = (100 * p).toFixed(1) + '%';
        bars.appendChild(row);
      });
      $('result').classList.remove('hidden');
    } catch (e) {
      showError('Could not reach the server: ' + e.message);
    } finally {
      $('submit').disabled = false;
    }
  });
})();
