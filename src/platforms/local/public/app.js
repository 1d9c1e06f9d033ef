// The local chat page: renders the timeline streamed by the server and posts what is typed.
// Text is turned into DOM nodes, never into HTML, so nothing a person types can run here.
/* global document, EventSource, fetch */
'use strict';

const timeline = document.getElementById('timeline');
const statusLabel = document.getElementById('status');
const composer = document.getElementById('composer');
const input = document.getElementById('input');

// The markdown the bot uses: backslash escapes, **bold**, `code`. Anything else is text.
function renderMarkdown(text, into) {
  let i = 0;
  let plain = '';
  const flush = () => {
    if (plain) into.append(document.createTextNode(plain));
    plain = '';
  };
  while (i < text.length) {
    if (text[i] === '\\' && i + 1 < text.length) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    const mark = text.startsWith('**', i) ? '**' : text[i] === '`' ? '`' : null;
    const end = mark ? text.indexOf(mark, i + mark.length) : -1;
    if (mark && end > i + mark.length - 1) {
      flush();
      const node = document.createElement(mark === '**' ? 'strong' : 'code');
      const inner = text.slice(i + mark.length, end);
      if (mark === '**') renderMarkdown(inner, node);
      else node.textContent = inner;
      into.append(node);
      i = end + mark.length;
      continue;
    }
    plain += text[i];
    i += 1;
  }
  flush();
}

function messageShell(message, author) {
  const row = document.createElement('div');
  row.className = `message ${message.kind === 'user' ? 'user' : 'bot'}`;
  if (message.threadId) row.classList.add('in-thread');
  row.dataset.id = String(message.id);
  if (message.threadId) row.dataset.thread = message.threadId;

  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.textContent = author[0].toUpperCase();
  const content = document.createElement('div');
  const head = document.createElement('div');
  const name = document.createElement('span');
  name.className = 'author';
  name.textContent = author;
  const time = document.createElement('span');
  time.className = 'time';
  time.textContent = new Date(message.time).toLocaleTimeString();
  head.append(name, time);
  content.append(head);
  row.append(avatar, content);
  return { row, content };
}

function render(message) {
  if (message.kind === 'thread') {
    const start = document.createElement('div');
    start.className = 'thread-start';
    start.dataset.thread = message.threadId;
    start.dataset.id = String(message.id);
    start.append('🧵 Thread: ');
    const title = document.createElement('strong');
    renderMarkdown(message.title, title);
    start.append(title);
    return start;
  }
  const { row, content } = messageShell(message, message.kind === 'user' ? 'you' : 'nadabot');
  if (message.kind === 'image') {
    const figure = document.createElement('figure');
    const img = document.createElement('img');
    img.src = message.url;
    img.alt = message.caption;
    img.className = 'grid';
    img.addEventListener('load', () => scrollToEnd());
    const caption = document.createElement('figcaption');
    caption.textContent = message.caption;
    figure.append(img, caption);
    content.append(figure);
  } else {
    const body = document.createElement('div');
    body.className = 'body';
    if (message.kind === 'user') body.textContent = message.text;
    else renderMarkdown(message.text, body);
    content.append(body);
  }
  return row;
}

function scrollToEnd() {
  timeline.scrollTop = timeline.scrollHeight;
}

// EventSource reconnects by itself and sends Last-Event-ID, so nothing is shown twice.
const events = new EventSource('/events');
events.onopen = () => {
  statusLabel.textContent = 'connected';
  statusLabel.dataset.state = 'live';
};
events.onerror = () => {
  statusLabel.textContent = 'reconnecting…';
  statusLabel.dataset.state = 'down';
};
events.onmessage = (event) => {
  const message = JSON.parse(event.data);
  if (timeline.querySelector(`[data-id="${message.id}"]`)) return;
  timeline.append(render(message));
  scrollToEnd();
};

composer.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) return;
  input.value = '';
  const response = await fetch('/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  }).catch(() => null);
  if (!response || !response.ok) {
    statusLabel.textContent = 'could not send; is the bot running?';
    statusLabel.dataset.state = 'down';
    input.value = text;
  }
});
input.focus();
