// The Worker's wasi:http glue (src/http.js) on the Fetch API, driven the way the component
// drives it (the calls jco makes), without a component: responses stream while the guest still
// writes, the guest's writes wait while the client lags (backpressure), the client's body reaches
// the guest as it arrives, and an unfinished body ends with an error instead of hanging.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RESPONSE_HIGH_WATER_MARK, serve, types } from "../src/http.js";

const { Fields, OutgoingResponse, OutgoingBody, ResponseOutparam } = types;
const encode = (s) => new TextEncoder().encode(s);

/** Starts a response the way spin-sdk does: headers, status, body stream, outparam set. */
function start(outparam, status = 200) {
  const response = new OutgoingResponse(Fields.fromList([["content-type", encode("text/event-stream")]]));
  response.setStatusCode(status);
  const body = response.body();
  const stream = body.write();
  ResponseOutparam.set(outparam, { tag: "ok", val: response });
  return { body, stream };
}

test("the client reads the first event while the guest is still writing", async () => {
  let release;
  const later = new Promise((r) => (release = r));
  let guestDone = false;
  const { response } = serve(new Request("http://x/stream"), async (_request, outparam) => {
    const { body, stream } = start(outparam);
    stream.checkWrite();
    stream.write(encode("data: first\n\n"));
    await later;
    stream.checkWrite();
    stream.write(encode("data: second\n\n"));
    OutgoingBody.finish(body, undefined);
    guestDone = true;
  }, () => {});
  const reply = await response;
  assert.equal(reply.status, 200);
  assert.equal(reply.headers.get("content-type"), "text/event-stream");
  const reader = reply.body.getReader();
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), "data: first\n\n");
  assert.equal(guestDone, false, "the first event arrived before the guest finished");
  release();
  const second = await reader.read();
  assert.equal(new TextDecoder().decode(second.value), "data: second\n\n");
  assert.equal((await reader.read()).done, true);
});

test("the guest may not write more than the client has room for", async () => {
  let stream;
  let ready;
  const { response } = serve(new Request("http://x/big"), async (_request, outparam) => {
    ({ stream } = start(outparam));
    await new Promise((r) => (ready = r));
  }, () => {});
  const reply = await response;
  let written = 0;
  for (;;) {
    const permit = Number(stream.checkWrite());
    if (permit === 0) {
      break;
    }
    stream.write(new Uint8Array(permit));
    written += permit;
    assert.ok(written <= RESPONSE_HIGH_WATER_MARK, `wrote ${written} bytes with nobody reading`);
  }
  assert.equal(written, RESPONSE_HIGH_WATER_MARK);
  const pollable = stream.subscribe();
  assert.equal(pollable.ready(), false, "the guest waits while the client lags");
  const waiting = pollable.block();
  const reader = reply.body.getReader();
  const chunk = await reader.read();
  assert.ok(chunk.value.byteLength > 0);
  await waiting;
  assert.ok(Number(stream.checkWrite()) > 0, "reading makes room again");
  ready();
  reader.cancel();
});

test("a client that goes away closes the guest's stream", async () => {
  let stream;
  const { response } = serve(new Request("http://x/gone"), async (_request, outparam) => {
    ({ stream } = start(outparam));
  }, () => {});
  const reply = await response;
  await reply.body.cancel();
  stream.checkWrite();
  assert.throws(() => stream.write(encode("late")), { tag: "closed" });
});

test("the client's body reaches the guest as it arrives", async () => {
  let push;
  const incoming = new ReadableStream({ start: (c) => (push = c) });
  const seen = [];
  let finished;
  const guest = new Promise((r) => (finished = r));
  serve(new Request("http://x/upload", { method: "POST", body: incoming, duplex: "half" }), async (request, outparam) => {
    const stream = request.consume().stream();
    for (;;) {
      let bytes;
      try {
        bytes = await stream.blockingRead(1024n);
      } catch (e) {
        assert.deepEqual(e, { tag: "closed" });
        break;
      }
      seen.push(new TextDecoder().decode(bytes));
    }
    const { body } = start(outparam);
    OutgoingBody.finish(body, undefined);
    finished();
  }, () => {});
  push.enqueue(encode("part one;"));
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen, ["part one;"], "the first part is read before the body ends");
  push.enqueue(encode("part two"));
  push.close();
  await guest;
  assert.deepEqual(seen, ["part one;", "part two"]);
});

test("a guest that stops mid-body breaks the body instead of leaving it open", async () => {
  const { response, done } = serve(new Request("http://x/trap"), async (_request, outparam) => {
    const { stream } = start(outparam);
    stream.checkWrite();
    stream.write(encode("data: partial\n\n"));
    throw new Error("trap");
  }, () => {});
  const reply = await response;
  await done;
  const reader = reply.body.getReader();
  // The client never sees a clean end: reading fails (an HTTP client sees the connection cut).
  await assert.rejects(async () => {
    while (!(await reader.read()).done) {
      // keep reading
    }
  }, /stopped before finishing/);
});

test("a guest that fails before answering rejects the response", async () => {
  const { response } = serve(new Request("http://x/early"), async () => {
    throw new Error("trap before the head");
  }, () => {});
  await assert.rejects(response, /trap before the head/);
});
