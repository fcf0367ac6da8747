import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { COLOR_POLL_MS, watchColors } from "./sparkline";
import { useFakeClock } from "./testing/helpers";

describe("watchColors", () => {
  beforeEach(() => {
    document.body.replaceChildren();
    useFakeClock();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reads every view's colours in one timer and reports a view's change to that view", () => {
    const a = document.createElement("div");
    const b = document.createElement("div");
    document.body.append(a, b);
    a.style.setProperty("--rtw-accent", "red");
    const seen: string[] = [];
    const wa = watchColors(a, { "--rtw-accent": "#111" }, (v) => seen.push(`a ${v["--rtw-accent"]}`));
    const wb = watchColors(b, { "--rtw-accent": "#111" }, (v) => seen.push(`b ${v["--rtw-accent"]}`));
    // Read at once, the fallback while the property is unset.
    expect(wa.values).toEqual({ "--rtw-accent": "red" });
    expect(wb.values).toEqual({ "--rtw-accent": "#111" });
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(COLOR_POLL_MS);
    expect(seen).toEqual([]);
    b.style.setProperty("--rtw-accent", "blue");
    vi.advanceTimersByTime(COLOR_POLL_MS - 1);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual(["b blue"]);
    wa.stop();
    expect(vi.getTimerCount()).toBe(1);
    wb.stop();
    wb.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
