/* global process, console, fetch */
// One-shot of docker-compose.yml: creates the `monitor` API key Prometheus scrapes careflow with, once, and
// writes it where Prometheus reads it (`credentials_file`). Needs CAREFLOW_URL and CAREFLOW_ADMIN_TOKEN.
import { existsSync, writeFileSync } from 'node:fs';

const file = process.argv[2] ?? '/secrets/prometheus-key';
if (existsSync(file)) {
  console.log(`careflow: ${file} exists; the Prometheus key is kept`);
  process.exit(0);
}
const res = await fetch(`${process.env.CAREFLOW_URL ?? 'http://careflow:3000'}/api/api-keys`, {
  method: 'POST',
  headers: {
    authorization: `Bearer ${process.env.CAREFLOW_ADMIN_TOKEN}`,
    'content-type': 'application/json',
  },
  body: JSON.stringify({ name: 'prometheus (docker compose)', role: 'monitor' }),
});
if (!res.ok) {
  console.error(`careflow: creating the Prometheus key failed: ${res.status} ${await res.text()}`);
  process.exit(1);
}
const { key } = await res.json();
writeFileSync(file, key, { mode: 0o644 });
console.log(`careflow: Prometheus key written to ${file}`);
