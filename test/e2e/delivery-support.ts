import http from 'node:http';
import net from 'node:net';
import { TestServer } from './harness';

export interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
}

/**
 * A real HTTP endpoint for webhooks: records every call (time, headers, body) and answers what
 * `respond` says (a status, after an optional delay).
 */
export class WebhookReceiver {
  readonly calls: Received[] = [];
  respond: (req: http.IncomingMessage, body: string) => { status: number; delayMs?: number } = () => ({ status: 204 });
  private server?: http.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const answer = this.respond(req, body);
        const reply = () => {
          this.calls.push({ at: Date.now(), headers: req.headers, body, status: answer.status });
          if (!res.destroyed) res.writeHead(answer.status, { 'content-type': 'text/plain' }).end('ok');
        };
        if (answer.delayMs) setTimeout(reply, answer.delayMs).unref();
        else reply();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export const CREATE_EXPORT = `mutation ($input: CreateExportInput!) { createExport(input: $input) { responseCode message item { id } } }`;
export const EVENTS_QUERY = `query ($id: String!) { me { export(id: $id) { id status { status message } events { at type message } } } }`;

export async function createExport(server: TestServer, token: string, input: Record<string, unknown>): Promise<string> {
  const data = await server.data(CREATE_EXPORT, { input }, token);
  if (data.createExport.responseCode !== 'SUCCESS') throw new Error(`createExport: ${data.createExport.message}`);
  return data.createExport.item.id as string;
}

export async function historyOf(server: TestServer, token: string, id: string): Promise<{ at: number; type: string; message: string | null }[]> {
  const data = await server.data(EVENTS_QUERY, { id }, token);
  return data.me.export.events;
}

export async function createWebhook(server: TestServer, token: string, url: string, events?: string[]): Promise<{ id: string; secret: string }> {
  const data = await server.data(
    `mutation ($input: CreateWebhookInput!) { createWebhook(input: $input) { responseCode message secret item { id url events createdOn } } }`,
    { input: { url, ...(events ? { events } : {}) } },
    token,
  );
  if (data.createWebhook.responseCode !== 'SUCCESS') throw new Error(`createWebhook: ${data.createWebhook.message}`);
  return { id: data.createWebhook.item.id, secret: data.createWebhook.secret };
}
