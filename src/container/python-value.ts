/**
 * Python's view of JSON values, so that the SM_* variables pipemode sets are byte-identical to
 * what the SageMaker training toolkit (Python) produces from the same hyperparameters:
 *
 * - `parsePython(text)` is `json.loads`: it keeps the int/float distinction JSON.parse loses
 *   ("10" is an int, "10.0" a float; ints of any size stay exact);
 * - `pythonJson(value)` is `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`,
 *   the toolkit's format for non-string SM_* values;
 * - `pythonStr(value)` is `str(value)`, used for SM_USER_ARGS (`True`, `1e-05`, `['a', 1]`).
 *
 * A test compares all three against the real python3 for a corpus of values.
 */

export type PyValue =
  | null
  | boolean
  | string
  | PyInt
  | PyFloat
  | readonly PyValue[]
  | PyDict;

/** An int, kept as its decimal digits (Python ints are unbounded). */
export class PyInt {
  constructor(readonly digits: string) {}
}

export class PyFloat {
  constructor(readonly value: number) {}
}

/** A dict in insertion order (Python dicts keep it; str() shows it). */
export class PyDict {
  constructor(readonly entries: readonly (readonly [string, PyValue])[]) {}
}

/** `json.loads(text)`; throws SyntaxError if `text` is not JSON (as Python would). */
export function parsePython(text: string): PyValue {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(`not JSON at position ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries: [string, PyValue][] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return new PyDict(entries);
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const key = str();
        ws();
        if (text[i++] !== ':') fail();
        const v = value();
        const existing = entries.findIndex(([k]) => k === key);
        if (existing === -1) entries.push([key, v]);
        else entries[existing] = [key, v]; // last wins, first position kept (as Python)
        ws();
        const sep = text[i++];
        if (sep === '}') return new PyDict(entries);
        if (sep !== ',') fail();
      }
    }
    if (c === '[') {
      i++;
      const items: PyValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return items;
      }
      for (;;) {
        items.push(value());
        ws();
        const sep = text[i++];
        if (sep === ']') return items;
        if (sep !== ',') fail();
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [['true', true], ['false', false], ['null', null], ['NaN', new PyFloat(NaN)], ['Infinity', new PyFloat(Infinity)], ['-Infinity', new PyFloat(-Infinity)]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (m === null) return fail();
    i += m[0].length;
    if (m[2] === undefined && m[3] === undefined) return new PyInt(BigInt(m[0]).toString());
    return new PyFloat(Number(m[0]));
  };
  const str = (): string => {
    const end = findStringEnd(text, i);
    if (end === -1) fail();
    const s = JSON.parse(text.slice(i, end + 1)) as string;
    i = end + 1;
    return s;
  };
  const v = value();
  ws();
  if (i !== text.length) fail();
  return v;
}

function findStringEnd(text: string, start: number): number {
  for (let j = start + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j;
  }
  return -1;
}

/** Python's repr() of a float. */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // shortest round-trip digits, as both Python and JS compute them
  const [mantissa = '', exp = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const e = Number(exp); // value = 0.digits × 10^(e+1)
  const sign = x < 0 ? '-' : '';
  const decpt = e + 1;
  if (decpt > 16 || decpt < -3) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    return `${sign}${digits[0]}${frac}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** JSON string literal with ensure_ascii=True escaping. */
function jsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (code < 0x20 || code > 0x7e) {
      // non-ASCII and control characters as \uXXXX, astral ones as a surrogate pair
      for (let k = 0; k < ch.length; k++) out += `\\u${ch.charCodeAt(k).toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

/** `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`. */
export function pythonJson(value: PyValue): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return jsonString(value);
  if (value instanceof PyInt) return value.digits;
  if (value instanceof PyFloat) return floatRepr(value.value);
  if (value instanceof PyDict) {
    const sorted = [...value.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${sorted.map(([k, v]) => `${jsonString(k)}:${pythonJson(v)}`).join(',')}}`;
  }
  return `[${value.map(pythonJson).join(',')}]`;
}

/** Python's repr() of a str. */
function strRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

function pythonRepr(value: PyValue): string {
  return typeof value === 'string' ? strRepr(value) : pythonStr(value, true);
}

/** Python's str(); `nested` renders None as "None" (top-level None is "" in the toolkit's _decode). */
export function pythonStr(value: PyValue, nested = false): string {
  if (value === null) return nested ? 'None' : '';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return value;
  if (value instanceof PyInt) return value.digits;
  if (value instanceof PyFloat) {
    const r = floatRepr(value.value);
    return r === 'NaN' ? 'nan' : r === 'Infinity' ? 'inf' : r === '-Infinity' ? '-inf' : r;
  }
  if (value instanceof PyDict) return `{${value.entries.map(([k, v]) => `${strRepr(k)}: ${pythonRepr(v)}`).join(', ')}}`;
  return `[${value.map(pythonRepr).join(', ')}]`;
}

/** A plain JS value (from our own code) as a PyValue: numbers become ints when integral. */
export function toPy(value: unknown): PyValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? new PyInt(String(value)) : new PyFloat(value);
  if (value instanceof PyInt || value instanceof PyFloat || value instanceof PyDict) return value;
  if (Array.isArray(value)) return value.map(toPy);
  return new PyDict(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toPy(v)] as const));
}
