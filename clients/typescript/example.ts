// A typed client: the compiler checks every event name and payload against events.d.ts.
// Compiled (not run) by the tests: `tsc --noEmit -p clients/typescript`.
import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ConnectAuth, ServerToClientEvents } from "./events";

// recover: true asks for connection state recovery; socket.io-client keeps the pid and the
// last offset and sends them on its next connect by itself
const auth: ConnectAuth = { token: localStorage.getItem("auth_token") ?? "", recover: true };
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://localhost:5000", { auth });
const courseId = "course-uuid";
const videoId = "video-uuid";

socket.on("connect", () => {
  // a recovered session kept its rooms, and its missed room events are on their way
  if (socket.recovered) return;
  // a new session starts in no room: join (again) on every connect that was not a recovery
  socket.emit("join_course", { course_id: courseId }, (reply) => {
    if ("code" in reply) console.error(`join_course failed: ${reply.message}`);
  });
  socket.emit("join_video", { video_id: videoId });
});

socket.on("new_enrollment", (data) => console.log(`${data.user_email} enrolled`));
socket.on("student_progress", (data) => console.log(`${data.user_id}: ${data.progress.toFixed(0)} %`));
socket.on("progress_update", (data) => console.log(`${data.video_id}: ${data.percent_complete} %`));
socket.on("quiz_submission", (data) => console.log(`quiz ${data.quiz_id}: ${data.score} (${data.passed})`));
socket.on("video_presence", (data) => console.log(`${data.video_id}: ${data.watching_count} watching`));
socket.on("new_chat_message", (data) => console.log(`${data.timestamp} ${data.user_email}: ${data.message}`));
socket.on("error", (data) => console.error(`${data.event ?? "server"}: ${data.code} ${data.message}`));

export async function watch(progress: number, position: number): Promise<void> {
  socket.emit("video_progress", { video_id: videoId, course_id: courseId, progress, timestamp: position });
  const sent = await socket.emitWithAck("send_chat_message", {
    video_id: videoId, message: "Question about the content", timestamp: new Date().toISOString(),
  });
  console.log("message" in sent ? sent.message : sent);
}
