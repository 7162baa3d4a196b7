// The chat page: messages arrive over /ChatSocket; whispers go through an HTTP handler that
// reaches the recipient's tabs through LOGGED_IN_SESSIONS.
(() => {
  const socket = io('/ChatSocket');
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function show(className, from, text) {
    const li = document.createElement('li');
    if (className) li.className = className;
    if (from) {
      const who = document.createElement('span');
      who.className = 'from';
      who.textContent = from;
      li.appendChild(who);
    }
    li.appendChild(document.createTextNode(text));
    $('messages').appendChild(li);
    li.scrollIntoView({ block: 'nearest' });
  }

  socket.on('connect', () => { $('status').textContent = 'live'; });
  socket.on('disconnect', () => { $('status').textContent = 'offline'; });
  socket.on('said', ({ user, text }) => show('', user, text));
  socket.on('whisper', ({ from, text }) => show('whisper', `${from} (whisper)`, text));

  $('say').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('text').value;
    $('error').textContent = '';
    const whisper = /^@(\S+)\s+(.+)$/.exec(text);
    if (whisper) {
      const res = await fetch('/chat/whisper', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, Accept: 'application/json' },
        body: JSON.stringify({ to: whisper[1], text: whisper[2] }),
      });
      const reply = res.headers.get('content-type')?.includes('application/json') ? await res.json() : { error: 'Your session ended; reload the page and log in again.' };
      if (reply.error) $('error').textContent = reply.error;
      else if (!reply.ok) $('error').textContent = `${whisper[1]} is not in the chat right now.`;
      else { show('whisper', `to ${whisper[1]}`, whisper[2]); $('text').value = ''; }
      return;
    }
    const reply = await socket.emitWithAck('say', text);
    if (reply && reply.error) $('error').textContent = reply.error;
    else $('text').value = '';
  });
})();
