'use strict';
// An independent xDS client for Skein.Interop.Tests: a proxyless gRPC channel from
// @grpc/grpc-js-xds on `xds:///TARGET`, configured by whatever control plane the bootstrap file
// (GRPC_XDS_BOOTSTRAP) names. It waits until one call succeeds, then makes PLAIN calls of
// bookstore.Ratings/GetRatings without headers and JASON calls with `end-user: jason`, interleaved,
// one at a time, and prints which instance answered each one (the bookstore's `x-served-by`
// response header, which gRPC delivers as initial metadata).
//
// Output on stdout, one line each:
//   READY <ms>                                       a first (uncounted) call succeeded
//   NOT_READY <state> <last error>                   no call succeeded within --ready-timeout-ms
//   CALL <n> <plain|jason> ok <x-served-by>          a call that succeeded
//   CALL <n> <plain|jason> fail <code> <details>     a call that failed
//   SUMMARY <json>                                   {plain: {servedBy: count}, jason: {...}, failures: n}
// Exit code: 0 when every call was made (failed calls included: the caller judges them),
// 2 when no call succeeded within --ready-timeout-ms, 1 on bad usage.
//
// usage: node client.js --target HOST:PORT --proto FILE [--plain N] [--jason N]
//                       [--ready-timeout-ms N] [--deadline-ms N]

const grpc = require('@grpc/grpc-js');
const grpcXds = require('@grpc/grpc-js-xds');
const protoLoader = require('@grpc/proto-loader');

function parseArgs(argv) {
  const options = { plain: 400, jason: 100, readyTimeoutMs: 30000, deadlineMs: 5000 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = argv[i + 1];
    if (value === undefined) {
      throw new Error(`${name}: a value is required`);
    }
    i++;
    switch (name) {
      case '--target': options.target = value; break;
      case '--proto': options.proto = value; break;
      case '--plain': options.plain = Number.parseInt(value, 10); break;
      case '--jason': options.jason = Number.parseInt(value, 10); break;
      case '--ready-timeout-ms': options.readyTimeoutMs = Number.parseInt(value, 10); break;
      case '--deadline-ms': options.deadlineMs = Number.parseInt(value, 10); break;
      default: throw new Error(`unknown option ${name}`);
    }
  }
  if (!options.target || !options.proto) {
    throw new Error('--target and --proto are required');
  }
  for (const key of ['plain', 'jason', 'readyTimeoutMs', 'deadlineMs']) {
    if (!Number.isInteger(options[key]) || options[key] < 0) {
      throw new Error(`${key} must be a non-negative integer`);
    }
  }
  return options;
}

/**
 * Waits until one call succeeds (not counted). A call is what makes the channel fetch its config and
 * connect; channel.waitForReady is not enough, since some policies (ring_hash) stay IDLE until a pick.
 */
async function warmUp(client, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    last = await getRatings(client, new grpc.Metadata(), Math.max(1, Math.min(5000, deadline - Date.now())));
    if (last.ok) {
      return null;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return last ? `${last.code} ${last.details}` : 'no attempt';
}

/** One unary call; resolves to {ok, servedBy} or {ok: false, code, details}, never rejects. */
function getRatings(client, metadata, deadlineMs) {
  return new Promise((resolve) => {
    let servedBy = null;
    const call = client.GetRatings(
      { product_id: 1 },
      metadata,
      { deadline: Date.now() + deadlineMs },
      (error, reply) => {
        if (error) {
          resolve({ ok: false, code: grpc.status[error.code] ?? String(error.code), details: error.details ?? error.message });
        } else if (!reply || reply.product_id !== 1) {
          resolve({ ok: false, code: 'BAD_REPLY', details: JSON.stringify(reply) });
        } else if (!servedBy) {
          resolve({ ok: false, code: 'NO_SERVED_BY', details: 'the response carried no x-served-by metadata' });
        } else {
          resolve({ ok: true, servedBy });
        }
      });
    call.on('metadata', (md) => {
      const values = md.get('x-served-by');
      if (values.length > 0) {
        servedBy = String(values[0]);
      }
    });
  });
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`client.js: ${e.message}`);
    return 1;
  }

  grpcXds.register();
  const definition = protoLoader.loadSync(options.proto, { keepCase: true, longs: Number, enums: String, defaults: true });
  const { Ratings } = grpc.loadPackageDefinition(definition).bookstore;
  const client = new Ratings(`xds:///${options.target}`, grpc.credentials.createInsecure());

  const started = Date.now();
  const notReady = await warmUp(client, options.readyTimeoutMs);
  if (notReady !== null) {
    const state = client.getChannel().getConnectivityState(false);
    console.log(`NOT_READY ${grpc.connectivityState[state]} ${String(notReady).replace(/\s+/g, ' ')}`);
    client.close();
    return 2;
  }
  console.log(`READY ${Date.now() - started}`);

  const summary = { plain: {}, jason: {}, failures: 0 };
  const total = options.plain + options.jason;
  for (let n = 1; n <= total; n++) {
    // Spread the header calls evenly among the others (exactly options.jason of them), so routing
    // is shown to be decided per call, not per channel.
    const jason = Math.floor((n * options.jason) / total) > Math.floor(((n - 1) * options.jason) / total);
    const group = jason ? 'jason' : 'plain';
    const metadata = new grpc.Metadata();
    if (jason) {
      metadata.set('end-user', 'jason');
    }
    const result = await getRatings(client, metadata, options.deadlineMs);
    if (result.ok) {
      summary[group][result.servedBy] = (summary[group][result.servedBy] ?? 0) + 1;
      console.log(`CALL ${n} ${group} ok ${result.servedBy}`);
    } else {
      summary.failures++;
      console.log(`CALL ${n} ${group} fail ${result.code} ${String(result.details).replace(/\s+/g, ' ')}`);
    }
  }

  console.log(`SUMMARY ${JSON.stringify(summary)}`);
  client.close();
  return 0;
}

main().then(
  (code) => {
    // The xDS client keeps its ADS stream open; leave without waiting for it.
    process.stdout.write('', () => process.exit(code));
  },
  (e) => {
    console.error(`client.js: ${e.stack ?? e}`);
    process.exit(1);
  });
