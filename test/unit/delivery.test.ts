import { Webhook as StandardWebhook } from 'standardwebhooks';
import { ConfigError, describeSettings, loadConfig } from '../../src/config';
import { isPrivateAddress, resolveWebhookHost } from '../../src/exports/delivery/address-guard';
import { signWebhook } from '../../src/exports/delivery/webhooks';
import { byteWindow, noneMatch, parseRange, reprDigest } from '../../src/rest/ranges';

describe('delivery settings', () => {
  test('defaults match the spec, and --help lists them', () => {
    expect(loadConfig({})).toMatchObject({
      smtpUrl: '', mailAttachmentMax: 10 * 1024 * 1024, webhookRetryDelays: [5_000, 30_000, 120_000, 600_000, 3_600_000], webhookAllowPrivate: false,
    });
    const help = describeSettings();
    for (const name of ['SMTP_URL', 'MAIL_FROM', 'MAIL_ATTACHMENT_MAX', 'WEBHOOK_RETRY_DELAYS', 'WEBHOOK_ALLOW_PRIVATE', 'PUBLIC_URL']) expect(help).toContain(name);
    expect(help).toMatch(/WEBHOOK_RETRY_DELAYS\s+5s,30s,2m,10m,1h/);
  });

  test.each([
    ['WEBHOOK_RETRY_DELAYS', '5s,soon', /WEBHOOK_RETRY_DELAYS="5s,soon" is not valid: expected comma-separated durations, each at least 1s/],
    ['WEBHOOK_RETRY_DELAYS', '5s,100ms', /WEBHOOK_RETRY_DELAYS="5s,100ms"/],
    ['SMTP_URL', 'mail.example.com', /SMTP_URL="mail.example.com" is not valid: expected smtp:\/\//],
    ['MAIL_FROM', 'nobody', /MAIL_FROM="nobody" is not valid: expected an e-mail address/],
    ['WEBHOOK_ALLOW_PRIVATE', 'perhaps', /WEBHOOK_ALLOW_PRIVATE="perhaps" is not valid: expected 1 or 0/],
  ])('a bad %s=%s names the variable and what it expects', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  test('WEBHOOK_RETRY_DELAYS parses to milliseconds', () => {
    expect(loadConfig({ WEBHOOK_RETRY_DELAYS: '1s, 2m ,1h' }).webhookRetryDelays).toEqual([1_000, 120_000, 3_600_000]);
  });
});

describe('webhook addresses', () => {
  test.each(['127.0.0.1', '127.9.9.9', '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.0.10', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:10.1.1.1'])('%s is not public', (a) => {
    expect(isPrivateAddress(a)).toBe(true);
  });

  test.each(['8.8.8.8', '172.32.0.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (a) => {
    expect(isPrivateAddress(a)).toBe(false);
  });

  test('a name resolving to loopback is refused unless allowed', async () => {
    await expect(resolveWebhookHost('localhost', false)).rejects.toThrow(/is or resolves to (127\.0\.0\.1|::1), a loopback, private or link-local address/);
    await expect(resolveWebhookHost('localhost', true)).resolves.toMatchObject({ address: expect.any(String) });
    await expect(resolveWebhookHost('[::1]', false)).rejects.toThrow(/::1/);
  });
});

describe('webhook signatures', () => {
  test('the standardwebhooks verifier accepts ours, and refuses a changed body', () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const ts = Math.floor(Date.now() / 1000);
    const body = '{"type":"export.completed","data":{"id":"x"}}';
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': signWebhook(secret, 'msg_1', ts, body) };
    expect(new StandardWebhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new StandardWebhook(secret).verify(body.replace('x', 'y'), headers)).toThrow();
  });
});

describe('byte ranges', () => {
  test.each([
    [undefined, 100, { kind: 'whole' }],
    ['bytes=0-9', 100, { kind: 'part', start: 0, end: 9 }],
    ['bytes=90-', 100, { kind: 'part', start: 90, end: 99 }],
    ['bytes=90-500', 100, { kind: 'part', start: 90, end: 99 }],
    ['bytes=-10', 100, { kind: 'part', start: 90, end: 99 }],
    ['bytes=-500', 100, { kind: 'part', start: 0, end: 99 }],
    ['bytes=100-', 100, { kind: 'unsatisfiable' }],
    ['bytes=-0', 100, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', 100, { kind: 'whole' }],
    ['bytes=9-2', 100, { kind: 'whole' }],
    ['items=0-1', 100, { kind: 'whole' }],
  ])('%s of %d bytes', (header, size, answer) => {
    expect(parseRange(header, size)).toEqual(answer);
  });

  test('If-None-Match compares weakly and knows *', () => {
    expect(noneMatch('"a", W/"b"', '"b"')).toBe(true);
    expect(noneMatch('*', '"z"')).toBe(true);
    expect(noneMatch('"a"', '"b"')).toBe(false);
    expect(noneMatch(undefined, '"b"')).toBe(false);
  });

  test('Repr-Digest is the base64 of the sha256 bytes, and a window passes exactly its bytes', async () => {
    expect(reprDigest('00'.repeat(32))).toBe(`sha-256=:${Buffer.alloc(32).toString('base64')}:`);
    const w = byteWindow(3, 11);
    const out: Buffer[] = [];
    w.on('data', (c: Buffer) => out.push(c));
    for (const part of ['0123', '4567', '89ab', 'cdef']) w.write(Buffer.from(part));
    w.end();
    await new Promise((r) => w.on('end', r));
    expect(Buffer.concat(out).toString()).toBe('3456789ab');
  });
});
