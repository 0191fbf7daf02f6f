// The fan-out baseline: socket.io 4 + amqplib, the least a Node gateway needs to do what
// the realtime door does for `course_updated`. Used only by bench/run.py.
//  - connect: the same access token, its algorithm pinned by the key as the door pins it
//    (RS256 or EdDSA: signature, type, expiry checked; no session revocation list, no
//    per-user cap, no rate limits)
//  - join_course {course_id}: joins course_{id} (no membership check: no RPC behind it)
//  - courses.events / course_updated from RabbitMQ (its own exclusive queue) -> emit
//    `course_updated` to course_{course_id} with the fields the door sends.
// socket.io's default policy is kept: perMessageDeflate off.
import { createServer } from "node:http";
import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { Server } from "socket.io";
import amqp from "amqplib";

const port = Number(process.env.PORT || 5100);
const publicKey = createPublicKey(readFileSync(process.env.JWT_PUBLIC_KEY_FILE));
const rsa = publicKey.asymmetricKeyType === "rsa";
const algorithm = rsa ? "RS256" : "EdDSA";

function identity(token) {
  if (typeof token !== "string") return null;
  const [h, p, s] = token.split(".");
  if (!s) return null;
  const header = JSON.parse(Buffer.from(h, "base64url"));
  if (header.alg !== algorithm) return null;
  if (!verify(rsa ? "sha256" : null, Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, "base64url"))) return null;
  const claims = JSON.parse(Buffer.from(p, "base64url"));
  if (claims.type !== "access" || claims.exp < Date.now() / 1000) return null;
  return claims;
}

const http = createServer();
const io = new Server(http, { cors: { origin: false } });
io.use((socket, next) => {
  const claims = identity(socket.handshake.auth?.token);
  if (!claims) return next(new Error("Invalid token"));
  socket.data.userId = claims.sub;
  next();
});
io.on("connection", (socket) => {
  socket.emit("connected", { status: "Connected successfully", user_id: socket.data.userId });
  socket.on("join_course", (data, ack) => {
    const reply = { course_id: data.course_id, status: "Joined successfully" };
    socket.join(`course_${data.course_id}`);
    socket.emit("joined_course", reply);
    if (typeof ack === "function") ack(reply);
  });
});

const connection = await amqp.connect(process.env.AMQP_URI);
const channel = await connection.createChannel();
await channel.assertExchange("courses.events", "topic", { durable: true });
const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
await channel.bindQueue(queue, "courses.events", "course_updated");
await channel.consume(queue, (message) => {
  const event = JSON.parse(message.content.toString());
  io.to(`course_${event.course_id}`).emit("course_updated", {
    course_id: event.course_id, title: event.title, description: event.description,
    published: event.published, changed: event.changed,
  });
}, { noAck: true });

http.listen(port, "127.0.0.1", () => console.log(`listening on ${port}`));
process.on("SIGTERM", () => { connection.close().finally(() => process.exit(0)); });
