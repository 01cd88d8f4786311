import { ValueTransformer } from 'typeorm';

/** MySQL hands BIGINT back as a string; every BIGINT here (µs or ms epochs, counts) fits a JS number. */
export const bigintNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null || value === undefined ? value : Number(value)),
};
