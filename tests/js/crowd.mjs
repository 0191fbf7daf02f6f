// Many stock socket.io-client 4.x sockets in ONE Node process, for the recovery tests.
//   node crowd.mjs            (driven by tests/support/crowd.py)
// stdin, one JSON object a line:
//   {"cmd": "add", "clients": [{"id", "url", "token", "recover", "joins": [[event, data], ...], "auth": {...}}],
//    "options": {reconnectionDelay, reconnectionDelayMax, randomizationFactor, reconnection}}
//       opens one socket per client (its own Manager: forceNew), auth {token, recover} plus "auth";
//       on every "connect" where the session was NOT recovered it emits its joins again
//   {"cmd": "dump", "reply": n}      -> {"reply": n, "clients": {id: record}}  (see record() below)
//   {"cmd": "tally", "reply": n, "name", "prefix"} -> {"reply": n, "counts": {id: distinct keys with prefix}}
//   {"cmd": "emit", "reply": n, "client": id, "event": name, "data": payload} -> {"reply": n, "ack": payload}
//   {"cmd": "close", "client": id}   -> closes that socket (no reconnection)
//   {"cmd": "quit"}                  -> closes every socket and exits
// stdout, one JSON object a line, as it happens:
//   {"connect": id, "recovered": bool, "sid", "t"} | {"disconnect": id, "reason", "t"}
//   | {"connect_error": id, "message", "t"} | {"joined": id, "t", "refused"}  (all joins answered;
//   refused: how many of this socket's join replies so far were errors, kept in refusedJoins)
// Every event a socket receives is kept in memory (name, its payload's key field, the
// offset = the last argument when the payload is followed by a string, the arity, time)
// and handed over by "dump": 200 sockets would flood a pipe line by line.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sockets = new Map();

// what identifies one event of the tests among its kind: the chat text, a course's title, who
function keyOf(data) {
  if (data === null || typeof data !== "object") return data ?? null;
  return data.message ?? data.title ?? data.user_id ?? null;
}

function open(spec, options) {
  const record = { id: spec.id, events: [], connects: [], disconnects: [], errors: [], joins: 0,
                   refusedJoins: [], retriedJoins: 0, pid: null, offset: null };
  const socket = io(spec.url, {
    forceNew: true,
    transports: ["websocket"],
    reconnection: options.reconnection ?? true,
    reconnectionDelay: options.reconnectionDelay ?? 100,
    reconnectionDelayMax: options.reconnectionDelayMax ?? 1000,
    randomizationFactor: options.randomizationFactor ?? 0.5,
    auth: { token: spec.token, ...(spec.recover ? { recover: true } : {}), ...(spec.auth ?? {}) },
  });
  sockets.set(spec.id, { socket, record, spec });

  socket.on("connect", () => {
    const recovered = !!socket.recovered;
    record.connects.push({ t: Date.now(), recovered, sid: socket.id });
    print({ connect: spec.id, recovered, sid: socket.id, t: Date.now() });
    if (!recovered && spec.joins?.length) {
      let pending = spec.joins.length;
      record.joins += 1;
      const join = (event, data, attempt) => socket.emit(event, data, (ack) => {
        // a busy platform answers "unavailable": an application tries again, as this does
        if (ack && ack.code === "unavailable" && attempt < 5) {
          record.retriedJoins += 1;
          setTimeout(() => join(event, data, attempt + 1), 250 * attempt);
          return;
        }
        if (ack && ack.code) record.refusedJoins.push([event, ack]);  // an error reply, not a join
        if (--pending === 0) print({ joined: spec.id, t: Date.now(), refused: record.refusedJoins.length });
      });
      for (const [event, data] of spec.joins) join(event, data, 1);
    }
  });
  socket.on("disconnect", (reason) => {
    record.disconnects.push({ t: Date.now(), reason });
    print({ disconnect: spec.id, reason, t: Date.now() });
  });
  socket.on("connect_error", (err) => {
    record.errors.push({ t: Date.now(), message: err.message });
    print({ connect_error: spec.id, message: err.message, t: Date.now() });
  });
  socket.onAny((event, ...args) => {
    // an offset rides as a string after the payload; a payload itself is an object
    const offset = args.length > 1 && typeof args[args.length - 1] === "string" ? args[args.length - 1] : null;
    record.events.push([event, keyOf(args[0]), offset, args.length, Date.now(),
                        event === "connected" || event === "error" ? args[0] : undefined]);
  });
}

function snapshot({ socket, record }) {
  // the stock client's private recovery state: what it will present on its next CONNECT
  return { ...record, pid: socket._pid ?? null, offset: socket._lastOffset ?? null,
           connected: socket.connected, sid: socket.id ?? null };
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  switch (command.cmd) {
    case "add":
      for (const spec of command.clients) open(spec, command.options ?? {});
      break;
    case "dump": {
      const clients = {};
      for (const [id, entry] of sockets) clients[id] = snapshot(entry);
      print({ reply: command.reply, clients });
      break;
    }
    case "tally": {
      // per socket: how many distinct events of that name whose key starts with prefix
      const counts = {};
      for (const [id, { record }] of sockets) {
        const keys = new Set();
        for (const e of record.events) {
          if (e[0] === command.name && typeof e[1] === "string" && e[1].startsWith(command.prefix)) keys.add(e[1]);
        }
        counts[id] = keys.size;
      }
      print({ reply: command.reply, counts });
      break;
    }
    case "emit": {
      const { socket } = sockets.get(command.client);
      socket.timeout(command.ack_ms ?? 10000).emit(command.event, command.data, (err, ack) =>
        print({ reply: command.reply, ack: err ? null : ack, error: err ? String(err) : null }));
      break;
    }
    case "close":
      sockets.get(command.client)?.socket.close();
      break;
    case "quit":
      for (const { socket } of sockets.values()) socket.close();
      setTimeout(() => process.exit(0), 50);
      break;
    default:
      print({ error: `unknown command ${command.cmd}` });
  }
});
process.stdin.on("end", () => process.exit(0));
