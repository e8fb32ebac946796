import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseTime } from './time.ts';

describe('parseTime', () => {
  it('reads the toISOString form, with and without milliseconds', () => {
    assert.equal(parseTime('2024-05-01T12:00:00.123Z'), Date.UTC(2024, 4, 1, 12, 0, 0, 123));
    assert.equal(parseTime('2024-05-01T12:00:00Z'), Date.UTC(2024, 4, 1, 12));
  });

  it('agrees with Date for every toISOString output from year 0 to 9999', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (d) => {
        assert.equal(parseTime(d.toISOString()), d.getTime());
      }),
    );
  });

  it('applies zone offsets, with or without a colon', () => {
    const utc = Date.UTC(2024, 4, 1, 4, 0);
    assert.equal(parseTime('2024-05-01T12:00:00+08:00'), utc);
    assert.equal(parseTime('2024-05-01T12:00:00+0800'), utc);
    assert.equal(parseTime('2024-05-01T12:00+08'), utc);
    assert.equal(parseTime('2024-04-30T23:30:00-04:30'), utc);
  });

  it('reads a time without a zone, and a date alone, as UTC whatever the host zone', () => {
    assert.equal(parseTime('2024-05-01T12:00:00'), Date.UTC(2024, 4, 1, 12));
    assert.equal(parseTime('2024-05-01 12:00:00.5'), Date.UTC(2024, 4, 1, 12, 0, 0, 500));
    assert.equal(parseTime('2024-05-01'), Date.UTC(2024, 4, 1));
  });

  it('keeps whole milliseconds of a longer fraction', () => {
    assert.equal(parseTime('2024-05-01T12:00:00.123456789Z'), Date.UTC(2024, 4, 1, 12, 0, 0, 123));
  });

  it('reads years below 100 as themselves, not as 19xx', () => {
    assert.equal(parseTime('0050-01-01T00:00:00Z'), new Date('0050-01-01T00:00:00Z').getTime());
  });

  it('takes epoch milliseconds as they are, dropping any fraction of a millisecond', () => {
    assert.equal(parseTime(1714564800000), 1714564800000);
    assert.equal(parseTime(0), 0);
    assert.equal(parseTime(1.9), 1);
  });

  it('rejects what is not an ISO 8601 time or a finite epoch within the range of a Date', () => {
    for (const bad of [
      'March 7 2020',
      'yesterday',
      '',
      '1714564800000',
      '2024-13-01T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2024-04-31',
      '2024-05-01T24:00:00Z',
      '2024-05-01T12:60:00Z',
      '2024-05-01T12:00:60Z',
      '2024-05-01T12:00:00+25:00',
      '2024-05-01T12:00:00.Z',
      '２０２４-05-01T12:00:00.000Z',
      '2024-05-01T12:00:00.000Z'.padEnd(100, ' '),
      NaN,
      Infinity,
      -Infinity,
      8.64e15 + 1,
      true,
      null,
      {},
      [],
    ]) {
      assert.equal(parseTime(bad), undefined, `accepted ${JSON.stringify(bad)}`);
    }
  });

  it('accepts leap days of leap years only', () => {
    assert.equal(parseTime('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
    assert.equal(parseTime('2000-02-29'), Date.UTC(2000, 1, 29));
    assert.equal(parseTime('1900-02-29'), undefined);
  });
});
