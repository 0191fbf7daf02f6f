// The course dashboard: plain DOM, the HTTP API for what exists, Socket.IO for what happens.
// An instructor sees enrollments, progress per student and video, quiz submissions and how
// many are watching each video as they arrive, and reads and moderates the chat of the video
// they select (delete a message, mute its author); a student sees the course's videos, can
// simulate watching one (it sends `video_progress`) and chat in its video room. Text from the
// server is only ever set as textContent, never parsed as HTML.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { token: null, user: null, course: null, socket: null, watching: new Map(), chatVideo: null };

// -- HTTP --------------------------------------------------------------------------------

async function callApi(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(payload.error?.message ?? `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return payload;
}

// -- small DOM helpers -------------------------------------------------------------------

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function show(id, visible = true) {
  document.getElementById(id).hidden = !visible;
}

function note(list, text) {
  const item = element("li", `${new Date().toLocaleTimeString()} ${text}`);
  $(list).prepend(item);
}

function progressBar(label, userId, videoId) {
  const bar = element("progress", undefined, { max: "100", value: "0", "aria-label": label });
  bar.dataset.userId = userId;
  bar.dataset.videoId = videoId;
  const wrap = element("span", undefined, { class: "bar" });
  wrap.append(bar, element("span", "0 %", { class: "percent" }));
  return wrap;
}

function setProgress(userId, videoId, percent, completed) {
  const bar = document.querySelector(`progress[data-user-id="${CSS.escape(userId)}"][data-video-id="${CSS.escape(videoId)}"]`);
  if (!bar) return;
  // live reports can arrive out of order; a bar never goes back
  const value = Math.max(Number(bar.value), Math.min(100, Number(percent)));
  bar.value = value;
  bar.nextElementSibling.textContent = `${Math.round(value)} %${completed || value >= 90 ? " ✓" : ""}`;
}

// -- log in and choose a course ----------------------------------------------------------

async function logIn(event) {
  event.preventDefault();
  $("#login-error").textContent = "";
  try {
    const { data } = await callApi("POST", "/api/v1/auth/login", { email: $("#email").value, password: $("#password").value });
    state.token = data.access_token;
    state.user = data.user;
  } catch (error) {
    $("#login-error").textContent = `Login failed: ${error.message}`;
    return;
  }
  $("#who").textContent = `${state.user.email} (${state.user.role})`;
  show("login", false);
  connectSocket();
  await listCourses();
}

async function listCourses() {
  const { data } = await callApi("GET", "/api/v1/courses?limit=100");
  const select = $("#course-select");
  select.replaceChildren(...data.map((course) => element("option", course.title, { value: course.id })));
  show("course-picker");
  $("#enroll").hidden = state.user.role !== "student";
}

async function enroll() {
  $("#course-problem").textContent = "";
  try {
    await callApi("POST", `/api/v1/courses/${encodeURIComponent($("#course-select").value)}/enrollments`);
  } catch (error) {
    if (error.status !== 409) { // already enrolled is fine: open it
      $("#course-problem").textContent = `Could not enroll: ${error.message}`;
      return;
    }
  }
  await openCourse();
}

async function openCourse(event) {
  event?.preventDefault();
  $("#course-problem").textContent = "";
  const { data: course } = await callApi("GET", `/api/v1/courses/${encodeURIComponent($("#course-select").value)}`);
  stopWatching();
  closeChat();
  state.course = course;
  show("instructor-view", teaching());
  show("student-view", !teaching());
  if (teaching()) await showInstructorView(course);
  else showStudentView(course);
  joinRooms();
}

function teaching() {
  return state.user?.role === "instructor" && state.course?.instructor_id === state.user.id;
}

// -- the instructor's view ---------------------------------------------------------------

async function showInstructorView(course) {
  videoRows(course);
  const head = $("#progress-table thead tr");
  head.replaceChildren(element("th", "Student", { scope: "col" }), element("th", "Enrolled", { scope: "col" }),
    ...course.videos.map((video) => element("th", video.title, { scope: "col" })));
  $("#progress-table tbody").replaceChildren();
  $("#quiz-submissions").replaceChildren();
  const { data: students } = await callApi("GET", `/api/v1/courses/${course.id}/enrollments?limit=100`);
  students.forEach((student) => studentRow(student.user_id, student.email, student.enrolled_at));
  try { // stored progress, once the progress service is there
    const { data: progress } = await callApi("GET", `/api/v1/courses/${course.id}/progress/students?limit=100`);
    for (const student of progress) {
      for (const video of student.videos ?? []) setProgress(student.user_id, video.video_id, video.percent_complete, video.completed);
    }
  } catch (error) {
    if (error.status !== 404) note("#activity", `Stored progress unavailable: ${error.message}`);
  }
}

// one row per video: how many distinct users are in its room (video_presence, or joined_video
// for the one whose chat is open), and the button that opens its chat
function videoRows(course) {
  $("#video-table tbody").replaceChildren(...course.videos.map((video) => {
    const row = element("tr");
    row.dataset.videoId = video.id;
    const count = element("span", "–", { class: "watching" });
    count.dataset.videoId = video.id;
    const open = element("button", "Open chat", { type: "button" });
    open.addEventListener("click", () => openChat(video));
    const countCell = element("td");
    countCell.append(count);
    const chatCell = element("td");
    chatCell.append(open);
    row.append(element("th", video.title, { scope: "row" }), countCell, chatCell);
    return row;
  }));
}

function setWatching(videoId, count) {
  const cell = document.querySelector(`.watching[data-video-id="${CSS.escape(videoId)}"]`);
  if (cell && Number.isInteger(count)) cell.textContent = String(count);
}

function studentRow(userId, email, enrolledAt) {
  const existing = document.querySelector(`#progress-table tr[data-user-id="${CSS.escape(userId)}"]`);
  if (existing) return existing;
  const row = element("tr");
  row.dataset.userId = userId;
  row.append(element("th", email ?? userId, { scope: "row" }),
    element("td", enrolledAt ? new Date(enrolledAt).toLocaleString() : ""));
  for (const video of state.course.videos) {
    const cell = element("td");
    cell.append(progressBar(`${email ?? userId}: ${video.title}`, userId, video.id));
    row.append(cell);
  }
  $("#progress-table tbody").append(row);
  return row;
}

// -- the student's view ------------------------------------------------------------------

function showStudentView(course) {
  $("#video-list").replaceChildren(...course.videos.map((video) => {
    const item = element("li");
    item.append(element("span", `${video.title} (${Math.round(video.duration_seconds / 60)} min) `),
      progressBar(`My progress: ${video.title}`, state.user.id, video.id));
    const watch = element("button", "Watch", { type: "button" });
    watch.addEventListener("click", () => toggleWatching(video, watch));
    const chat = element("button", "Chat", { type: "button" });
    chat.addEventListener("click", () => openChat(video));
    item.append(" ", watch, " ", chat);
    return item;
  }));
  // own stored progress, once the progress service is there
  callApi("GET", `/api/v1/courses/${course.id}/progress`).then(({ data }) => {
    for (const video of data.videos ?? []) setProgress(state.user.id, video.video_id, video.percent_complete, video.completed);
  }).catch(() => {});
}

// a simulated viewer: 10 % more every second, reported as the player would
function toggleWatching(video, button) {
  if (state.watching.has(video.id)) {
    clearInterval(state.watching.get(video.id));
    state.watching.delete(video.id);
    button.textContent = "Watch";
    return;
  }
  button.textContent = "Pause";
  const bar = document.querySelector(`progress[data-user-id="${CSS.escape(state.user.id)}"][data-video-id="${CSS.escape(video.id)}"]`);
  const timer = setInterval(() => {
    const progress = Math.min(100, Number(bar.value) + 10);
    state.socket.emit("video_progress", {
      video_id: video.id, course_id: state.course.id, progress, timestamp: Math.round(video.duration_seconds * progress / 100),
    });
    setProgress(state.user.id, video.id, progress);
    if (progress >= 100) toggleWatching(video, button);
  }, 1000);
  state.watching.set(video.id, timer);
}

function stopWatching() {
  state.watching.forEach((timer) => clearInterval(timer));
  state.watching.clear();
}

// -- one video's chat (both views) -------------------------------------------------------

function openChat(video) {
  if (state.chatVideo === video.id) return;
  closeChat();
  state.chatVideo = video.id;
  $("#chat-title").textContent = `Chat: ${video.title}`;
  $("#moderation").hidden = !teaching();
  // under the list the video was chosen from
  (teaching() ? $("#video-table") : $("#video-list")).after($("#chat"));
  show("chat");
  joinVideo();
  $("#chat-input").focus();
}

function closeChat() {
  if (state.chatVideo && state.socket?.connected) state.socket.emit("leave_video", { video_id: state.chatVideo });
  state.chatVideo = null;
  $("#chat-log").replaceChildren();
  $("#chat-problem").textContent = "";
  show("chat", false);
}

// the reply brings the latest messages (and who is watching): on a rejoin after a reconnect
// they replace what the page shows, since messages deleted meanwhile are left out of them
function joinVideo() {
  const videoId = state.chatVideo;
  state.socket.emit("join_video", { video_id: videoId }, (reply) => {
    if (videoId !== state.chatVideo) return;
    if (reply?.code) {
      $("#chat-problem").textContent = `Chat unavailable: ${reply.message}`;
      return;
    }
    setWatching(videoId, reply.watching_count);
    $("#chat-log").replaceChildren();
    (reply.recent_messages ?? []).forEach(showMessage);
  });
}

function chatLine(item) {
  const log = $("#chat-log");
  log.append(item);
  log.scrollTop = log.scrollHeight;
}

function chatNote(text) {
  chatLine(element("li", `${new Date().toLocaleTimeString()} ${text}`, { class: "note" }));
}

function showMessage(message) {
  // one sent while joining can come both live and in recent_messages, with the same id
  if (document.querySelector(`#chat-log li[data-message-id="${CSS.escape(message.id)}"]`)) return;
  const item = element("li");
  item.dataset.messageId = message.id;
  item.dataset.userId = message.user_id;
  item.append(element("span", new Date(message.timestamp).toLocaleTimeString() + " ", { class: "time" }),
    element("span", `${message.user_email}: `, { class: "author" }), element("span", message.message, { class: "text" }));
  // the course's instructor deletes any message and mutes anyone else; an author deletes their own
  if (teaching() || message.user_id === state.user.id) {
    const remove = element("button", "Delete", { type: "button", class: "delete", "aria-label": `Delete: ${message.message}` });
    remove.addEventListener("click", () => deleteMessage(message));
    item.append(remove);
  }
  if (teaching() && message.user_id !== state.user.id) {
    const mute = element("button", "Mute", { type: "button", class: "mute", "aria-label": `Mute ${message.user_email}` });
    mute.addEventListener("click", () => muteAuthor(message));
    item.append(mute);
  }
  chatLine(item);
}

function removeMessage(id) {
  document.querySelector(`#chat-log li[data-message-id="${CSS.escape(id)}"]`)?.remove();
}

async function deleteMessage(message) {
  $("#chat-problem").textContent = "";
  try {
    await callApi("DELETE", `/api/v1/videos/${encodeURIComponent(state.chatVideo)}/messages/${encodeURIComponent(message.id)}`);
  } catch (error) {
    $("#chat-problem").textContent = `Could not delete: ${error.message}`;
    return;
  }
  removeMessage(message.id); // everyone else's page hears chat_message_deleted
}

async function muteAuthor(message) {
  $("#chat-problem").textContent = "";
  const minutes = Number($("#mute-minutes").value);
  try {
    const { data } = await callApi("POST", `/api/v1/courses/${encodeURIComponent(state.course.id)}/mutes`,
      { user_id: message.user_id, minutes });
    chatNote(`${message.user_email} is muted until ${new Date(data.until).toLocaleTimeString()}`);
  } catch (error) {
    $("#chat-problem").textContent = `Could not mute: ${error.message}`;
  }
}

function sendChat(event) {
  event.preventDefault();
  const message = $("#chat-input").value;
  $("#chat-problem").textContent = "";
  state.socket.emit("send_chat_message", { video_id: state.chatVideo, message, timestamp: new Date().toISOString() },
    (reply) => {
      if (reply?.code === "muted") $("#chat-problem").textContent = `Not sent: you are muted until ${new Date(reply.until).toLocaleTimeString()}`;
      else if (reply?.code) $("#chat-problem").textContent = `Not sent: ${reply.message}`;
    });
  $("#chat-input").value = "";
}

// -- the socket --------------------------------------------------------------------------

// the server forgets rooms when a connection drops: join again on every (re)connect
function joinRooms() {
  if (!state.socket?.connected || !state.course) return;
  state.socket.emit("join_course", { course_id: state.course.id }, (reply) => {
    if (reply?.code) $("#course-problem").textContent = `Live updates unavailable: ${reply.message}`;
    else $("#connection").textContent = `Live: following ${state.course.title}`;
  });
  if (state.chatVideo) joinVideo();
}

function connectSocket() {
  const socket = io({ auth: { token: state.token } });
  state.socket = socket;
  const status = (text) => { $("#connection").textContent = text; };
  socket.on("connect", () => { status("Live"); joinRooms(); });
  socket.on("disconnect", () => status("Reconnecting…"));
  socket.on("connect_error", (error) => status(`Not connected: ${error.message}`));
  socket.on("error", (data) => {
    if (data.code === "token_expired") status("Session expired: log in again");
    // a refused chat message or join is told by its acknowledgement, in the chat section
    else if (data.event !== "send_chat_message" && data.event !== "join_video") {
      const text = `${data.event ?? "server"}: ${data.message}`;
      if (teaching()) note("#activity", text);
      else $("#course-problem").textContent = text;
    }
  });

  const forThisCourse = (data) => state.course && (!data.course_id || data.course_id === state.course.id);
  socket.on("new_enrollment", (data) => {
    if (!forThisCourse(data) || $("#instructor-view").hidden) return;
    studentRow(data.user_id, data.user_email, data.enrolled_at);
    note("#activity", data.message);
  });
  socket.on("student_progress", (data) => {
    if (!forThisCourse(data)) return;
    studentRow(data.user_id);
    setProgress(data.user_id, data.video_id, data.progress);
  });
  socket.on("progress_update", (data) => {
    if (!forThisCourse(data)) return;
    studentRow(data.user_id);
    setProgress(data.user_id, data.video_id, data.percent_complete, data.completed);
  });
  socket.on("quiz_submission", (data) => {
    if (!forThisCourse(data)) return;
    const who = data.user_email ?? data.user_id;
    $("#quiz-submissions").prepend(element("li", `${who}: quiz ${data.quiz_id}, score ${data.score}, ${data.passed ? "passed" : "not passed"}`));
  });
  socket.on("new_review", (data) => forThisCourse(data) && note("#activity", `${data.user_email} rated ${data.rating}/5: ${data.comment}`));
  socket.on("course_updated", (data) => forThisCourse(data) && note("#activity", `Course updated: ${(data.changed ?? []).join(", ")}`));
  socket.on("video_presence", (data) => forThisCourse(data) && setWatching(data.video_id, data.watching_count));
  const inTheChat = (data) => state.chatVideo && (!data.video_id || data.video_id === state.chatVideo);
  socket.on("new_chat_message", (data) => inTheChat(data) && showMessage(data));
  socket.on("chat_message_deleted", (data) => inTheChat(data) && removeMessage(data.id));
  socket.on("user_joined_video", (data) => inTheChat(data) && chatNote(`${data.user_email} joined`));
  socket.on("user_left_video", (data) => inTheChat(data) && chatNote(`${data.user_email} left`));
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", logIn);
  $("#course-form").addEventListener("submit", openCourse);
  $("#enroll").addEventListener("click", enroll);
  $("#chat-form").addEventListener("submit", sendChat);
});
