// The local chat page: renders the timeline streamed by the server and posts what is typed,
// reactions and stop presses. Text is turned into DOM nodes, never into HTML, so nothing a
// person types can run here.
/* global document, EventSource, fetch, requestAnimationFrame */
'use strict';

const timeline = document.getElementById('timeline');
const statusLabel = document.getElementById('status');
const composer = document.getElementById('composer');
const input = document.getElementById('input');
const replyTarget = document.getElementById('reply-target');
const replyTitle = document.getElementById('reply-title');
const replyClear = document.getElementById('reply-clear');

// The reactions the bot understands: sample numbers, redraw, stop.
const REACTIONS = ['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣', '6️⃣', '7️⃣', '8️⃣', '9️⃣', '🔟', '🔁', '⏹️'];

// The thread typed replies go to (null: the channel), and each thread's title.
let target = null;
const threadTitles = new Map();

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

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function send(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).catch(() => null);
  if (!response || !response.ok) {
    statusLabel.textContent = 'could not send; is the bot running?';
    statusLabel.dataset.state = 'down';
    return false;
  }
  return true;
}

function messageShell(message, author) {
  const row = element('div', `message ${message.kind === 'user' ? 'user' : 'bot'}`);
  row.dataset.id = String(message.id);
  if (message.threadId) row.dataset.thread = message.threadId;

  const avatar = element('div', 'avatar', author[0].toUpperCase());
  const content = element('div', 'content');
  const head = element('div', 'head');
  head.append(
    element('span', 'author', author),
    element('span', 'time', new Date(message.time).toLocaleTimeString()),
  );
  content.append(head);
  row.append(avatar, content);
  return { row, content };
}

function renderBody(row, text) {
  const body = row.querySelector('.body');
  body.replaceChildren();
  renderMarkdown(text, body);
}

// The stop button under a run's queue line, while the run can still be stopped.
function renderStop(row, stopRunId) {
  row.querySelector('.stop')?.remove();
  if (!stopRunId) return;
  const button = element('button', 'stop', '⏹ Stop');
  button.type = 'button';
  button.addEventListener('click', () => send('/stop', { messageId: Number(row.dataset.id) }));
  row.querySelector('.content').append(button);
}

// Reactions under a message with images: the ones on, and a picker for the rest.
function renderReactionBar(row) {
  const bar = element('div', 'reactions');
  const picker = element('div', 'picker');
  picker.hidden = true;
  for (const emoji of REACTIONS) {
    const choice = element('button', 'pick', emoji);
    choice.type = 'button';
    choice.title = emoji === '🔁' ? 'new samples' : emoji === '⏹️' ? 'stop' : 'favourite';
    choice.addEventListener('click', () => {
      picker.hidden = true;
      react(row, emoji, !reactionsOn(row).has(emoji));
    });
    picker.append(choice);
  }
  const add = element('button', 'add-reaction', '☺+');
  add.type = 'button';
  add.title = 'React';
  add.addEventListener('click', () => (picker.hidden = !picker.hidden));
  bar.append(element('span', 'chips'), add, picker);
  row.querySelector('.content').append(bar);
}

function reactionsOn(row) {
  return new Set(JSON.parse(row.dataset.reactions ?? '[]'));
}

function react(row, emoji, added) {
  send('/reactions', { messageId: Number(row.dataset.id), emoji, added });
}

function showReaction(row, emoji, added) {
  const on = reactionsOn(row);
  if (added) on.add(emoji);
  else on.delete(emoji);
  row.dataset.reactions = JSON.stringify([...on]);
  const chips = row.querySelector('.chips');
  if (!chips) return;
  chips.replaceChildren();
  for (const e of REACTIONS.filter((r) => on.has(r))) {
    const chip = element('button', 'chip', `${e} 1`);
    chip.type = 'button';
    chip.title = 'take the reaction back';
    chip.addEventListener('click', () => react(row, e, false));
    chips.append(chip);
  }
}

function renderMessage(message) {
  const { row, content } = messageShell(message, message.kind === 'user' ? 'you' : 'nadabot');
  for (const file of message.files ?? []) {
    const figure = element('figure');
    const img = element('img', 'grid');
    img.src = file.url;
    img.alt = file.name;
    // an image that loads moves what follows it: keep the newest post in view
    img.addEventListener('load', showNewest);
    figure.append(img);
    content.append(figure);
  }
  const body = element('div', 'body');
  if (message.kind === 'user') body.textContent = message.text;
  else renderMarkdown(message.text, body);
  content.append(body);
  if (message.kind === 'bot') renderStop(row, message.stopRunId);
  if (message.files?.length) renderReactionBar(row);
  return row;
}

// A thread: its title, a reply button, and the posts that follow it.
function renderThread(message) {
  const section = element('section', 'thread');
  section.dataset.thread = message.threadId;
  const start = element('div', 'thread-start');
  start.dataset.id = String(message.id);
  start.append('🧵 Thread: ');
  const title = element('strong');
  renderMarkdown(message.title, title);
  const reply = element('button', 'reply', 'Reply in thread');
  reply.type = 'button';
  reply.addEventListener('click', () => setTarget(message.threadId));
  start.append(title, reply);
  section.append(start);
  threadTitles.set(message.threadId, title.textContent);
  return section;
}

function setTarget(threadId) {
  target = threadId;
  replyTarget.hidden = !threadId;
  replyTitle.textContent = threadId ? (threadTitles.get(threadId) ?? '') : '';
  input.placeholder = threadId
    ? 'Reply: a number trains more, text steers, save, again, stop'
    : 'Message #nadabot — try /nada bronze statue --steps 40';
  input.focus();
}

function place(node, threadId) {
  const section = threadId && timeline.querySelector(`section[data-thread="${threadId}"]`);
  if (section) section.append(node);
  else {
    if (threadId) node.classList.add('in-thread');
    timeline.append(node);
  }
}

// Applies one timeline entry; gives the node it added, if any (edits and reactions add none).
function apply(message) {
  if (message.kind === 'edit' || message.kind === 'reaction') {
    const row = timeline.querySelector(`.message[data-id="${message.target}"]`);
    if (!row) return null;
    if (message.kind === 'reaction') showReaction(row, message.emoji, message.added);
    else {
      renderBody(row, message.text);
      renderStop(row, message.stopRunId);
    }
    return null;
  }
  if (timeline.querySelector(`[data-id="${message.id}"]`)) return null;
  if (message.kind === 'thread') {
    const section = renderThread(message);
    timeline.append(section);
    setTarget(message.threadId);
    return section;
  }
  const row = renderMessage(message);
  place(row, message.threadId);
  return row;
}

// The newest post stays in view. Threads sit under their first message, so a post in an
// older thread can land above later channel messages: scroll to it, not to the page's end.
let newest = null;

let scrollQueued = false;

// Once per frame at most: a reload replays up to 500 messages, each of which would lay out.
function showNewest() {
  if (scrollQueued) return;
  scrollQueued = true;
  requestAnimationFrame(() => {
    scrollQueued = false;
    newest?.scrollIntoView({ block: 'end' });
  });
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
  const added = apply(JSON.parse(event.data));
  if (!added) return;
  newest = added;
  showNewest();
};

replyClear.addEventListener('click', () => setTarget(null));

composer.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) return;
  input.value = '';
  const body = target ? { text, threadId: target } : { text };
  if (!(await send('/messages', body))) input.value = text;
});
input.focus();
