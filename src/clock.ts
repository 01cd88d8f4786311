/** Epoch microseconds now; events and filters work in µs, the API mostly in ms. */
export function nowMicros(): number {
  return Date.now() * 1000;
}
