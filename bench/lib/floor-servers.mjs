// @ts-check
// The do-nothing ext_authz servers bench/floor.mjs measures: whatever they cost per call is the floor
// under any Node agent, since neither decodes the request nor evaluates anything. Run as a child:
//
//   node bench/lib/floor-servers.mjs grpc-js   # @grpc/grpc-js, pass-through (de)serializers
//   node bench/lib/floor-servers.mjs http2     # bare node:http2 speaking just enough gRPC
//
// Each listens on an ephemeral 127.0.0.1 port and prints `listening <port>` once it accepts calls.
import { createServer } from 'node:http2';

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/**
 * CheckResponse{status: {}} encoded once: field 1 (status, length-delimited) of length 0. An empty
 * google.rpc.Status is code 0, OK, so every call is allowed.
 */
const CHECK_RESPONSE = Buffer.from([0x0a, 0x00]);

/** The same message in a gRPC length-prefixed frame (uncompressed flag, 4-byte big-endian length). */
const FRAMED_RESPONSE = Buffer.concat([Buffer.from([0, 0, 0, 0, CHECK_RESPONSE.length]), CHECK_RESPONSE]);

const GRPC_HEADER_BYTES = 5;

/** @param {number} port */
function announce(port) {
  process.stdout.write(`listening ${port}\n`);
}

async function serveGrpcJs() {
  const grpc = await import('@grpc/grpc-js');
  const identity = (/** @type {Buffer} */ bytes) => bytes;
  const fixedResponse = () => CHECK_RESPONSE;
  /** @type {import('@grpc/grpc-js').ServiceDefinition} */
  const service = {
    Check: {
      path: CHECK_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: fixedResponse,
      responseDeserialize: identity,
    },
  };
  const server = new grpc.Server();
  server.addService(service, {
    Check: (/** @type {unknown} */ _call, /** @type {(err: null, value: Buffer) => void} */ callback) => callback(null, CHECK_RESPONSE),
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    announce(port);
  });
}

/**
 * A unary gRPC call answered from the raw HTTP/2 stream: wait for the whole request frame (its
 * header says how long it is), then headers, the fixed framed message and the grpc-status trailer.
 * @param {import('node:http2').ServerHttp2Stream} stream
 * @param {import('node:http2').IncomingHttpHeaders} headers
 */
function answerCheck(stream, headers) {
  // ghz closes its connections with calls in flight when a window ends: a reset is the client leaving.
  stream.on('error', () => {});
  if (headers[':path'] !== CHECK_PATH) {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
    return;
  }
  /** @type {Buffer[]} */
  const chunks = [];
  let received = 0;
  stream.on('data', (/** @type {Buffer} */ chunk) => {
    chunks.push(chunk);
    received += chunk.length;
  });
  stream.on('end', () => {
    const body = chunks.length === 1 ? /** @type {Buffer} */ (chunks[0]) : Buffer.concat(chunks, received);
    const complete = body.length >= GRPC_HEADER_BYTES && body[0] === 0 && body.readUInt32BE(1) === body.length - GRPC_HEADER_BYTES;
    if (!complete) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '13' }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(FRAMED_RESPONSE);
  });
}

function serveHttp2() {
  const server = createServer();
  server.on('stream', answerCheck);
  server.on('sessionError', () => {});
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    announce(typeof address === 'object' && address ? address.port : 0);
  });
}

const mode = process.argv[2];
if (mode === 'grpc-js') await serveGrpcJs();
else if (mode === 'http2') serveHttp2();
else {
  process.stderr.write(`usage: node bench/lib/floor-servers.mjs grpc-js|http2 (got ${mode ?? 'nothing'})\n`);
  process.exit(2);
}
