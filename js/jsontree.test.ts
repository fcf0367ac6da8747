import { describe, expect, it } from "vitest";
import { type JsonTreeState, jsonTree } from "./jsontree";

const entries = (el: Element) =>
  Array.from(el.querySelectorAll(":scope > .rtw-json-node > .rtw-json-children > .rtw-json-entry"));
const keyTexts = (el: Element) => entries(el).map((e) => e.firstElementChild!.textContent);
const toggleOf = (el: Element) => el.querySelector<HTMLButtonElement>(".rtw-json-toggle")!;

describe("jsonTree", () => {
  it("shows an object's entries in order with typed, quoted scalars", () => {
    const el = jsonTree({ b: "x", a: 1.5, t: true, n: null, nested: { deep: 1 }, list: [1, 2] });
    expect(keyTexts(el)).toEqual(["b", "a", "t", "n", "nested", "list"]);
    const values = entries(el).map((e) => e.lastElementChild!);
    expect(values.map((v) => v.className.split(" ")[0])).toEqual([
      "rtw-json-string",
      "rtw-json-number",
      "rtw-json-boolean",
      "rtw-json-null",
      "rtw-json-node",
      "rtw-json-node",
    ]);
    expect(values[0]!.textContent).toBe('"x"');
    expect(values[1]!.textContent).toBe("1.5");
    expect(values[3]!.textContent).toBe("null");
    // Below the first level nodes are closed and not built.
    expect(values[4]!.querySelector(".rtw-json-children")).toBeNull();
    // A closed object's size is not counted (that would cost as much as the object is large).
    expect(values[4]!.querySelector(".rtw-json-summary")!.textContent).toBe("{…}");
    expect(values[5]!.querySelector(".rtw-json-summary")!.textContent).toBe("[2 items]");
  });

  it("opens and closes nodes on click, building children only once opened", () => {
    const el = jsonTree({ inner: { x: [10, 20] } });
    const inner = entries(el)[0]!.lastElementChild!;
    const t = toggleOf(inner);
    expect(t.getAttribute("aria-expanded")).toBe("false");
    t.click();
    expect(t.getAttribute("aria-expanded")).toBe("true");
    expect(inner.querySelector(".rtw-json-summary")!.textContent).toBe("{1 key}");
    expect(inner.querySelector(".rtw-json-key")!.textContent).toBe("x");
    t.click();
    expect(inner.querySelector<HTMLElement>(".rtw-json-children")!.hidden).toBe(true);
  });

  it("treats __proto__, constructor and toString as plain fields", () => {
    const value = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": "c", "toString": 5, "<b>x</b>": "<img src=x onerror=alert(1)>"}');
    const el = jsonTree(value, { expandDepth: 2 });
    expect(keyTexts(el)).toEqual(["__proto__", "constructor", "toString", "<b>x</b>"]);
    expect(el.querySelector("img, b")).toBeNull();
    expect(entries(el)[3]!.lastElementChild!.textContent).toBe('"<img src=x onerror=alert(1)>"');
    const proto = entries(el)[0]!.lastElementChild!;
    expect(proto.querySelector(".rtw-json-key")!.textContent).toBe("polluted");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // A plain object with no such fields shows none of Object.prototype's.
    expect(keyTexts(jsonTree({ a: 1 }))).toEqual(["a"]);
  });

  it("cuts long strings and names, whole on title and on click", () => {
    const long = "s".repeat(50);
    const el = jsonTree({ [long]: long }, { maxChars: 10 });
    const [key, , value] = Array.from(entries(el)[0]!.children) as HTMLElement[];
    expect(key!.textContent).toBe(`${"s".repeat(10)}…`);
    expect(key!.title).toBe(long);
    expect(value!.textContent).toBe(`"${"s".repeat(10)}…"`);
    expect(value!.title).toBe(long);
    value!.click();
    expect(value!.textContent).toBe(`"${long}"`);
    value!.click();
    expect(value!.textContent).toBe(`"${"s".repeat(10)}…"`);
  });

  it("shows at most maxChildren entries and the rest on '… K more'", () => {
    const arr = Array.from({ length: 25 }, (_, i) => i);
    const el = jsonTree(arr, { maxChildren: 10 });
    expect(entries(el)).toHaveLength(10);
    const more = el.querySelector<HTMLButtonElement>(".rtw-json-more")!;
    expect(more.textContent).toBe("… 15 more");
    more.click();
    expect(entries(el)).toHaveLength(20);
    more.click();
    expect(entries(el)).toHaveLength(25);
    expect(more.hidden).toBe(true);
    expect(entries(el).map((e) => e.lastElementChild!.textContent).slice(-2)).toEqual(["23", "24"]);
  });

  it("a huge closed value costs one line", () => {
    const big: Record<string, number> = {};
    for (let i = 0; i < 50_000; i++) big[`k${i}`] = i;
    // Its names are never listed until it is opened.
    let listed = 0;
    const watched = new Proxy(big, {
      ownKeys(target) {
        listed++;
        return Reflect.ownKeys(target);
      },
    });
    const el = jsonTree({ big: watched }, { maxChildren: 50 });
    expect(listed).toBe(0);
    expect(el.querySelectorAll(".rtw-json-entry")).toHaveLength(1);
    expect(entries(el)[0]!.querySelector(".rtw-json-summary")!.textContent).toBe("{…}");
    toggleOf(entries(el)[0]!.lastElementChild!).click();
    expect(el.querySelectorAll(".rtw-json-entry")).toHaveLength(51);
    expect(listed).toBe(1);
    expect(entries(el)[0]!.querySelector(".rtw-json-summary")!.textContent).toBe("{50000 keys}");
  });

  it("keeps nodes the user opened open across renders through a shared state", () => {
    const state: JsonTreeState = new Map();
    const first = jsonTree({ a: { x: 1 } }, { state });
    toggleOf(entries(first)[0]!.lastElementChild!).click();
    const second = jsonTree({ a: { x: 2 } }, { state });
    const a = entries(second)[0]!.lastElementChild!;
    expect(toggleOf(a).getAttribute("aria-expanded")).toBe("true");
    expect(a.querySelector(".rtw-json-number")!.textContent).toBe("2");
    // Closing the root is kept too.
    toggleOf(second).click();
    expect(toggleOf(jsonTree({ a: 1 }, { state })).getAttribute("aria-expanded")).toBe("false");
  });

  it("shows scalars at the root, empty containers and cycles", () => {
    expect(jsonTree("hi").textContent).toBe('"hi"');
    expect(jsonTree(42).querySelector(".rtw-json-number")!.textContent).toBe("42");
    expect(jsonTree(undefined).textContent).toBe("undefined");
    expect(jsonTree([]).querySelector(".rtw-json-empty")!.textContent).toBe("empty array");
    const cyc: Record<string, unknown> = { a: 1 };
    cyc.self = cyc;
    const el = jsonTree(cyc, { expandDepth: 3 });
    expect(el.textContent).toContain("[circular]");
  });
});
