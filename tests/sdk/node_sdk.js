// Sends journey.json's traffic to a Qualify server with a real Node SDK.
//
//     node node_sdk.js segment|rudder HOST WRITE_KEY USER_ID ANONYMOUS_ID
//
// Run by crates/cli/tests/sdk.rs once scripts/test has run `npm ci` here. The
// SDK runs with its defaults; only its host (data plane URL), an error
// handler and fewer retries are set: @segment/analytics-node posts plain
// JSON with `writeKey` in the body; @rudderstack/rudder-sdk-node gzips by
// default, sends a form Content-Type, and dates its messages with
// `originalTimestamp` + `sentAt` only. What went over the wire and what came
// back is recorded through the SDK's own hooks (an emitter, an axios
// instance), without changing what it sends.
//
// The last line on stdout is a JSON report: {"sdk", "version", "requests":
// [{"status", "content_encoding", "content_type", "authorization",
// "body_write_key", "messages"}], "errors": [...]}. Exits 1 if the SDK
// reported an error or an answer was not exactly 200.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const [sdk, host, writeKey, userId, anonymousId] = process.argv.slice(2);
if (!anonymousId) {
  console.error('usage: node node_sdk.js segment|rudder HOST WRITE_KEY USER_ID ANONYMOUS_ID');
  process.exit(2);
}
const journey = JSON.parse(fs.readFileSync(path.join(__dirname, 'journey.json'), 'utf8'));
const requests = [];
const errors = [];

function header(headers, name) {
  if (!headers) return null;
  if (typeof headers.get === 'function') return headers.get(name) ?? null;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : String(headers[key]);
}

function bodyFacts(body, contentEncoding) {
  let bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  if (contentEncoding === 'gzip') bytes = zlib.gunzipSync(bytes);
  const parsed = JSON.parse(bytes.toString('utf8'));
  return { body_write_key: 'writeKey' in parsed, messages: (parsed.batch || []).length };
}

async function segment() {
  const { Analytics } = require('@segment/analytics-node');
  const version = require('@segment/analytics-node/package.json').version;
  const analytics = new Analytics({ writeKey, host, maxRetries: 0 });
  const sent = [];
  analytics.on('http_request', (request) => sent.push(request));
  analytics.on('http_response', (response) => {
    const request = sent.shift();
    requests.push({
      url: response.url,
      status: response.status,
      content_encoding: header(request.headers, 'Content-Encoding'),
      content_type: header(request.headers, 'Content-Type'),
      authorization: (header(request.headers, 'Authorization') || '').split(' ')[0] || null,
      ...bodyFacts(request.body, header(request.headers, 'Content-Encoding')),
    });
  });
  analytics.on('error', (error) => errors.push(String(error.reason || error.message || JSON.stringify(error))));

  analytics.page({ anonymousId, name: journey.anonymous_page.name, properties: journey.anonymous_page.properties });
  analytics.identify({ userId, anonymousId, traits: journey.traits });
  for (const page of journey.pages) analytics.page({ userId, name: page.name, properties: page.properties });
  for (const track of journey.tracks) analytics.track({ userId, event: track.event, properties: track.properties });
  await analytics.closeAndFlush({ timeout: 20000 });
  return version;
}

async function rudder() {
  const Analytics = require('@rudderstack/rudder-sdk-node');
  const version = require('@rudderstack/rudder-sdk-node/package.json').version;
  const client = new Analytics(writeKey, {
    dataPlaneUrl: host,
    logLevel: 'error',
    // Without a handler a failed request ends the process; with one the
    // failure is recorded and reported.
    errorHandler: (error) => errors.push(`${error.code || ''} ${error.response ? error.response.status : ''} ${error.message}`),
    axiosRetryConfig: { retries: 0 },
  });
  const record = (config, status) => {
    const encoding = header(config.headers, 'Content-Encoding');
    requests.push({
      url: config.url,
      status,
      content_encoding: encoding,
      content_type: header(config.headers, 'Content-Type'),
      authorization: config.auth ? 'Basic' : (header(config.headers, 'Authorization') || '').split(' ')[0] || null,
      ...bodyFacts(config.data, encoding),
    });
  };
  client.axiosInstance.interceptors.response.use(
    (response) => {
      record(response.config, response.status);
      return response;
    },
    (error) => {
      if (error.config) record(error.config, error.response ? error.response.status : null);
      return Promise.reject(error);
    },
  );

  client.page({ anonymousId, name: journey.anonymous_page.name, properties: journey.anonymous_page.properties });
  client.identify({ userId, anonymousId, traits: journey.traits });
  for (const page of journey.pages) client.page({ userId, name: page.name, properties: page.properties });
  for (const track of journey.tracks) client.track({ userId, event: track.event, properties: track.properties });
  // The first message went out alone at once; flush() waits for it, then
  // sends the rest.
  while (client.queue.length > 0) await client.flush();
  if (client.pendingFlush) await client.pendingFlush.catch(() => {});
  return version;
}

async function main() {
  let version;
  if (sdk === 'segment') version = await segment();
  else if (sdk === 'rudder') version = await rudder();
  else {
    console.error(`unknown SDK ${JSON.stringify(sdk)}: segment or rudder`);
    process.exit(2);
  }
  console.log(JSON.stringify({ sdk: `${sdk}-node`, version, requests, errors }));
  const failed = errors.length > 0 || requests.length === 0 || requests.some((r) => r.status !== 200);
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  console.log(JSON.stringify({ sdk: `${sdk}-node`, requests, errors: errors.concat(String(error)) }));
  process.exit(1);
});
