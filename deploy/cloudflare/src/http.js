// `wasi:http/types` and `wasi:http/outgoing-handler` on the Workers Fetch API, streaming both
// ways with backpressure.
//
// This module owns the HTTP half of the component's imports. It replaces preview2-shim's
// browser `http.js`, which buffers whole response bodies and whole request bodies: here the
// client's request body reaches the guest chunk by chunk as the Worker receives it, the guest's
// response is a `ReadableStream` the client reads while the guest still writes (the guest may
// only write while the stream's queue is below its high-water mark, so a slow client slows the
// guest instead of growing memory), and the upstream's answer reaches the guest one chunk at
// a time as it is read. The stream and pollable resources are preview2-shim's own (`io.js`),
// so `wasi:io/poll` and `wasi:io/streams` stay the shim's.
import { inputStreamCreate, ioErrorCreate, outputStreamCreate, pollableCreate } from "@bytecodealliance/preview2-shim/io";

const symbolDispose = Symbol.dispose || Symbol.for("dispose");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes the client may lag behind the guest before the guest's writes wait. */
export const RESPONSE_HIGH_WATER_MARK = 64 * 1024;
/** Most bytes the guest may write at once (what `check-write` grants at most). */
const MAX_WRITE = 64 * 1024;
/** Headers a Fetch `Request`/`Response` manages itself. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "host", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7E\x80-\xFF]*$/;

// ---------------------------------------------------------------------------------------------
// fields

class Fields {
  #entries = [];
  #immutable = false;

  static fromList(entries) {
    const fields = new Fields();
    for (const [name, value] of entries) {
      fields.append(name, value);
    }
    return fields;
  }

  /** Headers of a message that arrived: immutable, taken as they are. */
  static _received(entries) {
    const fields = new Fields();
    fields.#entries = entries.map(([name, value]) => [name.toLowerCase(), value]);
    fields.#immutable = true;
    return fields;
  }

  static _lock(fields) {
    fields.#immutable = true;
    return fields;
  }

  get(name) {
    const lower = name.toLowerCase();
    return this.#entries.filter(([n]) => n === lower).map(([, v]) => v);
  }

  has(name) {
    const lower = name.toLowerCase();
    return this.#entries.some(([n]) => n === lower);
  }

  set(name, values) {
    this.#check(name);
    for (const value of values) {
      checkValue(value);
    }
    const lower = name.toLowerCase();
    this.#entries = this.#entries.filter(([n]) => n !== lower);
    for (const value of values) {
      this.#entries.push([lower, value]);
    }
  }

  delete(name) {
    if (this.#immutable) {
      throw { tag: "immutable" };
    }
    const lower = name.toLowerCase();
    this.#entries = this.#entries.filter(([n]) => n !== lower);
  }

  append(name, value) {
    this.#check(name);
    checkValue(value);
    this.#entries.push([name.toLowerCase(), value]);
  }

  entries() {
    return this.#entries.map(([n, v]) => [n, v]);
  }

  clone() {
    const fields = new Fields();
    fields.#entries = this.entries();
    return fields;
  }

  #check(name) {
    if (this.#immutable) {
      throw { tag: "immutable" };
    }
    if (!TOKEN.test(name)) {
      throw { tag: "invalid-syntax" };
    }
    if (HOP_BY_HOP.has(name.toLowerCase())) {
      throw { tag: "forbidden" };
    }
  }

  [symbolDispose]() {}
}

function checkValue(value) {
  const text = typeof value === "string" ? value : decoder.decode(value);
  if (!FIELD_VALUE.test(text)) {
    throw { tag: "invalid-syntax" };
  }
}

const lockFields = Fields._lock;
const receivedFields = Fields._received;
delete Fields._lock;
delete Fields._received;

/** Fetch `Headers` from `fields`, leaving out what Fetch manages itself. */
function toHeaders(fields) {
  const headers = new Headers();
  for (const [name, value] of fields.entries()) {
    if (!HOP_BY_HOP.has(name)) {
      headers.append(name, decoder.decode(value));
    }
  }
  return headers;
}

function fromHeaders(headers) {
  const entries = [];
  headers.forEach((value, name) => entries.push([name, encoder.encode(value)]));
  return receivedFields(entries);
}

