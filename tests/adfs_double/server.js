// AD FS stand-in for the broker tests (UPSTREAMS.md, "Active Directory via the contract's AD FS"
// and "Test doubles"): panva's OpenID Certified `oidc-provider`, mounted under /adfs so the
// issuer is http://127.0.0.1:PORT/adfs, with AD FS endpoint paths, pairwise `sub`, `upn`,
// `unique_name`, `email` and `amr` claims, a real SSO session, prompt=login/none and PKCE.
//
// Usage: PORT=0 node server.js --client-id=ID --client-secret=SECRET --redirect-uri=URI
//   Options (also as env ADFS_CLIENT_ID, ADFS_CLIENT_SECRET, ADFS_REDIRECT_URI (comma-separated),
//   ADFS_POST_LOGOUT_REDIRECT_URI, ADFS_VERSION):
//   --version=2019  PKCE S256 required and listed in discovery (default);
//   --version=2016  no `code_challenge_methods_supported` in discovery, PKCE not required;
//   --exit-with-stdin  exit when stdin closes (the test run that started it has ended);
//   --tls-cert=PEM --tls-key=PEM  serve https (issuer https://127.0.0.1:PORT/adfs), as a farm
//     does: the browser walk configures it through the account menu, which takes https only.
// Prints {"port": N, "issuer": "..."} on one stdout line once listening.
//
// The interaction page (GET /adfs/interaction/:uid) answers JSON: uid, prompt, params; to a
// browser (an Accept header preferring text/html) a small Japanese sign-in page instead.
// POST it `account=alice` (optionally `mfa=1`) to sign in, or `action=deny` to decline.
//
// Control (tests only, outside /adfs): POST /_control/tamper with a JSON object changes the
// ID token of the next token response: claim overrides (null deletes the claim) and
// `"_sign_with": "foreign"` to sign it with a key the JWKS does not hold. One-shot.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const MOUNT = '/adfs';
const DOMAIN = 'corp.example';
const NETBIOS = 'CORP';
const MULTIPLEAUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';
const PASSWORD_PROTECTED = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

const { values: argv } = parseArgs({
  options: {
    'client-id': { type: 'string', default: process.env.ADFS_CLIENT_ID },
    'client-secret': { type: 'string', default: process.env.ADFS_CLIENT_SECRET },
    'redirect-uri': { type: 'string', default: process.env.ADFS_REDIRECT_URI },
    'post-logout-redirect-uri': {
      type: 'string', default: process.env.ADFS_POST_LOGOUT_REDIRECT_URI,
    },
    version: { type: 'string', default: process.env.ADFS_VERSION || '2019' },
    'exit-with-stdin': { type: 'boolean', default: false },
    'tls-cert': { type: 'string', default: process.env.ADFS_TLS_CERT },
    'tls-key': { type: 'string', default: process.env.ADFS_TLS_KEY },
  },
});
for (const option of ['client-id', 'client-secret', 'redirect-uri']) {
  if (!argv[option]) {
    process.stderr.write(`missing --${option}\n`);
    process.exit(2);
  }
}
if (Boolean(argv['tls-cert']) !== Boolean(argv['tls-key'])) {
  process.stderr.write('--tls-cert and --tls-key go together\n');
  process.exit(2);
}
const hasPkce = argv.version !== '2016';
const tls = argv['tls-cert']
  ? { cert: fs.readFileSync(argv['tls-cert']), key: fs.readFileSync(argv['tls-key']) }
  : null;

function newSigningKey(kid) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

const signingKey = newSigningKey(crypto.randomBytes(8).toString('hex'));
const foreignKey = newSigningKey(crypto.randomBytes(8).toString('hex'));
// AD FS salts the pairwise `sub` per farm: one salt per double.
const farmSalt = crypto.randomBytes(16);
let tamper = null;

function account(accountId) {
  return {
    accountId,
    async claims() {
      return {
        sub: accountId,
        upn: `${accountId}@${DOMAIN}`,
        unique_name: `${NETBIOS}\\${accountId}`,
        email: `${accountId}@${DOMAIN}`,
      };
    },
  };
}

function b64url(value) {
  return Buffer.from(value).toString('base64url');
}

