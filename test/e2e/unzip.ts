import yauzl from 'yauzl';

/** Every entry of a ZIP file read back by yauzl (not our writer): its bytes, modification time and whether it is compressed. */
export function unzip(file: Buffer): Promise<Map<string, { data: Buffer; modified: Date; compressed: boolean }>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const entries = new Map<string, { data: Buffer; modified: Date; compressed: boolean }>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            entries.set(entry.fileName, { data: Buffer.concat(chunks), modified: entry.getLastModDate(), compressed: entry.compressionMethod !== 0 });
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}