// ---------------------------------------------------------------------------------------------
// reading a Fetch body into the guest

/** Thrown into the guest as `stream-error::last-operation-failed`, with a `wasi:http` code. */
function streamFailure(code, message) {
  const error = ioErrorCreate(message);
  error.payload = code;
  return { tag: "last-operation-failed", val: error };
}

/**
 * An `input-stream` over a Fetch `ReadableStream`: one read in flight at most, started only
 * when the guest has consumed what came before (so the producer is never read ahead of the
 * guest), and `betweenBytesMs` (if set) bounds each wait.
 */
function readableInputStream(body, { betweenBytesMs, onEnd } = {}) {
  const reader = body ? body.getReader() : null;
  let buffer = null;
  let offset = 0;
  let done = !reader;
  let failure = null;
  let pending = null;

  const ready = () => done || failure !== null || (buffer !== null && offset < buffer.byteLength);

  function fill() {
    if (pending || ready()) {
      return pending;
    }
    let timer;
    const timeout = betweenBytesMs
      ? new Promise((_, reject) => {
          timer = setTimeout(() => reject(new TimeoutError()), betweenBytesMs);
        })
      : null;
    const read = reader.read();
    pending = (timeout ? Promise.race([read, timeout]) : read)
      .then(
        ({ done: end, value }) => {
          if (end) {
            done = true;
            onEnd?.();
          } else if (value && value.byteLength > 0) {
            buffer = value instanceof Uint8Array ? value : new Uint8Array(value);
            offset = 0;
          }
        },
        (error) => {
          failure =
            error instanceof TimeoutError
              ? streamFailure({ tag: "connection-read-timeout" }, "no data within the between-bytes timeout")
              : streamFailure({ tag: "HTTP-response-incomplete" }, `the body broke off: ${error?.message ?? error}`);
          reader.cancel().catch(() => {});
          onEnd?.();
        },
      )
      .finally(() => {
        clearTimeout(timer);
        pending = null;
      });
    return pending;
  }

  function take(len) {
    if (failure !== null) {
      throw failure;
    }
    if (buffer !== null && offset < buffer.byteLength) {
      const n = Math.min(Number(len), buffer.byteLength - offset);
      const slice = buffer.slice(offset, offset + n);
      offset += n;
      if (offset >= buffer.byteLength) {
        buffer = null;
      }
      return slice;
    }
    if (done) {
      throw { tag: "closed" };
    }
    fill();
    return new Uint8Array(0);
  }

  async function waitReadable() {
    while (!ready()) {
      await fill();
    }
  }

  return inputStreamCreate({
    read(len) {
      return take(len);
    },
    blockingRead(len) {
      if (len === 0n || ready()) {
        return take(len);
      }
      return waitReadable().then(() => take(len));
    },
    subscribe() {
      if (!ready()) {
        fill();
      }
      return pollableCreate({ ready, wait: waitReadable });
    },
    drop() {
      if (!done && reader) {
        done = true;
        reader.cancel().catch(() => {});
      }
    },
  });
}

class TimeoutError extends Error {}

// ---------------------------------------------------------------------------------------------
// incoming request (client -> guest)

class IncomingRequest {
  #request;
  #url;
  #headers;
  #body;

  static _create(request) {
    const incoming = new IncomingRequest();
    incoming.#request = request;
    incoming.#url = new URL(request.url);
    incoming.#headers = fromHeaders(request.headers);
    incoming.#body = new IncomingBody(readableInputStream(request.body));
    return incoming;
  }

  method() {
    const method = this.#request.method.toUpperCase();
    const known = { GET: "get", HEAD: "head", POST: "post", PUT: "put", DELETE: "delete", CONNECT: "connect", OPTIONS: "options", TRACE: "trace", PATCH: "patch" };
    return known[method] ? { tag: known[method] } : { tag: "other", val: this.#request.method };
  }

  pathWithQuery() {
    return `${this.#url.pathname}${this.#url.search}`;
  }

  scheme() {
    return this.#url.protocol === "https:" ? { tag: "HTTPS" } : { tag: "HTTP" };
  }

  authority() {
    return this.#url.host;
  }

  headers() {
    return this.#headers;
  }

  consume() {
    if (!this.#body) {
      throw undefined;
    }
    const body = this.#body;
    this.#body = null;
    return body;
  }

  [symbolDispose]() {}
}

const incomingRequestCreate = IncomingRequest._create;
delete IncomingRequest._create;

class IncomingBody {
  #stream;