// Re-sign an ID token with the claim overrides a test asked for (a misbehaving upstream).
function tamperIdToken(idToken, overrides) {
  const [header, payload] = idToken.split('.').slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url')));
  const { _sign_with: signWith, ...claims } = overrides;
  for (const [name, value] of Object.entries(claims)) {
    if (value === null) delete payload[name];
    else payload[name] = value;
  }
  const key = signWith === 'foreign' ? foreignKey : signingKey;
  header.kid = key.kid;
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const privateKey = crypto.createPrivateKey({ key, format: 'jwk' });
  const signature = crypto.sign('sha256', Buffer.from(input), privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

// The q-value an Accept header gives `type` (through its most specific range), 0 if none.
function quality(accept, type) {
  const major = type.split('/')[0];
  let specificity = -1;
  let q = 0;
  for (const part of (accept || '').toLowerCase().split(',')) {
    const [range, ...params] = part.split(';').map((item) => item.trim());
    const rank = ['*/*', `${major}/*`, type].indexOf(range);
    if (rank <= specificity) continue;
    const given = params.find((param) => param.startsWith('q='));
    const value = given ? Number(given.slice(2)) : 1;
    specificity = rank;
    q = Number.isFinite(value) ? value : 0;
  }
  return q;
}

// A browser navigating asks for text/html first; `requests` and other callers send */*.
function prefersHtml(req) {
  const { accept } = req.headers;
  return quality(accept, 'text/html') > quality(accept, 'application/json');
}

function escapeHtml(value) {
  const entities = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  return String(value ?? '').replace(/[&<>"']/g, (char) => entities[char]);
}

const PAGE_STYLE = `
  body { font-family: system-ui, sans-serif; margin: 0; background: #f3f2f1; color: #1b1b1b; }
  main { max-width: 26rem; margin: 2rem auto; padding: 1.5rem; background: #fff;
    border: 1px solid #8a8886; }
  h1 { font-size: 1.4rem; margin-top: 0; }
  label, input[type=text] { display: block; }
  input[type=text] { width: 100%; box-sizing: border-box; padding: .5rem; margin: .3rem 0 1rem;
    border: 1px solid #605e5c; font-size: 1rem; }
  .check { margin-bottom: 1.2rem; }
  .check label { display: inline; }
  .error { color: #a4262c; font-weight: bold; }
  button { padding: .5rem 1.2rem; font-size: 1rem; margin-right: .5rem; cursor: pointer; }
  #sign-in { background: #005a9e; color: #fff; border: 1px solid #005a9e; }
  #deny { background: #fff; color: #1b1b1b; border: 1px solid #605e5c; }`;

function sendHtml(res, status, title, body) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  res.end(`<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`);
}

// The farm's sign-in page as a browser meets it: the account (no password: a stand-in), the
// second factor for the multipleauthn path, sign in or decline; the same fields the JSON
// path's callers post.
function sendSignInPage(res, details, error = '') {
  const hint = details.params.login_hint || '';
  const alert = error ? `<p class="error" id="error" role="alert">${escapeHtml(error)}</p>` : '';
  const describedBy = error ? ' aria-describedby="error" aria-invalid="true"' : '';
  sendHtml(res, error ? 400 : 200, `サインイン - ${NETBIOS} AD FS（テスト用）`, `
<h1>組織アカウントでサインイン</h1>
<p>${DOMAIN} の AD FS（テスト用の代役）です。パスワードは確認しません。</p>
${alert}
<form method="post" action="${MOUNT}/interaction/${escapeHtml(details.uid)}" id="adfs-form">
<label for="account">アカウント名（例: alice）</label>
<input type="text" id="account" name="account" value="${escapeHtml(hint)}" required
  autocomplete="username" autocapitalize="none" spellcheck="false"${describedBy}>
<div class="check">
<input type="checkbox" id="mfa" name="mfa" value="1">
<label for="mfa">第二要素（多要素認証）でも確認する</label>
</div>
<button type="submit" id="sign-in">サインイン</button>
<button type="submit" id="deny" name="action" value="deny" formnovalidate>拒否する</button>
</form>`);
}

function sendError(req, res, status, body) {
  if (!prefersHtml(req)) {
    sendJson(res, status, body);
    return;
  }
  sendHtml(res, status, `サインインできません - ${NETBIOS} AD FS（テスト用）`, `
<h1>サインインできません</h1>
<p>このサインインは続けられません。サービスに戻り、最初からやり直してください。</p>`);
}

function configuration() {
  return {
    clients: [{
      client_id: argv['client-id'],
      client_secret: argv['client-secret'],
      redirect_uris: argv['redirect-uri'].split(','),
      post_logout_redirect_uris: (argv['post-logout-redirect-uri'] || '').split(',').filter(Boolean),
      token_endpoint_auth_method: 'client_secret_basic',
      subject_type: 'pairwise',
    }],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    routes: {
      authorization: '/oauth2/authorize/',
      token: '/oauth2/token/',
      jwks: '/discovery/keys',
      end_session: '/oauth2/logout',
      userinfo: '/userinfo',
    },
    scopes: ['openid', 'profile', 'email', 'allatclaims'],
    claims: {
      // AD FS issues its authentication-method claims whatever the scope.
      openid: ['sub', 'amr', 'acr', 'auth_time', 'sid'],
      profile: ['unique_name', 'upn'],
      email: ['email'],
      // AD FS: allatclaims puts the access token's claims into the ID token.
      allatclaims: ['upn', 'unique_name', 'email'],
    },
    // Claims requested by scope go into the ID token too, as AD FS does.
    conformIdTokenClaims: false,
    subjectTypes: ['pairwise'],
    async pairwiseIdentifier(ctx, accountId, client) {
      return crypto.createHash('sha256')
        .update(farmSalt).update(client.clientId).update(accountId)
        .digest('base64url');
    },
    pkce: { methods: ['S256'], required: () => hasPkce },
    findAccount: (ctx, id) => account(id),
    // A first-party application: its grant is given without a consent page.
    async loadExistingGrant(ctx) {
      const { client, session } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (!grant) {
        grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      }
      grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
      for (const [indicator, resourceServer] of Object.entries(ctx.oidc.resourceServers)) {
        grant.addResourceScope(indicator, resourceServer.scope);
      }
      await grant.save();
      return grant;
    },
    interactions: { url: (ctx, interaction) => `${MOUNT}/interaction/${interaction.uid}` },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    jwks: { keys: [signingKey] },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
      // AD FS takes `resource`, the identifier of the customer's Web API, and issues the
      // access token for it; without one it falls back to urn:microsoft:userinfo.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => ({
          scope: 'allatclaims', audience: resource, accessTokenFormat: 'opaque',
        }),
      },
      userinfo: { enabled: true },
    },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
    },
  };
}

