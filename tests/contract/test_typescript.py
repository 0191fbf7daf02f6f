"""clients/typescript: events.d.ts is what docs/asyncapi.yaml generates, and it type-checks
together with a usage example against socket.io-client's own types."""
import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"


def run(*command):
    assert (PACKAGE / "node_modules").exists(), "run `make test` (it installs clients/typescript's packages)"
    return subprocess.run(command, cwd=PACKAGE, capture_output=True, text=True, timeout=120)


def test_events_d_ts_is_generated_from_the_asyncapi_document():
    done = run("node", "generate.mjs", "--check")
    assert done.returncode == 0, done.stderr


def test_the_typed_example_compiles_with_tsc():
    done = run("node_modules/.bin/tsc", "--noEmit", "-p", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_tsc_refuses_a_misspelled_payload():
    wrong = PACKAGE / "wrong_payload.ts"
    wrong.write_text('import { io, type Socket } from "socket.io-client";\n'
                     'import type { ClientToServerEvents, ServerToClientEvents } from "./events";\n'
                     'const s: Socket<ServerToClientEvents, ClientToServerEvents> = io();\n'
                     's.emit("join_course", { courseId: "x" });\n')
    try:
        done = run("node_modules/.bin/tsc", "--noEmit", "--strict", "--module", "ESNext",
                   "--moduleResolution", "Bundler", "--target", "ES2022", "--lib", "ES2022,DOM", wrong.name)
    finally:
        wrong.unlink()
    assert done.returncode != 0 and "course_id" in done.stdout
