import dns from 'node:dns/promises';
import net from 'node:net';

/** Loopback, private, link-local and other non-public ranges a webhook must not reach (SSRF). */
const BLOCKED = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) BLOCKED.addSubnet(prefix, bits, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return BLOCKED.check(mapped[1], 'ipv4');
  return BLOCKED.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
}

export class AddressRefused extends Error {}

/**
 * The addresses a webhook URL's host stands for, checked: with `allowPrivate` false, a host that is or
 * resolves to any non-public address is refused. The caller connects to the address checked here, so a
 * DNS answer that changes between check and connect cannot slip past.
 */
export async function resolveWebhookHost(host: string, allowPrivate: boolean): Promise<{ address: string; family: number }> {
  const bare = host.replace(/^\[|\]$/g, '');
  let found: { address: string; family: number }[];
  if (net.isIP(bare)) found = [{ address: bare, family: net.isIP(bare) }];
  else {
    try {
      found = await dns.lookup(bare, { all: true, verbatim: true });
    } catch (err) {
      throw new AddressRefused(`host ${host} could not be resolved (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  if (!found.length) throw new AddressRefused(`host ${host} has no address`);
  if (!allowPrivate) {
    const inside = found.find((a) => isPrivateAddress(a.address));
    if (inside) {
      throw new AddressRefused(`host ${host} is or resolves to ${inside.address}, a loopback, private or link-local address; webhooks must reach a public address (WEBHOOK_ALLOW_PRIVATE=1 allows it)`);
    }
  }
  return found[0];
}
