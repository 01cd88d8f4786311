import { Request, Response, Router } from 'express';
import { ErrorCode, SluiceError } from '../errors';
import { Services } from '../graphql/context';
import { DataExportEntity } from '../entities/data-export.entity';
import { formatOf, storedAs } from '../exports/formats';
import { downloadExtension } from '../exports/storage';
import { ExportParams } from '../exports/params';
import { countDownload } from '../observability/metrics';
import { noteUser } from '../observability/request-log';
import { knownUser, tokenOfAuthorization } from './auth';
import { choose, representationsOf, sendRepresentation } from './download-representation';
import { sendError } from './http-error';

/**
 * Characters that never reach a file name: path and shell-unfriendly ones, control characters, and the
 * bidirectional controls (U+202E and kin) that make "gpj.exe" show as "exe.jpg".
 */
const UNSAFE_IN_FILE_NAME = /[\\/:*?"<>|\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]+/gu;

function fileNameOf(row: DataExportEntity, extension: string): string {
  const base = (row.name ?? row.id).replace(UNSAFE_IN_FILE_NAME, '_').trim() || row.id;
  return base.toLowerCase().endsWith(`.${extension}`) ? base : `${base}.${extension}`;
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
    countDownload(res);
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
        row = await services.exports.find(id);
        if (!row) throw new SluiceError(ErrorCode.NOT_FOUND, `export ${id} not found`);
        noteUser(req, row.userId);
      } else {
        // The token's user and the row come from one statement: a download waits for one database round
        // trip (issue 15's bar against a bare file server). A bad token still answers 401 whatever the row.
        const { user, row: found } = await services.exports.findWithUser(tokenOfAuthorization(req.headers.authorization), id);
        noteUser(req, knownUser(user).id);
        row = services.exports.visibleTo(user!, id, found);
      }
      services.exports.assertDownloadable(row);
      const downloadable = row;
      // Opened once, no stat: the row knows the stored size (compressedSize is the file's bytes).
      const file = await services.exports.store.open(row.fileName, row.compressedSize);
      if (!file) throw new SluiceError(ErrorCode.GONE, `the file of export ${id} is no longer there; export again`);
      try {
        const params = JSON.parse(row.params) as ExportParams;
        const stored = storedAs(params);
        // Only a gzip-stored file has two representations; a Parquet, XLSX or ZIP file goes out as it is.
        const gzipStored = stored === 'gzip';
        const rep = choose(req, representationsOf(row, file.size, gzipStored));
        res.setHeader('Content-Type', stored === 'zip' ? 'application/zip' : formatOf(params).contentType);
        res.setHeader('Content-Disposition', contentDisposition(fileNameOf(row, downloadExtension(params))));
        if (gzipStored) res.setHeader('Vary', 'Accept-Encoding');
        res.setHeader('Cache-Control', 'private, no-store');
        await sendRepresentation(req, res, rep, file, (what) => services.delivery.downloaded(downloadable.id, what));
      } finally {
        await file.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return; // the client went away
      sendError(res, err);
    }
  });
  return router;
}