  constructor(stream) {
    this.#stream = stream;
  }

  stream() {
    if (!this.#stream) {
      throw undefined;
    }
    const stream = this.#stream;
    this.#stream = null;
    return stream;
  }

  static finish(_body) {
    return new FutureTrailers();
  }

  [symbolDispose]() {}
}

class FutureTrailers {
  #taken = false;

  subscribe() {
    return pollableCreate();
  }

  get() {
    if (this.#taken) {
      return { tag: "err", val: undefined };
    }
    this.#taken = true;
    // Fetch exposes no trailers: the body ended without any.
    return { tag: "ok", val: { tag: "ok", val: undefined } };
  }

  [symbolDispose]() {}
}

// ---------------------------------------------------------------------------------------------
// outgoing response (guest -> client)

/**
 * An outgoing body whose bytes go into a `ReadableStream` as the guest writes them. `check-write`
 * grants what the stream's queue has room for (its high-water mark less what the reader has not
 * taken yet); at zero the guest's pollable waits for the reader's next pull.
 */
class OutgoingBody {
  #stream = null;
  #finished = false;
  #readable;
  #controller = null;
  #cancelled = false;
  #wakePull = null;
  #pulled = null;
  #chunks = null;
  #onFinish;
  #aborted = false;

  /** `streaming`: feed a ReadableStream (responses); else collect the bytes (upstream requests). */
  constructor(streaming) {
    const body = this;
    if (streaming) {
      this.#readable = new ReadableStream(
        {
          start(controller) {
            body.#controller = controller;
          },
          pull() {
            body.#wake();
          },
          cancel() {
            body.#cancelled = true;
            body.#wake();
          },
        },
        new ByteLengthQueuingStrategy({ highWaterMark: RESPONSE_HIGH_WATER_MARK }),
      );
    } else {
      this.#chunks = [];
    }
    this.#stream = outputStreamCreate({
      checkWrite() {
        return BigInt(body.#permit());
      },
      write(buf) {
        body.#write(buf);
      },
      flush() {},
      blockingFlush() {
        // Written bytes are already queued for the reader; waiting for the reader to take
        // them all would stall on a client that reads slowly, which `check-write` handles.
      },
      blockingWriteAndFlush(buf) {
        if (body.#permit() >= buf.byteLength) {
          body.#write(buf);
          return;
        }
        return body.#waitWritable().then(() => body.#write(buf));
      },
      subscribe() {
        return pollableCreate({ ready: () => body.#permit() > 0 || body.#closed(), wait: () => body.#waitWritable() });
      },
    });
  }

  #closed() {
    return this.#finished || this.#cancelled;
  }

  #permit() {
    if (this.#closed()) {
      // The next write fails with `closed`: let the guest get there.
      return MAX_WRITE;
    }
    if (!this.#controller) {
      return MAX_WRITE;
    }
    return Math.max(0, Math.min(MAX_WRITE, this.#controller.desiredSize ?? 0));
  }

  #write(buf) {
    if (this.#closed()) {
      throw { tag: "closed" };
    }
    const chunk = new Uint8Array(buf);
    if (this.#controller) {
      this.#controller.enqueue(chunk);
    } else {
      this.#chunks.push(chunk);
    }
  }

