import test from 'ava';
import { SendDeadline, type Schedule } from '../../lib/delivery/deadline.js';

/** A clock and timers that move only when told to. */
function fakeTime(start = 1_000_000) {
  let now = start;
  let timers: { at: number; fn: () => void }[] = [];
  const schedule: Schedule = (fn, ms) => {
    const timer = { at: now + ms, fn };
    timers.push(timer);
    return () => (timers = timers.filter((t) => t !== timer));
  };
  return {
    clock: () => now,
    schedule,
    advance(ms: number): void {
      now += ms;
      for (const t of timers.filter((t) => t.at <= now)) {
        timers = timers.filter((x) => x !== t);
        t.fn();
      }
    },
    pending: () => timers.length,
    /** A deadline `inMs` from now on this clock and these timers. */
    deadline(inMs: number | null, closingMs?: number): SendDeadline {
      return new SendDeadline(inMs === null ? null : now + inMs, { closingMs, clock: () => now, schedule });
    },
  };
}

test('without a budget sending never stops and no timer runs', (t) => {
  const time = fakeTime();
  const d = time.deadline(null);
  d.transactionTook(500);
  time.advance(10_000_000);
  t.false(d.signal.aborted);
  t.false(d.closingNow);
  t.is(d.stopAt, null);
  t.is(time.pending(), 0);
});

test('sending stops before the end by the expected closing transaction', (t) => {
  const time = fakeTime();
  const end = time.clock() + 2000;
  const d = time.deadline(2000);
  t.is(d.stopAt, end);
  d.transactionTook(60);
  t.is(d.stopAt, end - 60);
  time.advance(1939);
  t.false(d.signal.aborted);
  time.advance(1);
  t.true(d.signal.aborted, 'aborted at end - 60, leaving the closing save inside the budget');
  t.is(time.pending(), 0);
});

test('a later, shorter transaction moves the stop later again (the last one is the estimate)', (t) => {
  const time = fakeTime();
  const d = time.deadline(1000);
  d.transactionTook(300);
  d.transactionTook(50);
  t.is(time.pending(), 1, 'the old timer was replaced, not kept beside the new one');
  time.advance(800);
  t.false(d.signal.aborted);
  time.advance(150);
  t.true(d.signal.aborted);
});

test('an estimate that leaves no time aborts at once', (t) => {
  const time = fakeTime();
  const d = time.deadline(100);
  time.advance(50);
  d.transactionTook(70);
  t.true(d.signal.aborted);
  t.is(time.pending(), 0);
});

test('a transaction closes the run when the next one would leave no time to send', (t) => {
  const time = fakeTime();
  const d = time.deadline(2000);
  d.transactionTook(100);
  time.advance(1790);
  t.false(d.closingNow, '210 ms left: this save (100) and the next (100) still leave 10 ms to send');
  time.advance(10);
  t.true(d.closingNow, '200 ms left: after this save the next one would have to start at once');
  t.false(d.signal.aborted);
});

test('the first estimate can be given before any transaction of the run', (t) => {
  const time = fakeTime();
  const end = time.clock() + 1000;
  const d = time.deadline(1000, 80);
  t.is(d.stopAt, end - 80);
  time.advance(919);
  t.false(d.signal.aborted);
  time.advance(1);
  t.true(d.signal.aborted);
});

test('dispose cancels the timer', (t) => {
  const time = fakeTime();
  const d = time.deadline(100);
  t.is(time.pending(), 1);
  d.dispose();
  t.is(time.pending(), 0);
  time.advance(200);
  t.false(d.signal.aborted);
});
