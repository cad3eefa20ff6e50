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
//   --exit-with-stdin  exit when stdin closes (the test run that started it has ended).
// Prints {"port": N, "issuer": "..."} on one stdout line once listening.
//
// The interaction page (GET /adfs/interaction/:uid) answers JSON: uid, prompt, params.
// POST it `account=alice` (optionally `mfa=1`) to sign in, or `action=deny` to decline.
//
// Control (tests only, outside /adfs): POST /_control/tamper with a JSON object changes the
// ID token of the next token response: claim overrides (null deletes the claim) and
// `"_sign_with": "foreign"` to sign it with a key the JWKS does not hold. One-shot.

import crypto from 'node:crypto';
import http from 'node:http';
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
  },
});
for (const option of ['client-id', 'client-secret', 'redirect-uri']) {
  if (!argv[option]) {
    process.stderr.write(`missing --${option}\n`);
    process.exit(2);
  }
}
const hasPkce = argv.version !== '2016';

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
    } else {
      sendJson(res, 400, { error: 'account or action=deny expected' });
      return;
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  } catch (error) {
    sendJson(res, 400, { error: error.name, error_description: error.message });
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

const server = http.createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}${MOUNT}`;
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