  #wake() {
    const wake = this.#wakePull;
    this.#wakePull = null;
    this.#pulled = null;
    wake?.();
  }

  async #waitWritable() {
    while (this.#permit() === 0 && !this.#closed()) {
      this.#pulled ??= new Promise((resolve) => (this.#wakePull = resolve));
      await this.#pulled;
    }
  }

  write() {
    if (!this.#stream) {
      throw undefined;
    }
    const stream = this.#stream;
    this.#stream = null;
    return stream;
  }

  static finish(body, trailers) {
    if (trailers) {
      throw { tag: "internal-error", val: "trailers are not supported on Workers" };
    }
    body._finish();
  }

  _finish() {
    if (this.#finished) {
      return;
    }
    this.#finished = true;
    if (this.#controller && !this.#cancelled) {
      this.#controller.close();
    }
    this.#wake();
    this.#onFinish?.();
  }

  /** Ends the stream with an error (the guest dropped the body without finishing it). */
  _abort(reason) {
    if (this.#finished) {
      return;
    }
    this.#finished = true;
    this.#aborted = true;
    if (this.#controller && !this.#cancelled) {
      this.#controller.error(new Error(reason));
    }
    this.#wake();
    this.#onFinish?.();
  }

  get _finished() {
    return this.#finished;
  }

  get _readable() {
    return this.#readable;
  }

  /** The collected bytes once the guest finishes the body (upstream requests). */
  _collected() {
    return new Promise((resolve, reject) => {
      const done = () => {
        if (this.#aborted) {
          reject(new Error("the request body was not finished"));
          return;
        }
        const total = this.#chunks.reduce((n, c) => n + c.byteLength, 0);
        const out = new Uint8Array(total);
        let at = 0;
        for (const chunk of this.#chunks) {
          out.set(chunk, at);
          at += chunk.byteLength;
        }
        resolve(out);
      };
      if (this.#finished) {
        done();
      } else {
        this.#onFinish = done;
      }
    });
  }

  [symbolDispose]() {
    // Dropping a body without `finish` means the message is incomplete (wasi:http): the
    // reader sees an error rather than a clean end.
    this._abort("the response body was not finished");
  }
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

class OutgoingResponse {
  #headers;
  #status = 200;
  #body = null;

  constructor(headers) {
    this.#headers = lockFields(headers);
  }

  statusCode() {
    return this.#status;
  }

