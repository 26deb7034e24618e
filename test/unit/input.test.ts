// Expected values are the Go plugin's (opa-envoy-plugin v1.19.1): each case was sent to it over
// ext_authz v3 (v2 where stated) with a policy echoing `input`, or answered with its
// request_parse_error text, and the observed value is written here as a literal.
import { describe, expect, it } from 'vitest';
import { buildInput, type InputOptions, RequestParseError } from '../../src/authz/input.js';
import type { ApiVersion, DecodedRequest } from '../../src/authz/types.js';

interface HttpFields {
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  rawBody?: Uint8Array;
}

/** A request as the decoder hands it over: protomap's populated fields only, raw bytes still bytes. */
function request(fields: HttpFields, sourcePrincipal = ''): DecodedRequest {
  const object: Record<string, unknown> = {};
  if (fields.path) object.path = fields.path;
  if (fields.headers) object.headers = fields.headers;
  if (fields.body) object.body = fields.body;
  if (fields.rawBody && fields.rawBody.length > 0) object.rawBody = fields.rawBody;
  const attributes: Record<string, unknown> = { request: { http: object } };
  if (sourcePrincipal) attributes.source = { principal: sourcePrincipal };
  return {
    doc: { attributes },
    http: { object, path: fields.path ?? '', body: fields.body ?? '', rawBody: fields.rawBody, headers: fields.headers ?? {} },
    sourcePrincipal,
  };
}

function options(overrides: { maxSize?: number; sendRawBody?: boolean; skipRequestBodyParse?: boolean } = {}): InputOptions {
  return {
    authConfig: { statusOnError: 403, onAgentFailure: 'deny', maxSize: overrides.maxSize ?? 0, sendRawBody: overrides.sendRawBody ?? false },
    skipRequestBodyParse: overrides.skipRequestBodyParse ?? false,
  };
}

/** The document as the evaluator receives it (serialized). */
function input(fields: HttpFields, opts = options(), version: ApiVersion = 'v3', sourcePrincipal = ''): Record<string, unknown> {
  return JSON.parse(JSON.stringify(buildInput(request(fields, sourcePrincipal), version, opts))) as Record<string, unknown>;
}

function parseError(fields: HttpFields, opts = options()): string {
  try {
    buildInput(request(fields), 'v3', opts);
  } catch (err) {
    expect(err).toBeInstanceOf(RequestParseError);
    return (err as Error).message;
  }
  throw new Error('expected a RequestParseError');
}

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const JSON_TYPE = { 'content-type': 'application/json' };
const FORM_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };

describe('whole document', () => {
  it('v3: adds version, parsed_path, parsed_query, parsed_body, truncated_body, source_principal', () => {
    const doc = input({ path: '//admin?a=1&a=2&b', headers: JSON_TYPE, body: '{"x":1}' }, options(), 'v3', 'spiffe://a');
    expect(doc).toEqual({
      attributes: {
        request: { http: { body: '{"x":1}', headers: { 'content-type': 'application/json' }, path: '//admin?a=1&a=2&b' } },
        source: { principal: 'spiffe://a' },
      },
      parsed_body: { x: 1 },
      parsed_path: ['admin'],
      parsed_query: { a: ['1', '2'], b: [''] },
      source_principal: 'spiffe://a',
      truncated_body: false,
      version: { encoding: 'protojson', ext_authz: 'v3' },
    });
  });

  it('v2: version says encoding/json', () => {
    const doc = input({ path: '/v2?x=1', headers: JSON_TYPE, body: '{"k":"v"}' }, options(), 'v2');
    expect(doc.version).toEqual({ encoding: 'encoding/json', ext_authz: 'v2' });
    expect(doc.parsed_path).toEqual(['v2']);
    expect(doc.parsed_query).toEqual({ x: ['1'] });
    expect(doc.parsed_body).toEqual({ k: 'v' });
  });

  it('returns the request document itself, with source_principal absent when the principal is empty', () => {
    const req = request({ path: '/' });
    const doc = buildInput(req, 'v3', options());
    expect(doc).toBe(req.doc);
    expect('source_principal' in doc).toBe(false);
  });

  it('skipRequestBodyParse leaves out parsed_body and truncated_body, even for invalid JSON with a bad content-length', () => {
    const doc = input(
      { path: '/a', headers: { 'content-type': 'application/json', 'content-length': 'abc' }, body: '{bad' },
      options({ skipRequestBodyParse: true }),
    );
    expect(doc).toEqual({
      attributes: { request: { http: { body: '{bad', headers: { 'content-length': 'abc', 'content-type': 'application/json' }, path: '/a' } } },
      parsed_path: ['a'],
      parsed_query: {},
      version: { encoding: 'protojson', ext_authz: 'v3' },
    });
  });
});

