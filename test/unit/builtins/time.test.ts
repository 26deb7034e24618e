// time.* parsing, formatting and calendar builtins
// Every expected value below was produced by Go OPA 1.19.1: `opa eval -f json '<name>(<args>)'`
// (undefined: OPA had no result because the builtin failed, which the engine reproduces).
import { describe, expect, it } from 'vitest';
import { call, type BuiltinValue } from './harness.js';

type Case = [label: string, name: string, args: BuiltinValue[], expected: BuiltinValue | undefined];

const CASES: Case[] = [
  ["parse_rfc3339_ns with offset and nanos", "time.parse_rfc3339_ns", ["2017-06-02T19:00:00.123456789-07:00"], 1496455200123456789n],
  ["parse_rfc3339_ns UTC", "time.parse_rfc3339_ns", ["1970-01-01T00:00:01Z"], 1000000000],
  ["parse_rfc3339_ns bad value 'yesterday'", "time.parse_rfc3339_ns", ["yesterday"], undefined],
  ["parse_rfc3339_ns missing zone '2017-06-02T19:00:00'", "time.parse_rfc3339_ns", ["2017-06-02T19:00:00"], undefined],
  ["parse_rfc3339_ns hour out of range '25:00:00'", "time.parse_rfc3339_ns", ["2017-06-02T25:00:00Z"], undefined],
  ["parse_ns date only", "time.parse_ns", ["2006-01-02", "2023-03-04"], 1677888000000000000n],
  ["parse_ns day out of range '2023-02-29'", "time.parse_ns", ["2006-01-02", "2023-02-29"], undefined],
  ["parse_ns leap day", "time.parse_ns", ["2006-01-02", "2024-02-29"], 1709164800000000000n],
  ["parse_ns named layout RFC822Z", "time.parse_ns", ["RFC822Z", "02 Jan 06 15:04 -0700"], 1136239440000000000n],
  ["parse_ns UnixDate with unknown abbreviation", "time.parse_ns", ["Mon Jan _2 15:04:05 MST 2006", "Tue Nov  7 10:00:00 PST 2023"], 1699351200000000000n],
  ["parse_ns fractional seconds not in layout", "time.parse_ns", ["2006-01-02 15:04:05", "2023-01-01 10:00:00.5"], 1672567200500000000n],
  ["parse_ns .000 requires exact digits '.12'", "time.parse_ns", ["2006-01-02T15:04:05.000Z07:00", "2023-01-01T00:00:00.12Z"], undefined],
  ["parse_ns kitchen layout lands before 1677", "time.parse_ns", ["3:04PM", "11:30AM"], undefined],
  ["parse_ns day of year", "time.parse_ns", ["Jan 2 2006 __2", "Mar 1 2024 061"], 1709251200000000000n],
  ["parse_ns month names case-insensitive", "time.parse_ns", ["January 2, 2006", "MARCH 5, 2021"], 1614902400000000000n],
  ["parse_ns extra text", "time.parse_ns", ["2006-01-02", "2023-01-01 x"], undefined],
  ["parse_duration_ns mixed units", "time.parse_duration_ns", ["1h30m15.5s"], 5415500000000],
  ["parse_duration_ns micro sign", "time.parse_duration_ns", ["3µs"], 3000],
  ["parse_duration_ns days", "time.parse_duration_ns", ["1.5d"], 129600000000000],
  ["parse_duration_ns weeks days hours negative", "time.parse_duration_ns", ["-1w2d3h"], -788400000000000],
  ["parse_duration_ns year", "time.parse_duration_ns", ["1y"], 31536000000000000n],
  ["parse_duration_ns leading dot", "time.parse_duration_ns", [".5s"], 500000000],
  ["parse_duration_ns zero", "time.parse_duration_ns", ["0"], 0],
  ["parse_duration_ns bad duration '1x'", "time.parse_duration_ns", ["1x"], undefined],
  ["parse_duration_ns bad duration '5' (no unit)", "time.parse_duration_ns", ["5"], undefined],
  ["parse_duration_ns bad duration '' (empty)", "time.parse_duration_ns", [""], undefined],
  ["parse_duration_ns bad duration '1d1x'", "time.parse_duration_ns", ["1d1x"], undefined],
  ["parse_duration_ns overflow '300y'", "time.parse_duration_ns", ["300y"], undefined],
  ["parse_duration_ns overflow '9999999999h'", "time.parse_duration_ns", ["9999999999h"], undefined],
  ["format default RFC3339Nano", "time.format", [1700000000123456789n], "2023-11-14T22:13:20.123456789Z"],
  ["format in zone with layout", "time.format", [[1700000000123456789n, "America/New_York", "Mon, 02 Jan 2006 15:04:05.000 MST -07:00"]], "Tue, 14 Nov 2023 17:13:20.123 EST -05:00"],
  ["format named layout RFC1123Z in zone", "time.format", [[1700000000000000000n, "Asia/Tokyo", "RFC1123Z"]], "Wed, 15 Nov 2023 07:13:20 +0900"],
  ["format zone only", "time.format", [[1700000000000000000n, "Europe/London"]], "2023-11-14T22:13:20Z"],
  ["format 12-hour and year day", "time.format", [[1700000000000000000n, "UTC", "3:04:05 pm 03 PM _2 __2 002 .999 ,000 Z0700 -07"]], "10:13:20 pm 10 PM 14 318 318  ,000 Z +00"],
  ["format unknown zone 'Mars/Base'", "time.format", [[1700000000000000000n, "Mars/Base"]], undefined],
  ["format zone name with wrong case 'america/new_york'", "time.format", [[1700000000000000000n, "america/new_york"]], undefined],
  ["format fractional timestamp 1.5", "time.format", [1.5], undefined],
  ["date in UTC", "time.date", [1700000000000000000n], [2023, 11, 14]],
  ["date in zone across midnight", "time.date", [[1700000000000000000n, "Asia/Tokyo"]], [2023, 11, 15]],
  ["clock in zone", "time.clock", [[1700000000000000000n, "Asia/Kolkata"]], [3, 43, 20]],
  ["weekday", "time.weekday", [1700000000000000000n], "Tuesday"],
  ["weekday in zone", "time.weekday", [[1700000000000000000n, "Pacific/Kiritimati"]], "Wednesday"],
  ["weekday before epoch", "time.weekday", [-1000000000000000000n], "Sunday"],
  ["add_date month overflow normalises", "time.add_date", [1706659200000000000n, 0, 1, 0], 1709337600000000000n],
  ["add_date negative", "time.add_date", [1700000000000000000n, -1, -2, -3], 1662934400000000000n],
  ["add_date beyond 2262", "time.add_date", [1700000000000000000n, 300, 0, 0], undefined],
  ["diff", "time.diff", [1700000000000000000n, 1600000000000000000n], [3, 2, 1, 9, 46, 40]],
  ["diff with zones", "time.diff", [[1700000000000000000n, "America/New_York"], [1609459200000000000n, "Asia/Tokyo"]], [2, 10, 13, 22, 13, 20]],
  ["diff of equal times", "time.diff", [0, 0], [0, 0, 0, 0, 0, 0]],
];

describe('time builtins match opa eval 1.19.1', () => {
  it.each(CASES)('%s', (_label, name, args, expected) => {
    expect(call(name, args)).toEqual(expected);
  });
});
