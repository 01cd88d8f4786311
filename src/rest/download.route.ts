import fs from 'node:fs';
import { Request, Response, Router } from 'express';
import { ErrorCode, SluiceError } from '../errors';
import { Services } from '../graphql/context';
import { DataExportEntity } from '../entities/data-export.entity';
import { requireUser } from './auth';
import { choose, representationsOf, sendRepresentation } from './download-representation';
import { sendError } from './http-error';

function fileNameOf(row: DataExportEntity): string {
  const base = (row.name ?? row.id).replace(/[\\/:*?"<>|\r\n]+/g, '_').trim() || row.id;
  return base.toLowerCase().endsWith('.csv') ? base : `${base}.csv`;
}

/** Ascii fallback plus RFC 5987 UTF-8 name, so non-ASCII export names survive in browsers. */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/"/g, "'");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** GET/HEAD of a finished export: the stored gzip passed through, or decompressed on the fly. */
export function downloadRoute(services: Services): Router {
  const router = Router();
  router.all('/api/v3/data/exports/:id', async (req: Request, res: Response) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendError(res, new SluiceError(ErrorCode.BAD_REQUEST, `${req.method} is not supported here: use GET or HEAD`));
      return;
    }
    const id = String(req.params.id);
    try {
      let row: DataExportEntity | null;
      if (typeof req.query.token === 'string' && !req.headers.authorization) {
        await services.downloadLinks.verify(id, req.query.token);
        row = await services.ds.getRepository(DataExportEntity).findOneBy({ id });
        if (!row) throw new SluiceError(ErrorCode.NOT_FOUND, `export ${id} not found`);
      } else {
        row = await services.exports.get(await requireUser(req, services.users), id);
      }
      services.exports.assertDownloadable(row);
      const filePath = services.exports.filePath(row);
      let stat: fs.Stats;
      try {
        stat = fs.statSync(filePath);
      } catch {
        throw new SluiceError(ErrorCode.GONE, `the file of export ${id} is no longer there; export again`);
      }
      const representations = representationsOf(row, stat.size);
      const rep = choose(req, representations);
      res.setHeader('Content-Type', 'text/csv; charset=utf-8');
      res.setHeader('Content-Disposition', contentDisposition(fileNameOf(row)));
      res.setHeader('Vary', 'Accept-Encoding');
      res.setHeader('Cache-Control', 'private, no-store');
      await sendRepresentation(req, res, rep, filePath, (what) => services.delivery.downloaded(row.id, what));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return; // the client went away
      sendError(res, err);
    }
  });
  return router;
}