describe('parsed_path', () => {
  it.each([
    ['//admin', ['admin']],
    ['/%2Fadmin', ['admin']],
    ['', ['']],
    ['/', ['']],
    ['noslash/x', ['noslash', 'x']],
    ['/a/b/', ['a', 'b', '']],
    ['/a//b', ['a', '', 'b']],
    ['/a+b?q', ['a+b']],
    ['/%E4%BD%A0', ['你']],
    ['/%0a', ['\n']],
  ])('%j -> %j', (path, expected) => {
    expect(input({ path }).parsed_path).toEqual(expected);
  });

  it('shows each byte of a broken UTF-8 escape as U+FFFD (%E4%BD, %ED%A0%80)', () => {
    expect(input({ path: '/%E4%BD' }).parsed_path).toEqual(['\ufffd\ufffd']);
    expect(input({ path: '/%ED%A0%80' }).parsed_path).toEqual(['\ufffd\ufffd\ufffd']);
  });

  it.each([
    ['/a%zz', 'invalid URL escape "%zz"'],
    ['/x%', 'invalid URL escape "%"'],
    ['/x%2', 'invalid URL escape "%2"'],
    ['/%中', 'invalid URL escape "%\\xe4\\xb8"'],
    ['/%é', 'invalid URL escape "%é"'],
  ])('bad escape in path %j fails with %j', (path, message) => {
    expect(parseError({ path })).toBe(message);
  });
});

describe('parsed_query', () => {
  it.each([
    ['/p?a=1&a=2&b', { a: ['1', '2'], b: [''] }],
    ['/p?x=a+b%20c&=v&k=', { '': ['v'], k: [''], x: ['a b c'] }],
    ['/p?a=1&&b=2', { a: ['1'], b: ['2'] }],
    ['/p?&', {}],
    ['/p', {}],
    ['/p?a=1#frag', { a: ['1#frag'] }],
    ['/p??a=1', { '?a': ['1'] }],
    ['/p?a=1?b', { a: ['1?b'] }],
    ['/p?a=%0A%00', { a: ['\n\u0000'] }],
    ['/p?%E4=1', { '\ufffd': ['1'] }],
  ])('%j -> %j', (path, expected) => {
    expect(input({ path }).parsed_query).toEqual(expected);
  });

  it('keeps __proto__ and constructor as ordinary keys', () => {
    const query = input({ path: '/p?__proto__=1&constructor=2' }).parsed_query as Record<string, unknown>;
    expect(Object.entries(query)).toEqual([
      ['__proto__', ['1']],
      ['constructor', ['2']],
    ]);
  });

  it.each([
    ['/p?a=1;b=2', 'invalid semicolon separator in query'],
    ['/p?;', 'invalid semicolon separator in query'],
    // A ';' anywhere wins over an earlier bad escape.
    ['/p?a=%zz&b;', 'invalid semicolon separator in query'],
    ['/?a=%zz', 'invalid URL escape "%zz"'],
    ['/p?a=%', 'invalid URL escape "%"'],
    // The first bad escape is the one reported.
    ['/p?b=%zz&a=%qq', 'invalid URL escape "%zz"'],
    ['/p?%2=1', 'invalid URL escape "%2"'],
  ])('query %j fails with %j', (path, message) => {
    expect(parseError({ path })).toBe(message);
  });
});

