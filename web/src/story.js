// The story tab: streams /v1/completions (OpenAI's Server-Sent Events) into the page as the model writes, and
// switches between the page's tabs.
(function () {
  const $ = (id) => document.getElementById(id);

  document.querySelectorAll('.tab').forEach((tab) => tab.addEventListener('click', () => {
    document.querySelectorAll('.tab').forEach((t) => {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.className = 'tab rounded-lg px-4 py-2 text-sm font-medium ' +
        (on ? 'bg-indigo-600 text-white' : 'bg-white text-slate-600 border border-slate-200');
      $(t.dataset.panel).classList.toggle('hidden', !on);
    });
  }));

  function showError(text) {
    $('story-error').textContent = text;
    $('story-error').classList.remove('hidden');
  }

  $('story-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('story-error').classList.add('hidden');
    $('generate').disabled = true;
    const story = $('story');
    const status = $('story-status');
    story.textContent = '';
    $('story-prompt').textContent = $('prompt').value;
    status.textContent = '';
    story.dataset.chunks = '0';
    story.dataset.done = 'false';
    const t0 = performance.now();
    try {
      const res = await fetch('/v1/completions', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: $('prompt').value, temperature: Number($('temperature').value),
                               max_tokens: 256, stream: true }) });
      if (!res.ok) {
        let msg = 'HTTP ' + res.status;
        try { const body = await res.json(); if (body.error && body.error.message) msg = body.error.message; } catch (e) { /* not JSON */ }
        showError('The model answered ' + res.status + ' — ' + msg);
        $('story-result').classList.add('hidden');
        return;
      }
      $('story-result').classList.remove('hidden');
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let pending = '', chunks = 0, firstMs = null, finish = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        let end;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const event = pending.slice(0, end);
          pending = pending.slice(end + 2);
          if (!event.startsWith('data: ')) continue;
          const data = event.slice(6);
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.error) { showError('The model failed: ' + chunk.error.message); continue; }
          const choice = chunk.choices[0];
          if (choice.text) {
            if (firstMs === null) firstMs = performance.now() - t0;
            story.textContent += choice.text;
            story.dataset.chunks = String(++chunks);
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
      const totalMs = performance.now() - t0;
      status.textContent = `${chunks} chunks · first text after ${(firstMs ?? totalMs).toFixed(0)} ms · ` +
        `done after ${totalMs.toFixed(0)} ms · finish_reason ${finish}`;
      story.dataset.firstMs = String(firstMs ?? totalMs);
      story.dataset.totalMs = String(totalMs);
      story.dataset.done = 'true';
    } catch (e) {
      showError('Could not reach the server: ' + e.message);
    } finally {
      $('generate').disabled = false;
    }
  });
})();
