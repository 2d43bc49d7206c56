/**
 * What a module's repository returns. One interface per module serves both stores: the embedded SQLite one is
 * synchronous (`Io<'sync', T>` is `T`: no promise, no extra tick on the hot path), the PostgreSQL one is
 * asynchronous (`Io<'async', T>` is `Promise<T>`). A caller written for either awaits the result (awaiting a
 * plain value is harmless), so one behavioural test suite runs against both.
 */
export type Mode = 'sync' | 'async';
export type Io<M extends Mode, T> = M extends 'sync' ? T : Promise<T>;