describe('parsed_body: JSON', () => {
  it('parses a text body', () => {
    expect(input({ headers: JSON_TYPE, body: '{"a":[1,"x",true,null]}' })).toMatchObject({
      parsed_body: { a: [1, 'x', true, null] },
      truncated_body: false,
    });
  });

  it('keeps big integers as JS numbers (the plugin keeps them exact: a documented precision limit)', () => {
    // The plugin shows 12345678901234567890; a double holds the nearest value.
    expect(input({ headers: JSON_TYPE, body: '{"x":12345678901234567890}' }).parsed_body).toEqual({ x: 12345678901234567890 });
  });

  it('parses raw bytes when there is no text body, and shows them as padded base64', () => {
    expect(input({ path: '/p', headers: JSON_TYPE, rawBody: bytes('{"a":1}') })).toMatchObject({
      attributes: { request: { http: { rawBody: 'eyJhIjoxfQ==' } } },
      parsed_body: { a: 1 },
      truncated_body: false,
    });
  });

  it('prefers the text body over raw bytes', () => {
    expect(input({ path: '/a', headers: JSON_TYPE, body: '{"x":1}', rawBody: bytes('{"y":2}') })).toMatchObject({
      attributes: { request: { http: { body: '{"x":1}', rawBody: 'eyJ5IjoyfQ==' } } },
      parsed_body: { x: 1 },
    });
  });

  it('shows invalid UTF-8 in raw JSON strings as U+FFFD per byte', () => {
    expect(input({ headers: JSON_TYPE, rawBody: bytes('{"a":"\xff\xe4"}') }).parsed_body).toEqual({ a: '\ufffd\ufffd' });
  });

  it('decodes an unpaired surrogate escape as U+FFFD and a pair as one character', () => {
    expect(input({ headers: JSON_TYPE, body: '{"a":"\\ud800"}' }).parsed_body).toEqual({ a: '\ufffd' });
    expect(input({ headers: JSON_TYPE, body: '{"a":"\\ud83d\\ude00"}' }).parsed_body).toEqual({ a: '😀' });
  });

  it('accepts a second top-level value when it is null, as Go\'s decoder does', () => {
    expect(input({ headers: JSON_TYPE, body: '{} null' }).parsed_body).toEqual({});
  });

  it('keeps __proto__ as an ordinary key', () => {
    expect(JSON.stringify(input({ headers: JSON_TYPE, body: '{"__proto__":1}' }).parsed_body)).toBe('{"__proto__":1}');
  });

  it('gives null without error for an empty body', () => {
    expect(input({ headers: JSON_TYPE })).toMatchObject({ parsed_body: null, truncated_body: false });
  });

  it.each([
    ['{"a":1', 'unexpected EOF'],
    ['nul', 'unexpected EOF'],
    [' ', 'EOF'],
    ['{"a":1}x', "invalid character 'x' looking for beginning of value"],
    ['123abc', "invalid character 'a' looking for beginning of value"],
    ['{"a":1} {"b":2}', "error: invalid character '{' after top-level value"],
    ['1 2', "error: invalid character '2' after top-level value"],
    ['{} 12.5e3', "error: invalid character '12.5e3' after top-level value"],
    ['{} "str"', "error: invalid character 'str' after top-level value"],
    ['{} true', "error: invalid character '%!s(bool=true)' after top-level value"],
    ['{"a":01}', "invalid character '1' after object key:value pair"],
    ['{"a":1,}', "invalid character '}' looking for beginning of object key string"],
    ["{'a':1}", "invalid character '\\'' looking for beginning of object key string"],
    ['"\\x"', "invalid character 'x' in string escape code"],
    ['{"a":1e}', "invalid character '}' in exponent of numeric literal"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":tru}', "invalid character '}' in literal true (expecting 'e')"],
    ['{"a":-}', "invalid character '}' in numeric literal"],
    ['{"a":"x\\u00"}', 'invalid character \'"\' in \\u hexadecimal character escape'],
    ['{"a":"a\tb"}', "invalid character '\\t' in string literal"],
    ['\ufeff{}', "invalid character 'ï' looking for beginning of value"],
    ['['.repeat(10001) + ']'.repeat(10001), "invalid character '[' exceeded max depth"],
  ])('invalid JSON %j fails with %j', (body, message) => {
    expect(parseError({ headers: JSON_TYPE, body })).toBe(message);
  });

  it('invalid raw JSON byte 0xff fails with Go\'s rune quoting', () => {
    expect(parseError({ headers: JSON_TYPE, rawBody: bytes('\xff') })).toBe("invalid character 'ÿ' looking for beginning of value");
  });
});

describe('parsed_body: content types', () => {
  it.each([
    ['APPLICATION/JSON', '{"a":1}', null], // matched case-sensitively
    ['application/jsonx', '{"a":1}', { a: 1 }], // matched as a substring
    ['text/plain', 'hello', null],
    ['application/grpc', 'ignored', null],
    ['application/grpc+json', '{"a":1}', null],
  ])('content type %j with body %j gives %j', (contentType, body, expected) => {
    expect(input({ headers: { 'content-type': contentType }, body })).toMatchObject({ parsed_body: expected, truncated_body: false });
  });

  it('gRPC raw bytes are not decoded (the agent has no descriptor set, like the plugin without one)', () => {
    expect(input({ headers: { 'content-type': 'application/grpc' }, rawBody: bytes('\x00\x00\x00\x00\x02\x08\x01') })).toMatchObject({
      attributes: { request: { http: { rawBody: 'AAAAAAIIAQ==' } } },
      parsed_body: null,
      truncated_body: false,
    });
  });

  it('without content-type nothing is parsed', () => {
    expect(input({ body: 'hello' })).toMatchObject({ parsed_body: null, truncated_body: false });
  });

  it('binary raw bytes of an unparsed type appear as standard base64 with padding', () => {
    expect(input({ path: '/x', headers: { 'content-type': 'application/octet-stream' }, rawBody: bytes('\x00\xff\xfe\x80\x01') })).toEqual({
      attributes: { request: { http: { headers: { 'content-type': 'application/octet-stream' }, path: '/x', rawBody: 'AP/+gAE=' } } },
      parsed_body: null,
      parsed_path: ['x'],
      parsed_query: {},
      truncated_body: false,
      version: { encoding: 'protojson', ext_authz: 'v3' },
    });
  });
});

describe('truncated_body', () => {
  it('is true with x-envoy-auth-partial-body: "true", and the body (invalid here) is not parsed', () => {
    expect(input({ headers: { ...JSON_TYPE, 'x-envoy-auth-partial-body': 'true' }, body: '{bad' })).toMatchObject({
      parsed_body: null,
      truncated_body: true,
    });
  });

  it('is true with x-envoy-auth-partial-body whatever the content type', () => {
    expect(input({ headers: { 'x-envoy-auth-partial-body': 'true' }, body: 'x' })).toMatchObject({ parsed_body: null, truncated_body: true });
  });

  it('ignores x-envoy-auth-partial-body values other than exactly "true" ("True")', () => {
    expect(input({ headers: { ...JSON_TYPE, 'x-envoy-auth-partial-body': 'True' }, body: '{"a":1}' })).toMatchObject({
      parsed_body: { a: 1 },
      truncated_body: false,
    });
  });

  it.each([
    ['100', true],
    ['+100', true],
    ['7', false],
    ['6', false],
    ['-1', false],
    ['-5', false],
    ['-9223372036854775808', false],
    ['9223372036854775807', true],
  ])('content-length %s on a 7-byte JSON body: truncated %s', (contentLength, truncated) => {
    const doc = input({ headers: { ...JSON_TYPE, 'content-length': contentLength }, body: '{"a":1}' });
    expect(doc).toMatchObject({ parsed_body: truncated ? null : { a: 1 }, truncated_body: truncated });
  });

  it('counts bytes, not characters ({"a":"é"} is 10 bytes)', () => {
    expect(input({ headers: { ...JSON_TYPE, 'content-length': '10' }, body: '{"a":"é"}' }).truncated_body).toBe(false);
    expect(input({ headers: { ...JSON_TYPE, 'content-length': '11' }, body: '{"a":"é"}' }).truncated_body).toBe(true);
  });

  it('compares content-length with the raw byte count', () => {
    expect(input({ headers: { ...JSON_TYPE, 'content-length': '5' }, rawBody: bytes('{}') })).toMatchObject({ parsed_body: null, truncated_body: true });
  });

  it.each([
    ['abc', 'strconv.ParseInt: parsing "abc": invalid syntax'],
    ['', 'strconv.ParseInt: parsing "": invalid syntax'],
    [' 7', 'strconv.ParseInt: parsing " 7": invalid syntax'],
    ['1_0', 'strconv.ParseInt: parsing "1_0": invalid syntax'],
    ['é', 'strconv.ParseInt: parsing "é": invalid syntax'],
    ['99999999999999999999', 'strconv.ParseInt: parsing "99999999999999999999": value out of range'],
    ['9223372036854775808', 'strconv.ParseInt: parsing "9223372036854775808": value out of range'],
    // The overflow comes before the bad character.
    ['99999999999999999999x', 'strconv.ParseInt: parsing "99999999999999999999x": value out of range'],
  ])('bad content-length %j fails with %j', (contentLength, message) => {
    expect(parseError({ headers: { ...JSON_TYPE, 'content-length': contentLength }, body: '{"a":1}' })).toBe(message);
  });

  it('bad content-length "abc" is not read when the JSON body is empty', () => {
    expect(input({ headers: { ...JSON_TYPE, 'content-length': 'abc' } })).toMatchObject({ parsed_body: null, truncated_body: false });
  });

  it('bad content-length "abc" is not read for content types that are not parsed', () => {
    expect(input({ headers: { 'content-type': 'text/plain', 'content-length': 'abc' }, body: 'hello' })).toMatchObject({
      parsed_body: null,
      truncated_body: false,
    });
  });
});

describe('parsed_body: application/x-www-form-urlencoded', () => {
  it('parses like a query: arrays of values, + as space', () => {
    expect(input({ headers: FORM_TYPE, body: 'a=1&a=2&b&c=x+y%21' }).parsed_body).toEqual({ a: ['1', '2'], b: [''], c: ['x y!'] });
  });

  it('matches the content type as a substring (with a charset parameter)', () => {
    expect(input({ headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: 'k=v' }).parsed_body).toEqual({ k: ['v'] });
  });

  it('parses raw bytes, invalid UTF-8 shown as U+FFFD', () => {
    expect(input({ headers: FORM_TYPE, rawBody: bytes('a=1&b=\xff&c=%41') }).parsed_body).toEqual({ a: ['1'], b: ['\ufffd'], c: ['A'] });
  });

  it('is truncated when content-length is larger than the body', () => {
    expect(input({ headers: { ...FORM_TYPE, 'content-length': '100' }, body: 'a=1' })).toMatchObject({ parsed_body: null, truncated_body: true });
  });

  it('semicolon in a form body fails', () => {
    expect(parseError({ headers: FORM_TYPE, body: 'a=1;b=2' })).toBe('invalid semicolon separator in query');
  });

  it('bad escape in a form body fails', () => {
    expect(parseError({ headers: FORM_TYPE, body: 'a=%zz' })).toBe('invalid URL escape "%zz"');
  });

  it('bad content-length "x" on a form body fails', () => {
    expect(parseError({ headers: { ...FORM_TYPE, 'content-length': 'x' }, body: 'a=1' })).toBe('strconv.ParseInt: parsing "x": invalid syntax');
  });
});

describe('parsed_body: multipart/form-data', () => {
  const MULTIPART = { 'content-type': 'multipart/form-data; boundary=XyZ' };

  it('parses a JSON part and a file part (text body)', () => {
    const body =
      '--B\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"n":1,"tags":["x"]}\r\n' +
      '--B\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n--B--\r\n';
    expect(input({ headers: { 'content-type': 'multipart/form-data; boundary=B' }, body }).parsed_body).toEqual({
      file: ['line1\r\nline2'],
      meta: [{ n: 1, tags: ['x'] }],
    });
  });

  it('parses raw bytes with a binary file part', () => {
    const raw = bytes(
      '--B\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"n":1,"tags":["x"]}\r\n' +
        '--B\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n\x89PNG\x00\r\n--B--\r\n',
    );
    expect(input({ headers: { 'content-type': 'multipart/form-data; boundary=B' }, rawBody: raw }).parsed_body).toEqual({
      file: ['\ufffdPNG\u0000'],
      meta: [{ n: 1, tags: ['x'] }],
    });
  });

  it('collects repeated names and skips parts without a form-data name', () => {
    const body =
      '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nhello\r\n' +
      '--XyZ\r\nContent-Disposition: form-data; name="j"\r\nContent-Type: application/json\r\n\r\n{"k":[1,2]}\r\n' +
      '--XyZ\r\nContent-Disposition: form-data; name="f"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nfile\r\ncontent\r\n' +
      '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nsecond\r\n' +
      '--XyZ\r\nContent-Disposition: attachment; name="skip"\r\n\r\nx\r\n' +
      '--XyZ\r\n\r\nnoheaders\r\n--XyZ--\r\n';
    expect(input({ headers: MULTIPART, body }).parsed_body).toEqual({ a: ['hello', 'second'], f: ['file\r\ncontent'], j: [{ k: [1, 2] }] });
  });

  it.each([
    ['a preamble and no final line break', 'preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--', { a: ['1'] }],
    ['bare \\n line breaks', '--XyZ\nContent-Disposition: form-data; name=a\n\n1\n--XyZ--\n', { a: ['1'] }],
    ['a folded header line', '--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n1\r\n--XyZ--', { a: ['1'] }],
    ['only the final boundary', '--XyZ--', {}],
    ['input ending after a boundary line', '--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ\r\n', { a: ['1'] }],
    [
      'quoted-printable content',
      '--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nh=C3=A9llo=\r\n world=3D\r\n--XyZ--',
      { a: ['héllo world='] },
    ],
  ])('with %s', (_, body, expected) => {
    expect(input({ headers: MULTIPART, body }).parsed_body).toEqual(expected);
  });

  it('gives null when the content type has no boundary parameter', () => {
    expect(input({ headers: { 'content-type': 'multipart/form-data' }, body: '--XyZ--' }).parsed_body).toBeNull();
  });

  it('is truncated when content-length is larger than the body', () => {
    const body = '--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--';
    expect(input({ headers: { ...MULTIPART, 'content-length': '1000' }, body })).toMatchObject({ parsed_body: null, truncated_body: true });
  });

  it.each([
    ['input ending inside a part', '--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1', 'unexpected EOF'],
    ['no boundary line at all', 'no boundary here', 'multipart: NextPart: EOF'],
    [
      'a JSON part with invalid JSON',
      '--XyZ\r\nContent-Disposition: form-data; name=j\r\nContent-Type: application/json\r\n\r\n{bad\r\n--XyZ--',
      "invalid character 'b' looking for beginning of object key string",
    ],
    ['an empty JSON part', '--XyZ\r\nContent-Disposition: form-data; name=j\r\nContent-Type: application/json\r\n\r\n\r\n--XyZ--', 'EOF'],
    ['a header line without colon', '--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ\r\njunk\r\n', 'malformed MIME header: missing colon: "junk"'],
    [
      'a first header line starting with a space',
      '--XyZ\r\n Content-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--',
      'malformed MIME header initial line: " Content-Disposition: form-data; name=a"',
    ],
  ])('multipart body with %s fails', (_, body, message) => {
    expect(parseError({ headers: MULTIPART, body })).toBe(message);
  });

  it.each([
    ['multipart/form-data; boundary=""', 'multipart: boundary is empty'],
    ['multipart/form-data; boundary', 'mime: invalid media parameter'],
    ['multipart/form-data; boundary=a; boundary=b', 'mime: duplicate parameter name'],
    ['xmultipart/form-data/; boundary=XyZ', 'mime: unexpected content after media subtype'],
  ])('content type %j fails with %j', (contentType, message) => {
    expect(parseError({ headers: { 'content-type': contentType }, body: '--XyZ--' })).toBe(message);
  });
});

describe('authConfig.requestBody', () => {
  it('maxSize cuts a text body (before a character it would split) and marks it partial', () => {
    const headers = { ...JSON_TYPE };
    // {"a":"héllo"} is 14 bytes; 8 would split the é, so 7 remain.
    const doc = input({ path: '/x', headers, body: '{"a":"héllo"}' }, options({ maxSize: 8 }));
    expect(doc).toEqual({
      attributes: { request: { http: { body: '{"a":"h', headers: { 'content-type': 'application/json', 'x-envoy-auth-partial-body': 'true' }, path: '/x' } } },
      parsed_body: null,
      parsed_path: ['x'],
      parsed_query: {},
      truncated_body: true,
      version: { encoding: 'protojson', ext_authz: 'v3' },
    });
  });

  it('maxSize leaves a body that fits alone, without the partial header', () => {
    const doc = input({ headers: { ...JSON_TYPE }, body: '{"a":1}' }, options({ maxSize: 7 }));
    expect(doc).toMatchObject({ attributes: { request: { http: { body: '{"a":1}', headers: JSON_TYPE } } }, parsed_body: { a: 1 } });
  });

  it('maxSize cuts raw bytes to exactly maxSize bytes', () => {
    const doc = input({ path: '/x', headers: { 'content-type': 'application/octet-stream' }, rawBody: bytes('\x00\xff\xfe\x80\x01') }, options({ maxSize: 3 }));
    expect(doc).toMatchObject({
      attributes: { request: { http: { headers: { 'content-type': 'application/octet-stream', 'x-envoy-auth-partial-body': 'true' }, rawBody: 'AP/+' } } },
      parsed_body: null,
      truncated_body: true,
    });
  });

  it('maxSize adds the headers object when the request had none', () => {
    const doc = input({ path: '/x', body: 'abcdef' }, options({ maxSize: 3 }));
    expect(doc.attributes).toEqual({ request: { http: { body: 'abc', headers: { 'x-envoy-auth-partial-body': 'true' }, path: '/x' } } });
    expect(doc).toMatchObject({ parsed_body: null, truncated_body: true });
  });

  it('maxSize still cuts the body when body parsing is skipped', () => {
    const doc = input({ path: '/x', body: 'abcdef' }, options({ maxSize: 3, skipRequestBodyParse: true }));
    expect(doc.attributes).toEqual({ request: { http: { body: 'abc', headers: { 'x-envoy-auth-partial-body': 'true' }, path: '/x' } } });
    expect('truncated_body' in doc).toBe(false);
  });

  it('sendRawBody presents a text body as rawBody bytes and parses it from there', () => {
    const doc = input({ path: '/x', headers: { ...JSON_TYPE }, body: '{"a":1}' }, options({ sendRawBody: true }));
    expect(doc).toEqual({
      attributes: { request: { http: { headers: { 'content-type': 'application/json' }, path: '/x', rawBody: 'eyJhIjoxfQ==' } } },
      parsed_body: { a: 1 },
      parsed_path: ['x'],
      parsed_query: {},
      truncated_body: false,
      version: { encoding: 'protojson', ext_authz: 'v3' },
    });
  });

  it('sendRawBody keeps binary raw bytes as they came, then maxSize cuts them', () => {
    const raw = bytes('\x00\xff\xfe\x80\x01');
    expect(input({ headers: { 'content-type': 'application/octet-stream' }, rawBody: raw }, options({ sendRawBody: true }))).toMatchObject({
      attributes: { request: { http: { rawBody: 'AP/+gAE=' } } },
      truncated_body: false,
    });
    expect(input({ headers: { 'content-type': 'application/octet-stream' }, rawBody: raw }, options({ sendRawBody: true, maxSize: 3 }))).toMatchObject({
      attributes: { request: { http: { rawBody: 'AP/+' } } },
      truncated_body: true,
    });
  });

  it('sendRawBody has no effect on v2, which has no raw body field', () => {
    const doc = input({ headers: { ...JSON_TYPE }, body: '{"a":1}' }, options({ sendRawBody: true }), 'v2');
    expect(doc).toMatchObject({ attributes: { request: { http: { body: '{"a":1}' } } }, parsed_body: { a: 1 } });
  });

  it('maxSize cuts a v2 text body too', () => {
    const doc = input({ headers: { ...JSON_TYPE }, body: '{"a":1}' }, options({ maxSize: 4 }), 'v2');
    expect(doc).toMatchObject({ attributes: { request: { http: { body: '{"a"' } } }, parsed_body: null, truncated_body: true });
  });

  it('leaves no Uint8Array in the document', () => {
    const doc = buildInput(request({ headers: { 'content-type': 'text/plain' }, rawBody: bytes('\x01\x02') }), 'v3', options());
    const walk = (v: unknown): boolean =>
      v instanceof Uint8Array || (typeof v === 'object' && v !== null && Object.values(v).some(walk));
    expect(walk(doc)).toBe(false);
  });
});
