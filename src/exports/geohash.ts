const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';

/** Standard geohash: bits alternate longitude/latitude, starting with longitude, five bits per character. */
export function encodeGeohash(lat: number, lng: number, precision = 9): string {
  if (!(lat >= -90 && lat <= 90) || !(lng >= -180 && lng <= 180)) {
    throw new RangeError(`geohash: lat must be in [-90, 90] and lng in [-180, 180], got ${lat}, ${lng}`);
  }
  if (!Number.isInteger(precision) || precision < 1 || precision > 12) {
    throw new RangeError(`geohash: precision must be an integer from 1 to 12, got ${precision}`);
  }
  let [latLo, latHi, lngLo, lngHi] = [-90, 90, -180, 180];
  let hash = '';
  let bits = 0;
  let index = 0;
  let lngBit = true;
  while (hash.length < precision) {
    if (lngBit) {
      const mid = (lngLo + lngHi) / 2;
      index = index * 2 + (lng >= mid ? 1 : 0);
      if (lng >= mid) lngLo = mid;
      else lngHi = mid;
    } else {
      const mid = (latLo + latHi) / 2;
      index = index * 2 + (lat >= mid ? 1 : 0);
      if (lat >= mid) latLo = mid;
      else latHi = mid;
    }
    lngBit = !lngBit;
    if (++bits === 5) {
      hash += BASE32[index];
      bits = 0;
      index = 0;
    }
  }
  return hash;
}
