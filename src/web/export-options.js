// The create form's file options (format, packaging, timestamps, header, excelSafe): their defaults, which
// apply to which format (the server refuses the others by name, so the form does not offer them), and
// the part of a CreateExportInput they make.

export const OPTION_DEFAULTS = {
  format: 'CSV', packaging: 'NONE', timestampFormat: 'EPOCH', timestampPrecision: 'MILLISECONDS', timeZone: 'UTC', header: true, excelSafe: false,
};

const HINTS = {
  CSV: 'Text, one row per record; opens anywhere.',
  JSONL: 'One JSON object per line, typed values: for scripts.',
  PARQUET: 'Typed, compressed columns for DuckDB, Spark or pandas. Timestamps are always UTC.',
  XLSX: 'An Excel workbook; past 1 048 575 rows it continues on a new sheet.',
};

const TIME_ZONES = ['UTC', 'Europe/Paris', 'Europe/London', 'Europe/Brussels', 'America/New_York', 'America/Los_Angeles', 'Asia/Tokyo', 'Asia/Kolkata', 'Australia/Sydney'];

export function setUpOptions($) {
  const list = $('time-zones');
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const zone of [...new Set([own, ...TIME_ZONES])].filter(Boolean)) {
    const option = document.createElement('option');
    option.value = zone;
    list.append(option);
  }
  for (const id of ['create-format', 'create-timestamp-format']) $(id).addEventListener('change', () => applyRules($));
  applyRules($);
}

/** Offers only what applies: excelSafe is for CSV; Parquet timestamps are typed, so neither ISO 8601 nor a zone. */
export function applyRules($) {
  const format = $('create-format').value;
  const csv = format === 'CSV';
  const parquet = format === 'PARQUET';
  const excelSafe = $('create-excel-safe');
  if (!csv) excelSafe.checked = false;
  excelSafe.disabled = !csv;
  const timestamps = $('create-timestamp-format');
  if (parquet) timestamps.value = 'EPOCH';
  timestamps.querySelector('option[value="ISO8601"]').disabled = parquet;
  const zone = $('create-time-zone');
  if (parquet) zone.value = 'UTC';
  zone.disabled = parquet || timestamps.value !== 'ISO8601';
  $('format-hint').textContent = HINTS[format] || '';
}

export function resetOptions($) {
  $('create-format').value = OPTION_DEFAULTS.format;
  $('create-packaging').value = OPTION_DEFAULTS.packaging;
  $('create-timestamp-format').value = OPTION_DEFAULTS.timestampFormat;
  $('create-precision').value = OPTION_DEFAULTS.timestampPrecision;
  $('create-time-zone').value = OPTION_DEFAULTS.timeZone;
  $('create-header').checked = OPTION_DEFAULTS.header;
  $('create-excel-safe').checked = OPTION_DEFAULTS.excelSafe;
  applyRules($);
}

/** The options part of the input, or a sentence saying what to fix. */
export function readOptions($) {
  const timeZone = $('create-time-zone').value.trim() || 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    return { problem: `“${timeZone}” is not a time zone the page knows: use an IANA name such as Europe/Paris, or UTC.` };
  }
  return {
    options: {
      format: $('create-format').value,
      packaging: $('create-packaging').value,
      timestampFormat: $('create-timestamp-format').value,
      timestampPrecision: $('create-precision').value,
      timeZone,
      header: $('create-header').checked,
      excelSafe: $('create-excel-safe').checked,
    },
  };
}
