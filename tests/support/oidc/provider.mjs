// A real OpenID Provider on loopback for the single sign-on tests: the npm package
// `oidc-provider` (installed by deploy/oidc-provider.sh), configured from a JSON file:
//   {"port": 25110, "issuer": "http://127.0.0.1:25110",
//    "clients": [{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."]}],
//    "accounts": {"<sub>": {"email": "...", "name": "..."}}}
// Sign-in uses the package's own development interactions (any login name is accepted as the
// subject), which is what a test needs from a hospital's identity provider.
// Usage: node provider.mjs <oidc-provider install dir> <config.json>
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [dir, configPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
const { default: Provider } = await import(pathToFileURL(join(dir, "node_modules", "oidc-provider", "lib", "index.js")));

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    ...client,
  })),
  async findAccount(_ctx, id) {
    return { accountId: id, async claims() { return { sub: id, ...(config.accounts[id] || {}) }; } };
  },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  cookies: { keys: ["waymark-test-provider-cookie-key"] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;
provider.listen(config.port, "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