async function interaction(provider, req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      if (prefersHtml(req)) {
        sendSignInPage(res, details);
        return;
      }
      sendJson(res, 200, {
        uid: details.uid, prompt: details.prompt.name, params: details.params,
      });
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    let result;
    if (form.get('action') === 'deny') {
      result = { error: 'access_denied', error_description: 'The user declined.' };
    } else if (form.get('account')) {
      const isMfa = form.get('mfa') === '1';
      result = {
        login: {
          accountId: form.get('account'),
          amr: isMfa ? ['pwd', MULTIPLEAUTHN] : ['pwd'],
          acr: PASSWORD_PROTECTED,
        },
      };
    } else if (prefersHtml(req)) {
      sendSignInPage(res, details, 'アカウント名を入力してください。');
      return;
    } else {
      sendJson(res, 400, { error: 'account or action=deny expected' });
      return;
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  } catch (error) {
    sendError(req, res, 400, { error: error.name, error_description: error.message });
  }
}

async function control(req, res) {
  if (req.method === 'POST' && req.url === '/_control/tamper') {
    tamper = JSON.parse(await readBody(req) || 'null');
    sendJson(res, 200, { tamper });
    return;
  }
  sendJson(res, 404, { error: 'not_found' });
}

function tamperTokenResponse(req, res) {
  const { write, end } = res;
  const chunks = [];
  const overrides = tamper;
  tamper = null;
  res.write = (chunk) => { chunks.push(Buffer.from(chunk)); return true; };
  res.end = (chunk, ...rest) => {
    if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
    let body = Buffer.concat(chunks);
    if (res.statusCode === 200) {
      const token = JSON.parse(body.toString());
      if (token.id_token) token.id_token = tamperIdToken(token.id_token, overrides);
      body = Buffer.from(JSON.stringify(token));
      res.setHeader('Content-Length', body.length);
    }
    res.write = write;
    res.end = end;
    return end.call(res, body, ...rest.filter((arg) => typeof arg === 'function'));
  };
}

const server = tls ? https.createServer(tls) : http.createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}${MOUNT}`;
  const provider = new Provider(issuer, configuration());
  if (!hasPkce) {
    // AD FS 2016 has no PKCE: its discovery lists no code_challenge_methods_supported.
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path === '/.well-known/openid-configuration' && ctx.body) {
        delete ctx.body.code_challenge_methods_supported;
      }
    });
  }
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const path = req.url.split('?')[0];
    if (path.startsWith('/_control/')) {
      control(req, res);
    } else if (path.startsWith(`${MOUNT}/interaction/`)) {
      interaction(provider, req, res);
    } else if (path === MOUNT || path.startsWith(`${MOUNT}/`)) {
      if (path === `${MOUNT}/oauth2/token/` && tamper) tamperTokenResponse(req, res);
      // Mounted like express' app.use('/adfs', …): oidc-provider reads req.originalUrl.
      req.originalUrl = req.url;
      req.url = req.url.slice(MOUNT.length) || '/';
      callback(req, res);
    } else {
      sendJson(res, 404, { error: 'not_found' });
    }
  });
  process.stdout.write(`${JSON.stringify({ port, issuer })}\n`);
});

if (argv['exit-with-stdin']) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