  setStatusCode(status) {
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw undefined;
    }
    this.#status = status;
  }

  headers() {
    return this.#headers;
  }

  body() {
    if (this.#body) {
      throw undefined;
    }
    this.#body = new OutgoingBody(true);
    return this.#body;
  }

  /** Ends an unfinished body with an error (the guest returned or trapped mid-body). */
  static _abandon(response) {
    response.#body?._abort("the gateway component stopped before finishing the response");
  }

  static _toResponse(response) {
    const headers = toHeaders(response.#headers);
    const streamed = response.#body && !NULL_BODY_STATUS.has(response.#status);
    // A body the component already encoded (the admin page, gzipped) goes out as it is: by
    // default Workers would compress it again for its content-encoding.
    const encodeBody = headers.has("content-encoding") ? "manual" : "automatic";
    return new Response(streamed ? response.#body._readable : null, { status: response.#status, headers, encodeBody });
  }

  [symbolDispose]() {}
}

const outgoingResponseToResponse = OutgoingResponse._toResponse;
const outgoingResponseAbandon = OutgoingResponse._abandon;
delete OutgoingResponse._toResponse;
delete OutgoingResponse._abandon;

class ResponseOutparam {
  #resolve;
  #set = false;
  #response = null;

  static _create() {
    const param = new ResponseOutparam();
    const response = new Promise((resolve) => (param.#resolve = resolve));
    return [param, response];
  }

  static _isSet(param) {
    return param.#set;
  }

  static _abandon(param) {
    if (param.#response) {
      outgoingResponseAbandon(param.#response);
    }
  }

  static set(param, result) {
    if (param.#set) {
      throw new Error("the response outparam was already set");
    }
    param.#set = true;
    if (result.tag === "ok") {
      param.#response = result.val;
      param.#resolve(outgoingResponseToResponse(result.val));
    } else {
      param.#resolve(new Response("the gateway component failed to answer", { status: 500 }));
    }
  }

  [symbolDispose]() {}
}

const responseOutparamCreate = ResponseOutparam._create;
const responseOutparamIsSet = ResponseOutparam._isSet;
const responseOutparamAbandon = ResponseOutparam._abandon;
delete ResponseOutparam._create;
delete ResponseOutparam._isSet;
delete ResponseOutparam._abandon;

// ---------------------------------------------------------------------------------------------
// outgoing request (guest -> upstream)

class RequestOptions {
  #connect;
  #firstByte;
  #betweenBytes;

  connectTimeout() {
    return this.#connect;
  }
  setConnectTimeout(duration) {
    this.#connect = duration;
  }
  firstByteTimeout() {
    return this.#firstByte;
  }
  setFirstByteTimeout(duration) {
    this.#firstByte = duration;
  }
  betweenBytesTimeout() {
    return this.#betweenBytes;
  }
  setBetweenBytesTimeout(duration) {
    this.#betweenBytes = duration;
  }
  [symbolDispose]() {}
}

class OutgoingRequest {
  #headers;
  #method = { tag: "get" };
  #scheme;
  #authority;
  #pathWithQuery;
  #body = new OutgoingBody(false);
  #bodyTaken = false;

  constructor(headers) {
    this.#headers = lockFields(headers);
  }

  body() {
    if (this.#bodyTaken) {
      throw undefined;
    }
    this.#bodyTaken = true;
    return this.#body;
  }
  method() {
    return this.#method;
  }
  setMethod(method) {
    if (method.tag === "other" && !TOKEN.test(method.val)) {
      throw undefined;
    }
    this.#method = method;
  }
  pathWithQuery() {
    return this.#pathWithQuery;
  }
  setPathWithQuery(path) {
    if (path !== undefined && !/^\/[\x21-\x7E]*$/.test(path)) {
      throw undefined;
    }
    this.#pathWithQuery = path;
  }
  scheme() {
    return this.#scheme;
  }
  setScheme(scheme) {
    if (scheme?.tag === "other" && !/^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(scheme.val)) {
      throw undefined;
    }
    this.#scheme = scheme;
  }
  authority() {
    return this.#authority;
  }
  setAuthority(authority) {
    if (authority !== undefined && !/^[A-Za-z0-9.\-_~:[\]]+$/.test(authority)) {
      throw undefined;
    }
    this.#authority = authority;
  }
  headers() {
    return this.#headers;
  }
  [symbolDispose]() {}

  static _send(request, options) {
    const scheme = request.#scheme;
    let protocol;
    if (!scheme || scheme.tag === "HTTPS") {
      protocol = "https:";
    } else if (scheme.tag === "HTTP") {
      protocol = "http:";
    } else {
      throw { tag: "HTTP-protocol-error" };
    }
    if (!request.#authority) {
      throw { tag: "HTTP-request-URI-invalid" };
    }
    const url = `${protocol}//${request.#authority}${request.#pathWithQuery ?? "/"}`;
    const method = request.#method.tag === "other" ? request.#method.val : request.#method.tag.toUpperCase();
    const headers = toHeaders(request.#headers);
    const ms = (ns) => (ns === undefined ? undefined : Number(ns / 1000000n));
    // Fetch cannot tell connecting from waiting for the answer: the head must come within
    // the sum of both timeouts (defaults are the runtime's own).
    const connectMs = ms(options?.connectTimeout());
    const firstByteMs = ms(options?.firstByteTimeout());
    const headMs = connectMs === undefined && firstByteMs === undefined ? undefined : (connectMs ?? 0) + (firstByteMs ?? 0);
    const betweenBytesMs = ms(options?.betweenBytesTimeout());
    const body = request.#bodyTaken ? request.#body._collected() : Promise.resolve(null);
    return new FutureIncomingResponse(url, method, headers, body, headMs, betweenBytesMs);
  }
}

const outgoingRequestSend = OutgoingRequest._send;
delete OutgoingRequest._send;

class FutureIncomingResponse {
  #result;
  #settled;
  #controller = new AbortController();

  constructor(url, method, headers, body, headMs, betweenBytesMs) {
    let timer;
    const started = body.then((bytes) => {
      if (headMs !== undefined) {
        timer = setTimeout(() => this.#controller.abort(new TimeoutError()), headMs);
      }
      const init = { method, headers, signal: this.#controller.signal };
      if (bytes && method !== "GET" && method !== "HEAD") {
        init.body = bytes;
      }
      return fetch(url, init);
    });
    this.#settled = started.then(
      (response) => {
        clearTimeout(timer);
        this.#result = { tag: "ok", val: { tag: "ok", val: incomingResponseCreate(response, betweenBytesMs) } };
      },
      (error) => {
        clearTimeout(timer);
        this.#result = { tag: "ok", val: { tag: "err", val: fetchErrorCode(error, this.#controller.signal) } };
      },
    );
  }

  subscribe() {
    return pollableCreate(this.#settled);
  }

  get() {
    if (this.#result === undefined) {
      return undefined;
    }
    const result = this.#result;
    this.#result = { tag: "err", val: undefined };
    return result;
  }

  [symbolDispose]() {
    if (this.#result === undefined) {
      // Dropped before the answer came: nobody will read it.
      this.#controller.abort();
    }
  }
}

/** A `wasi:http` error code for a failed `fetch`. */
function fetchErrorCode(error, signal) {
  if (signal.aborted && signal.reason instanceof TimeoutError) {
    return { tag: "HTTP-response-timeout" };
  }
  const message = String(error?.message ?? error);
  if (message.startsWith("the request body")) {
    return { tag: "internal-error", val: message };
  }
  if (/refused/i.test(message)) {
    return { tag: "connection-refused" };
  }
  if (/not allowed|prohibited/i.test(message)) {
    return { tag: "HTTP-request-denied" };
  }
  if (/dns|resolve|not found/i.test(message)) {
    return { tag: "destination-not-found" };
  }
  if (/tls|certificate|ssl/i.test(message)) {
    return { tag: "TLS-protocol-error" };
  }
  if (/reset|lost|closed|disconnect/i.test(message)) {
    return { tag: "connection-terminated" };
  }
  return { tag: "destination-unavailable" };
}

class IncomingResponse {
  #status;
  #headers;
  #body;

  static _create(response, betweenBytesMs) {
    const incoming = new IncomingResponse();
    incoming.#status = response.status;
    incoming.#headers = fromHeaders(response.headers);
    incoming.#body = new IncomingBody(readableInputStream(response.body, { betweenBytesMs }));
    return incoming;
  }

  status() {
    return this.#status;
  }
  headers() {
    return this.#headers;
  }
  consume() {
    if (!this.#body) {
      throw undefined;
    }
    const body = this.#body;
    this.#body = null;
    return body;
  }
  [symbolDispose]() {}
}

const incomingResponseCreate = IncomingResponse._create;
delete IncomingResponse._create;

function httpErrorCode(error) {
  return error?.payload;
}

// ---------------------------------------------------------------------------------------------
// the interfaces as jco's import object wants them, and the Worker side of one request

export const types = {
  Fields,
  IncomingRequest,
  IncomingBody,
  FutureTrailers,
  OutgoingResponse,
  OutgoingBody,
  ResponseOutparam,
  RequestOptions,
  OutgoingRequest,
  FutureIncomingResponse,
  IncomingResponse,
  httpErrorCode,
};

export const outgoingHandler = {
  handle(request, options) {
    return outgoingRequestSend(request, options);
  },
};

/**
 * Runs `handle` (the component's `incoming-handler#handle`) for a Fetch `Request`. Resolves with
 * the `Response` as soon as the guest sets its response outparam; the body then streams while
 * the guest keeps running, which `waitUntil` keeps alive. `done` settles when the guest returns.
 */
export function serve(request, handle, waitUntil) {
  const [outparam, response] = responseOutparamCreate();
  const done = Promise.resolve()
    .then(() => handle(incomingRequestCreate(request), outparam))
    .then(
      () => {
        if (!responseOutparamIsSet(outparam)) {
          throw new Error("the component returned without setting a response");
        }
      },
      (error) => {
        if (!responseOutparamIsSet(outparam)) {
          throw error;
        }
        // The response has started: the client sees a broken body (its stream errors when
        // the body is dropped unfinished); log why.
        console.error(`gempool: the component failed mid-response: ${error?.stack ?? error}`);
      },
    )
    .finally(() => {
      // Whatever the guest did not finish ends now, as a broken body rather than a hang.
      responseOutparamAbandon(outparam);
    });
  waitUntil(done.catch(() => {}));
  return { response: Promise.race([response, done.then(() => response)]), done };
}
