// A real OpenID provider (oidc-provider) for Bartender's single sign-on tests, on loopback only.
//
//   node provider.mjs PORT CALLBACK_URL [CALLBACK_URL...]
//
// One confidential client `bartender` (client_secret_basic, PKCE required) and a second one,
// `bartender-misaudience`, whose ID tokens are re-signed for another audience: a provider
// handing a token meant for someone else. Signing in needs no browser: GET /interaction/UID
// shows a one-field form (POST it with `login=NAME`), or finishes at once when the authorization
// request carried `login_hint=NAME`. PUT /test/accounts/NAME (JSON claims) adds or changes an
// account, so a test can move a user between groups. Prints "ready ISSUER" once listening.
import crypto from 'node:crypto';
import { exportJWK, generateKeyPair, decodeJwt, SignJWT } from 'jose';
import Provider from 'oidc-provider';

const [port, ...callbacks] = process.argv.slice(2);
if (!port || callbacks.length === 0) {
  console.error('usage: node provider.mjs PORT CALLBACK_URL [CALLBACK_URL...]');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const SECRET = 'bartender-test-secret';
const OTHER_AUDIENCE = 'someone-else';

const accounts = new Map(Object.entries({
  alice: { preferred_username: 'alice', email: 'alice@example.com', groups: ['platform', 'staff'] },
  bob: { preferred_username: 'bob', email: 'bob@example.com', groups: ['sre'] },
  carol: { email: 'carol@example.com', groups: [] },
}));

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

const client = (clientId) => ({
  client_id: clientId,
  client_secret: SECRET,
  redirect_uris: callbacks,
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic',
});

const provider = new Provider(issuer, {
  clients: [client('bartender'), client('bartender-misaudience')],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['bartender-test-cookie-key'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name', 'groups'],
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts.get(id);
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, email_verified: true, ...accounts.get(id) }) };
  },
});
provider.proxy = false;

async function finish(ctx, login) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (!accounts.has(login)) {
    ctx.status = 400;
    ctx.body = `no account ${login}`;
    return;
  }
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false });
  ctx.redirect(to);
}

async function readBody(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

provider.use(async (ctx, next) => {
  const interaction = ctx.path.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (interaction && ctx.method === 'GET' && !interaction[2]) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.params.login_hint) return finish(ctx, details.params.login_hint);
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Test provider</title><form method="post" action="/interaction/${interaction[1]}/login">
<label>Account <input name="login" autofocus></label> <button type="submit">Continue</button></form>`;
    return undefined;
  }
  if (interaction && ctx.method === 'POST' && interaction[2]) {
    return finish(ctx, new URLSearchParams(await readBody(ctx)).get('login') || '');
  }
  const account = ctx.path.match(/^\/test\/accounts\/([\w.-]+)$/);
  if (account && ctx.method === 'PUT') {
    accounts.set(account[1], JSON.parse(await readBody(ctx)));
    ctx.status = 204;
    return undefined;
  }
  await next();
  // The misbehaving client's ID tokens, re-signed with the provider's own key for another audience.
  if (ctx.path === '/token' && ctx.oidc?.client?.clientId === 'bartender-misaudience' && ctx.body?.id_token) {
    const claims = decodeJwt(ctx.body.id_token);
    ctx.body.id_token = await new SignJWT({ ...claims, aud: OTHER_AUDIENCE, azp: OTHER_AUDIENCE })
      .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid })
      .sign(privateKey);
  }
  return undefined;
});

provider.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
