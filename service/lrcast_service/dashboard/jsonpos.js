// A JSON parser that also records where each field sits in the text, so that an error naming
// a field path (`schedulers[1].T_max`) can be shown at that field in the editor.

export class JsonSyntaxError extends Error {
  constructor(message, pos) { super(message); this.pos = pos; }
}

/**
 * Parse `text`; returns {value, spans} where spans maps a field path ('' for the root,
 * `a.b[2].c` below) to {start, end} offsets of the field (its key through its value).
 * Throws JsonSyntaxError with the offset of the problem.
 */
export function parseWithSpans(text) {
  let i = 0;
  const spans = new Map();
  const fail = (msg) => { throw new JsonSyntaxError(msg, i); };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const join = (path, key) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);

  function string() {
    if (text[i] !== '"') fail('expected a string');
    const start = i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text[i] === '\n') fail('unterminated string');
      i++;
    }
    if (i >= text.length) fail('unterminated string');
    i++;
    try { return JSON.parse(text.slice(start, i)); } catch { i = start; return fail('invalid string escape'); }
  }

  function value(path, fieldStart) {
    ws();
    const start = i;
    let v;
    const c = text[i];
    if (c === '{') {
      i++; v = {}; ws();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          ws();
          const keyStart = i;
          const key = string();
          ws();
          if (text[i] !== ':') fail("expected ':' after a key");
          i++;
          v[key] = value(join(path, key), keyStart);
          ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === '}') { i++; break; }
          fail("expected ',' or '}'");
        }
      }
    } else if (c === '[') {
      i++; v = []; ws();
      if (text[i] === ']') i++;
      else {
        for (let k = 0; ; k++) {
          v.push(value(join(path, k)));
          ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === ']') { i++; break; }
          fail("expected ',' or ']'");
        }
      }
    } else if (c === '"') {
      v = string();
    } else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|^true|^false|^null/.exec(text.slice(i, i + 400));
      if (!m) fail(i >= text.length ? 'unexpected end of input' : `unexpected '${text[i]}'`);
      i += m[0].length;
      v = JSON.parse(m[0]);
    }
    spans.set(path, { start: fieldStart ?? start, end: i });
    return v;
  }

  const v = value('');
  ws();
  if (i < text.length) fail('unexpected text after the JSON value');
  return { value: v, spans };
}

/** The span of `path`, or of its nearest enclosing field present in `spans`. */
export function spanOf(spans, path) {
  let p = path || '';
  for (;;) {
    if (spans.has(p)) return { span: spans.get(p), path: p };
    if (!p) return null;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut > 0 ? p.slice(0, cut) : '';
  }
}

/** 1-based line number of an offset. */
export function lineOf(text, pos) {
  let line = 1;
  for (let k = 0; k < pos && k < text.length; k++) if (text[k] === '\n') line++;
  return line;
}
