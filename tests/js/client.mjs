// A JavaScript socket.io-client 4.x, driven line by line by the Python tests.
//   node client.mjs <url> <token>
// stdout: one JSON object per line: {"connected": true} | {"connect_error": data}
//         | {"event": name, "data": payload} | {"ack": id, "data": payload}
// stdin:  one JSON object per line: {"id": 1, "emit": "join_course", "data": {...}}
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, token] = process.argv.slice(2);
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
socket.on("connect", () => print({ connected: true }));
socket.on("connect_error", (err) => { print({ connect_error: err.message }); process.exit(2); });
socket.on("disconnect", (reason) => print({ disconnected: reason }));
socket.onAny((event, data) => print({ event, data }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.close) { socket.close(); process.exit(0); }
  socket.emit(command.emit, command.data, (reply) => print({ ack: command.id, data: reply }));
});
