/**
 * The request cannot be read as the Go plugin reads it (a body it cannot parse, a v2 Struct its
 * encoding/json rejects). The plugin answers these itself with PERMISSION_DENIED and a 400 denial whose
 * body is `request_parse_error: ${message}`; the message is Go's err.Error() for the same failure.
 */
export class RequestParseError extends Error {
  override readonly name = 'RequestParseError';
}
