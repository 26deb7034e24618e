// crypto.* digest and HMAC builtins: hex digests of the UTF-8 bytes of their string operands.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { stringOperand, utf8Bytes, type BuiltinFn } from './values.js';

function digest(algorithm: string): BuiltinFn {
  return (s) => createHash(algorithm).update(utf8Bytes(stringOperand(s, 1))).digest('hex');
}

function hmac(algorithm: string): BuiltinFn {
  return (message, key) => {
    const m = utf8Bytes(stringOperand(message, 1));
    const k = utf8Bytes(stringOperand(key, 2));
    return createHmac(algorithm, k).update(m).digest('hex');
  };
}

/** Go's hmac.Equal: constant-time for equal lengths, false for different lengths. */
const hmacEqual: BuiltinFn = (a, b) => {
  const x = utf8Bytes(stringOperand(a, 1));
  const y = utf8Bytes(stringOperand(b, 2));
  return x.length === y.length && timingSafeEqual(x, y);
};

export const cryptoBuiltins: ReadonlyArray<readonly [string, BuiltinFn]> = [
  ['crypto.md5', digest('md5')],
  ['crypto.sha1', digest('sha1')],
  ['crypto.sha256', digest('sha256')],
  ['crypto.hmac.md5', hmac('md5')],
  ['crypto.hmac.sha1', hmac('sha1')],
  ['crypto.hmac.sha256', hmac('sha256')],
  ['crypto.hmac.sha512', hmac('sha512')],
  ['crypto.hmac.equal', hmacEqual],
];
