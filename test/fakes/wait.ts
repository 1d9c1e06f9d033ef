/**
 * Polls `probe` until it gives a truthy value and returns it; fails after `timeoutMs` with
 * `label` and the last value seen, so a test that waits on the wrong thing says what.
 */
export async function waitFor<T>(
  label: string,
  probe: () => T | Promise<T>,
  timeoutMs = 60_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${label}; last value: ${JSON.stringify(last)}`);
}
