import { defineConfig } from "vitest/config";

// Number formatting follows the process locale; the expected strings in the tests are en-US. Test
// workers are forked after this runs and inherit it.
// (Typed locally: the project does not install @types/node.)
declare const process: { env: Record<string, string | undefined> };
process.env.LC_ALL = "en_US.UTF-8";

export default defineConfig({
  test: {
    environment: "jsdom",
    include: ["**/*.test.ts"],
    setupFiles: ["./testing/setup.ts"],
    pool: "forks",
    restoreMocks: true,
  },
});
